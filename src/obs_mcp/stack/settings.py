"""Where one native stack lives: its ports, host, state dir and the URLs derived from them."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from obs_mcp.stack import procs


@dataclass
class StackPorts:
    """Every port the stack binds; all configurable so tests run isolated stacks side by side."""

    victoriametrics: int = 8428
    victorialogs: int = 9428
    victoriatraces: int = 10428
    otlp_grpc: int = 4317
    otlp_http: int = 4318
    collector_metrics: int = 8888
    vt_backend: int = 10429  # vt-compat only: the VictoriaLogs that holds spans

    @classmethod
    def from_env(cls) -> StackPorts:
        ports = cls()
        for name in asdict(ports):
            if value := os.environ.get(f"OBS_MCP_PORT_{name.upper()}"):
                setattr(ports, name, int(value))
        return ports

    @classmethod
    def free(cls, host: str = "127.0.0.1") -> StackPorts:
        return cls(**{name: procs.free_port(host) for name in asdict(cls())})


def default_state_dir() -> Path:
    if explicit := os.environ.get("OBS_MCP_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "obs-mcp"


@dataclass
class StackSettings:
    state_dir: Path = field(default_factory=default_state_dir)
    ports: StackPorts = field(default_factory=StackPorts.from_env)
    host: str = "127.0.0.1"
    # Throwaway stacks (tests, benchmarks) end with the process that started them, even
    # when it is killed; a user's stack (`obs-mcp stack up`) must outlive the CLI.
    die_with_parent: bool = False

    @property
    def vm_url(self) -> str:
        return f"http://{self.host}:{self.ports.victoriametrics}"

    @property
    def vl_url(self) -> str:
        return f"http://{self.host}:{self.ports.victorialogs}"

    @property
    def vt_url(self) -> str:
        return f"http://{self.host}:{self.ports.victoriatraces}"

    @property
    def vt_backend_url(self) -> str:
        return f"http://{self.host}:{self.ports.vt_backend}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://{self.host}:{self.ports.otlp_http}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"{self.host}:{self.ports.otlp_grpc}"

    @property
    def collector_metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports.collector_metrics}/metrics"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def sources_dir(self) -> Path:
        """What `stack up` renders from the sources file (stack/sources.py), absolute."""
        return (self.state_dir / "sources").absolute()

    @property
    def flush_key_file(self) -> Path:
        """The stores' -forceFlushAuthKey (flushkey.py); absolute, as a file:// flag needs."""
        return (self.state_dir / "force-flush.key").absolute()

    @property
    def store_urls(self) -> tuple[str, str, str]:
        return (self.vl_url, self.vm_url, self.vt_url)

    def store_env(self) -> dict[str, str]:
        """Env vars that point obs-mcp's MCP server and an OTel SDK at this stack."""
        return {
            "VM_URL": self.vm_url,
            "VL_URL": self.vl_url,
            "VT_URL": self.vt_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_http_url,
            "OBS_MCP_COLLECTOR_METRICS_URL": self.collector_metrics_url,
            **self.flush_env(),
        }

    def flush_env(self) -> dict[str, str]:
        """The key file (a path, never the key) and the URLs it may flush (clients/flush.py)."""
        return {
            "OBS_MCP_FORCE_FLUSH_KEY_FILE": str(self.flush_key_file),
            "OBS_MCP_FORCE_FLUSH_URLS": ",".join(self.store_urls),
        }
