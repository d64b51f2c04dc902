"""The stack's own collector config, fanned out per tenant: how a collector routes tenants.

The stack's collector (OTLP receiver, memory_limiter + batch, one otlp_http exporter per
store) has no routing connector, so tenants are routed by entry point: one OTLP receiver
per tenant (its own port), and per tenant a copy of every exporter that sends that tenant's
AccountID / ProjectID headers (logs, traces) or writes to that tenant's metrics URL. The
copies keep the stack's queue, retry and compression settings as they are.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from obs_mcp.stack.versions import collector_config_path
from obs_mcp.tenancy import Tenant, logs_insert_url, metrics_insert_url, traces_insert_url

SIGNALS = {"logs": "victorialogs", "traces": "victoriatraces", "metrics": "victoriametrics"}


@dataclass(frozen=True)
class TenantRoute:
    tenant: Tenant
    http_endpoint: str  # host:port of this tenant's OTLP/HTTP receiver
    grpc_endpoint: str
    metrics_url: str  # a single node per tenant, or a vminsert root (then the tenant path)
    metrics_in_path: bool = False


def stack_collector_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(collector_config_path().read_text())
    return config


def tenant_collector_config(
    routes: list[TenantRoute],
    logs_insert: str,
    traces_insert: str,
    metrics_host: str,
    metrics_port: int,
) -> dict[str, Any]:
    """A complete collector config: per tenant a receiver, three exporters, three pipelines."""
    base = stack_collector_config()
    receiver = base["receivers"]["otlp"]
    config: dict[str, Any] = {
        "receivers": {},
        "processors": base["processors"],
        "exporters": {},
        "service": copy.deepcopy(base["service"]),
    }
    prometheus = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    prometheus["prometheus"].update(host=metrics_host, port=metrics_port)
    pipelines: dict[str, Any] = {}
    for route in routes:
        suffix = f"t{route.tenant.account_id}_{route.tenant.project_id}"
        own = copy.deepcopy(receiver)
        own["protocols"]["http"]["endpoint"] = route.http_endpoint
        own["protocols"]["grpc"]["endpoint"] = route.grpc_endpoint
        config["receivers"][f"otlp/{suffix}"] = own
        for signal, store in SIGNALS.items():
            exporter = copy.deepcopy(base["exporters"][f"otlp_http/{store}"])
            key = f"{signal}_endpoint"
            if signal == "metrics":
                tenant = route.tenant if route.metrics_in_path else None
                exporter[key] = metrics_insert_url(route.metrics_url, tenant)
            else:
                insert = logs_insert_url if signal == "logs" else traces_insert_url
                exporter[key] = insert(logs_insert if signal == "logs" else traces_insert)
                exporter["headers"] = route.tenant.headers()
            name = f"otlp_http/{store}_{suffix}"
            config["exporters"][name] = exporter
            template = base["service"]["pipelines"][signal]
            pipelines[f"{signal}/{suffix}"] = {
                **template,
                "receivers": [f"otlp/{suffix}"],
                "exporters": [name],
            }
    config["service"]["pipelines"] = pipelines
    return config
