"""Where each store's cluster expects the tenant: one function per store and direction.

A tenant is (AccountID, ProjectID), two uint32s. VictoriaLogs and VictoriaTraces take it
as `AccountID` / `ProjectID` request headers on the same paths as their single nodes
(vlselect / vtselect serve `/select/logsql/*`, vlinsert / vtinsert the `/insert/...`
paths); VictoriaMetrics' cluster puts it in the URL (`/select/<a>:<p>/prometheus/...` on
vmselect, `/insert/<a>:<p>/<suffix>` on vminsert). Sources: VictoriaLogs
docs/victorialogs/README.md#multitenancy, VictoriaTraces docs data-ingestion "HTTP headers",
VictoriaMetrics docs/victoriametrics/Cluster-VictoriaMetrics.md#url-format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ID = 2**32 - 1
_VM_TENANT_PATH = re.compile(r"/(select|insert)/(\d+(?::\d+)?|multitenant)(/|$)")


@dataclass(frozen=True)
class Tenant:
    account_id: int
    project_id: int = 0

    def __str__(self) -> str:
        return f"{self.account_id}:{self.project_id}"

    @property
    def vm_path(self) -> str:
        """VictoriaMetrics' tenant path element: `<a>` when the project is 0, else `<a>:<p>`
        (the cluster docs write `/select/0/prometheus`, and `accountID:projectID`)."""
        return str(self.account_id) if self.project_id == 0 else str(self)

    def headers(self) -> dict[str, str]:
        return {"AccountID": str(self.account_id), "ProjectID": str(self.project_id)}


def parse_id(value: str, setting: str) -> int:
    """A tenant id from a setting, or a sentence naming the setting and the accepted form."""
    text = value.strip()
    if not text.isdigit() or int(text) > MAX_ID:
        raise ValueError(
            f"{setting}={value!r} is not a tenant id: use an integer 0..{MAX_ID} "
            "(the AccountID/ProjectID the data was written with)"
        )
    return int(text)


def tenant_from(account: str | None, project: str | None, prefix: str) -> Tenant | None:
    """The tenant set by `<prefix>_ACCOUNT_ID` / `<prefix>_PROJECT_ID`; None when neither is."""
    if account is None and project is None:
        return None
    return Tenant(
        parse_id(account or "0", f"{prefix}_ACCOUNT_ID"),
        parse_id(project or "0", f"{prefix}_PROJECT_ID"),
    )


def vm_url_tenant(url: str) -> str | None:
    """The tenant a vmselect URL's path names (`/select/<a>[:<p>]/prometheus`), if any."""
    found = _VM_TENANT_PATH.search(url)
    return found[2] if found and found[1] == "select" else None


Select = tuple[str, dict[str, str]]  # (base URL the API paths go under, tenant headers)


def metrics_select(url: str, tenant: Tenant | None) -> Select:
    """VictoriaMetrics: the base `/api/v1/query` etc. are appended to.

    No tenant: the URL as given (a single node, or a vmselect URL that already carries
    `/select/<tenant>/prometheus`). A tenant: the vmselect root plus its tenant path; no
    headers (vmselect ignores them when the path names the tenant).
    """
    base = url.rstrip("/")
    if tenant is None:
        return base, {}
    if _VM_TENANT_PATH.search(base):
        raise ValueError(
            f"VM_URL={url!r} already names a tenant path; set VM_ACCOUNT_ID/VM_PROJECT_ID "
            "or the path, not both"
        )
    return f"{base}/select/{tenant.vm_path}/prometheus", {}


def logs_select(url: str, tenant: Tenant | None) -> Select:
    """VictoriaLogs: vlselect serves `/select/logsql/*` as a single node does; the tenant
    goes in headers."""
    return url.rstrip("/"), tenant.headers() if tenant else {}


def traces_select(url: str, tenant: Tenant | None) -> Select:
    """VictoriaTraces: vtselect serves `/select/logsql/*` and `/select/jaeger/api/*` as a
    single node does; the tenant goes in headers."""
    return url.rstrip("/"), tenant.headers() if tenant else {}


SELECT = {"VL": logs_select, "VM": metrics_select, "VT": traces_select}


def metrics_insert_url(url: str, tenant: Tenant | None) -> str:
    """OTLP metrics endpoint: a single node's, or vminsert's for the tenant."""
    base = url.rstrip("/")
    if tenant is None:
        return f"{base}/opentelemetry/v1/metrics"
    return f"{base}/insert/{tenant.vm_path}/opentelemetry/v1/metrics"


def logs_insert_url(url: str) -> str:
    """OTLP logs endpoint of a VictoriaLogs node or vlinsert (the tenant goes in headers)."""
    return f"{url.rstrip('/')}/insert/opentelemetry/v1/logs"


def traces_insert_url(url: str) -> str:
    """OTLP traces endpoint of a VictoriaTraces node or vtinsert (tenant in headers)."""
    return f"{url.rstrip('/')}/insert/opentelemetry/v1/traces"
