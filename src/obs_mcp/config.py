"""Where the stores are and how to reach them; read once from the environment.

VL_URL / VM_URL / VT_URL (the names the seed scripts used) plus, per store prefix
VL_ / VM_ / VT_: *_BEARER_TOKEN, *_HEADERS ("Name: value; Name2: value2"),
*_ACCOUNT_ID / *_PROJECT_ID (cluster tenants: headers for VictoriaLogs and VictoriaTraces,
the vmselect path `/select/<a>:<p>/prometheus` appended to VM_URL for VictoriaMetrics; see
tenancy.py). OBS_MCP_TIMEOUT (seconds) bounds
every store call. OBS_MCP_GRAFANA_URL (the compose Grafana, http://127.0.0.1:3000) adds a
Grafana Explore trace link to answers; without it links go to the stores' own UIs only.
OBS_MCP_FORCE_FLUSH_KEY (or OBS_MCP_FORCE_FLUSH_KEY_FILE, the file `obs-mcp stack env` names)
and OBS_MCP_FORCE_FLUSH_URLS (comma-separated; default: the native/compose loopback URLs) let
the tools flush that stack's stores before a query of the last seconds (clients/flush.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from obs_mcp.errors import InvalidArgument
from obs_mcp.tenancy import SELECT, Tenant, tenant_from

# VictoriaLogs, VictoriaMetrics, VictoriaTraces on the native stack's and compose's ports
DEFAULT_URLS = ("http://127.0.0.1:9428", "http://127.0.0.1:8428", "http://127.0.0.1:10428")


class StoreConfig(BaseModel):
    name: str
    url: str
    bearer_token: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    account_id: str | None = None
    project_id: str | None = None
    env_prefix: str = ""  # VL / VM / VT: names the settings in hints
    tenant_headers: dict[str, str] = Field(default_factory=dict)  # where its cluster wants them

    @property
    def tenant(self) -> Tenant | None:
        return tenant_from(self.account_id, self.project_id, self.env_prefix or "store")

    def request_headers(self) -> dict[str, str]:
        """Headers sent on every request; secrets leave the SecretStr only here."""
        out = {key: value.get_secret_value() for key, value in self.headers.items()}
        if self.bearer_token is not None:
            out["Authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        out.update(self.tenant_headers)
        return out


class Settings(BaseModel):
    logs: StoreConfig
    metrics: StoreConfig
    traces: StoreConfig
    timeout_s: float = 15.0
    collector_metrics_url: str = "http://127.0.0.1:8888/metrics"
    max_response_bytes: int = 8 * 1024 * 1024
    grafana_url: str | None = None
    force_flush_key: SecretStr | None = None
    force_flush_urls: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def store(prefix: str, name: str, default_url: str) -> StoreConfig:
            token = env.get(f"{prefix}_BEARER_TOKEN")
            config = StoreConfig(
                name=name,
                url=env.get(f"{prefix}_URL", default_url).rstrip("/"),
                bearer_token=SecretStr(token) if token else None,
                headers={k: SecretStr(v) for k, v in _parse_headers(env.get(f"{prefix}_HEADERS"))},
                account_id=env.get(f"{prefix}_ACCOUNT_ID"),
                project_id=env.get(f"{prefix}_PROJECT_ID"),
                env_prefix=prefix,
            )
            try:  # a bad tenant id is a sentence at start-up
                config.url, config.tenant_headers = SELECT[prefix](config.url, config.tenant)
            except ValueError as exc:
                raise InvalidArgument(f"{name}: {exc}") from None
            return config

        return cls(
            logs=store("VL", "VictoriaLogs", DEFAULT_URLS[0]),
            metrics=store("VM", "VictoriaMetrics", DEFAULT_URLS[1]),
            traces=store("VT", "VictoriaTraces", DEFAULT_URLS[2]),
            timeout_s=float(env.get("OBS_MCP_TIMEOUT", "15")),
            collector_metrics_url=env.get(
                "OBS_MCP_COLLECTOR_METRICS_URL", "http://127.0.0.1:8888/metrics"
            ),
            grafana_url=env.get("OBS_MCP_GRAFANA_URL") or None,
            force_flush_key=_flush_key(env),
            force_flush_urls=frozenset(
                normalize_url(url)
                for url in env.get("OBS_MCP_FORCE_FLUSH_URLS", ",".join(DEFAULT_URLS)).split(",")
                if url.strip()
            ),
        )


def _parse_headers(raw: str | None) -> list[tuple[str, str]]:
    if not raw:
        return []
    pairs = []
    for part in raw.split(";"):
        name, sep, value = part.partition(":")
        if sep and name.strip():
            pairs.append((name.strip(), value.strip()))
    return pairs


def _flush_key(env: Mapping[str, str]) -> SecretStr | None:
    """The stack's force-flush key: given as is, or read from the (0600) file the stack keeps."""
    if key := env.get("OBS_MCP_FORCE_FLUSH_KEY", "").strip():
        return SecretStr(key)
    if path := env.get("OBS_MCP_FORCE_FLUSH_KEY_FILE"):
        try:
            key = Path(path).read_text().strip()
        except OSError:
            return None  # a stack that was wiped: no flushes, every answer still right
        return SecretStr(key) if key else None
    return None


def normalize_url(url: str) -> str:
    """Scheme and host lowercased, no trailing slash: how flush scopes compare URLs."""
    scheme, sep, rest = url.strip().rstrip("/").partition("://")
    if not sep:
        return url.strip()
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"
