"""Where the stores are and how to reach them; read once from the environment.

VL_URL / VM_URL / VT_URL (the names the seed scripts used) plus, per store prefix
VL_ / VM_ / VT_: *_BEARER_TOKEN, *_HEADERS ("Name: value; Name2: value2"),
*_ACCOUNT_ID / *_PROJECT_ID (cluster tenants: headers for VictoriaLogs and VictoriaTraces,
the vmselect path `/select/<a>:<p>/prometheus` appended to VM_URL for VictoriaMetrics; see
tenancy.py). OBS_MCP_TIMEOUT (seconds) bounds
every store call. OBS_MCP_GRAFANA_URL (the compose Grafana, http://127.0.0.1:3000) adds a
Grafana Explore trace link to answers; without it links go to the stores' own UIs only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, SecretStr

from obs_mcp.errors import InvalidArgument
from obs_mcp.tenancy import SELECT, Tenant, tenant_from


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
            logs=store("VL", "VictoriaLogs", "http://127.0.0.1:9428"),
            metrics=store("VM", "VictoriaMetrics", "http://127.0.0.1:8428"),
            traces=store("VT", "VictoriaTraces", "http://127.0.0.1:10428"),
            timeout_s=float(env.get("OBS_MCP_TIMEOUT", "15")),
            collector_metrics_url=env.get(
                "OBS_MCP_COLLECTOR_METRICS_URL", "http://127.0.0.1:8888/metrics"
            ),
            grafana_url=env.get("OBS_MCP_GRAFANA_URL") or None,
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
