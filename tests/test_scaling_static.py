"""Static checks of the Kubernetes files we ship (deploy/kubernetes, docs/SCALING.md).

The chart values may only use keys upstream's charts define: tests/data/helm_chart_keys.json
holds every key path of each chart's values.yaml at the pinned chart version (taken from
github.com/VictoriaMetrics/helm-charts at the commit it names). Image tags are the pins of
versions.env; obs-mcp.env and collector-tenants.yaml point at the services those values
name, with the ports the charts listen on, and the collector config is what our generator
gives and what the collector binary accepts.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_mcp.config import Settings
from obs_mcp.stack.components import COLLECTOR, resolve_binary
from obs_mcp.stack.versions import pinned_versions
from obs_mcp.tenancy import Tenant, metrics_select
from tests.k8s_files import DEPLOY, collector_tenants_config, service

KEYS = json.loads((Path(__file__).parent / "data" / "helm_chart_keys.json").read_text())
FREE_MAPS = ("extraArgs",)  # maps of the binary's flags: any key
CHARTS = {
    "victoria-logs-cluster": ("VICTORIALOGS_VERSION", {"vlselect": 9471, "vlinsert": 9481}),
    "victoria-traces-cluster": ("VICTORIATRACES_VERSION", {"vtselect": 10471, "vtinsert": 10481}),
    "victoria-metrics-cluster": ("VICTORIAMETRICS_VERSION", {"vmselect": 8481, "vminsert": 8480}),
}
SCALING = Path(__file__).resolve().parent.parent / "docs" / "SCALING.md"


def values(chart: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / f"{chart}.values.yaml").read_text())
    return loaded


def key_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out.append(path)
        if isinstance(value, dict) and key not in FREE_MAPS:
            out += key_paths(value, f"{path}.")
    return out


@pytest.mark.parametrize("chart", CHARTS)
def test_values_use_only_keys_the_chart_defines(chart: str) -> None:
    known = set(KEYS["charts"][chart]["keys"])
    unknown = [path for path in key_paths(values(chart)) if path not in known]
    assert not unknown, f"{chart} {KEYS['charts'][chart]['version']} has no {unknown}"


@pytest.mark.parametrize("chart", CHARTS)
def test_values_pin_the_stacks_versions_and_the_chart_version(chart: str) -> None:
    version_key, frontends = CHARTS[chart]
    tree = values(chart)
    for component, settings in tree.items():
        assert settings["image"]["tag"] == pinned_versions()[version_key], (chart, component)
    for name in frontends:
        assert tree[name]["fullnameOverride"] == name  # the service names the env files use
    text = (DEPLOY / f"{chart}.values.yaml").read_text()
    assert f"--version {KEYS['charts'][chart]['version']}" in text
    assert f"vm/{chart} --version {KEYS['charts'][chart]['version']}" in SCALING.read_text()


def test_obs_mcp_env_reaches_the_select_services_with_the_tenant() -> None:
    lines = (DEPLOY / "obs-mcp.env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    settings = Settings.from_env(env)
    tenant = Tenant(7, 1)
    assert settings.logs.url == service("vlselect", CHARTS["victoria-logs-cluster"][1]["vlselect"])
    assert settings.traces.url == service(
        "vtselect", CHARTS["victoria-traces-cluster"][1]["vtselect"]
    )
    vmselect = service("vmselect", CHARTS["victoria-metrics-cluster"][1]["vmselect"])
    assert settings.metrics.url == metrics_select(vmselect, tenant)[0]
    for store in (settings.logs, settings.traces):
        assert store.request_headers() == tenant.headers()


def test_collector_config_is_the_generated_one_and_reaches_the_insert_services() -> None:
    shipped = yaml.safe_load((DEPLOY / "collector-tenants.yaml").read_text())
    assert shipped == collector_tenants_config()
    endpoints = [
        value
        for exporter in shipped["exporters"].values()
        for key, value in exporter.items()
        if key.endswith("_endpoint")
    ]
    hosts = {re.sub(r"^http://([^/]+)/.*", r"\1", url) for url in endpoints}
    assert hosts == {
        "vlinsert.observability.svc:9481",
        "vtinsert.observability.svc:10481",
        "vminsert.observability.svc:8480",
    }


def test_the_collector_binary_accepts_the_shipped_config() -> None:
    binary = resolve_binary(COLLECTOR)
    if binary is None:
        pytest.skip("collector binary not built: `obs-mcp stack install`")
    done = subprocess.run(
        [str(binary.path), "validate", f"--config={DEPLOY / 'collector-tenants.yaml'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_scaling_doc_shows_the_files_we_ship() -> None:
    text = SCALING.read_text()
    for path in sorted(DEPLOY.iterdir()):
        assert f"deploy/kubernetes/{path.name}" in text, path.name
