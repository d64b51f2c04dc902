"""Why a multi-tenant store answers empty: the tenant asked holds nothing, others do.

Asked only after an empty answer, with one cheap call (`/select/tenant_ids`); a store or
proxy that refuses it still gets a sentence naming the tenant that was used.
"""

from __future__ import annotations

from collections.abc import Sequence

from obs_mcp.clients.base import display_url
from obs_mcp.clients.logsql import LogsQLClient
from obs_mcp.config import StoreConfig
from obs_mcp.tenancy import vm_url_tenant
from obs_mcp.timeparse import Window

LISTED = 10


async def tenant_hint(client: LogsQLClient, window: Window) -> str | None:
    """A sentence when the configured tenant (or the default 0:0) has no data in the window
    while other tenants do; None when the tenant is not the reason."""
    config = client.config
    tenant = config.tenant
    used = str(tenant) if tenant is not None else "0:0"
    settings = f"{config.env_prefix}_ACCOUNT_ID/{config.env_prefix}_PROJECT_ID"
    with_data = await client.tenant_ids(window)
    if with_data is None:
        if tenant is None:
            return None
        return (
            f"{config.name} was asked as tenant {used} ({settings}); if the data was written "
            "under another tenant, set those to it."
        )
    if used in with_data or not with_data:
        return None
    listed = ", ".join(with_data[:LISTED]) + (" ..." if len(with_data) > LISTED else "")
    asked = (
        f"tenant {used} ({settings})" if tenant else f"the default tenant 0:0 ({settings} unset)"
    )
    return (
        f"{config.name} holds no data for {asked} in {window.describe()}; tenants with data "
        f"then: {listed}. Set {settings} to the tenant the collector writes to."
    )


async def tenant_hints(clients: Sequence[LogsQLClient], window: Window) -> str:
    """The hints of every store whose tenant explains an empty answer, joined ('' if none)."""
    hints = [hint for client in clients if (hint := await tenant_hint(client, window))]
    return " ".join(hints)


def metrics_tenant_note(config: StoreConfig) -> str | None:
    """For an empty PromQL answer from a VictoriaMetrics cluster: the tenant its URL names.
    (A single node has no tenants; vmselect answers an empty tenant with no series at all.)"""
    tenant = vm_url_tenant(config.url)
    if tenant is None:
        return None
    return (
        f"{config.name} was asked as tenant {tenant} ({config.env_prefix}_URL={display_url(config.url)}); "
        f"if the metrics were written under another tenant, set {config.env_prefix}_ACCOUNT_ID/"
        f"{config.env_prefix}_PROJECT_ID (or the URL's /select/<tenant>/ path) to it."
    )
