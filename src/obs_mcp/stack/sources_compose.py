"""The sources file for compose: a compose override that mounts what the containers need.

Compose cannot read sources.toml itself, so `obs-mcp stack sources --compose DIR` renders
the same collector config and scrape targets native mode uses, with container paths, plus
an override file; `docker compose -f compose/docker-compose.yml -f DIR/<OVERRIDE> up -d`
runs the stack with them. The collector image (contrib, scratch, user 10001; see
compose/images.toml) reads each tailed file's directory read-only from a bind mount and
keeps its offsets in DIR/offsets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from obs_mcp.stack.sources import Sources, collector_fragment, scrape_targets, write_json

OVERRIDE = "docker-compose.sources.json"
COLLECTOR_CONFIG = "/etc/otelcol/sources.json"
SCRAPE_TARGETS = "/etc/victoriametrics/scrape-targets.json"
OFFSETS = "/sources/offsets"
DOCKER_HOST = "host.docker.internal"  # the host, from a container (extra_hosts below)
_GLOB = re.compile(r"[*?\[]")
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


def static_dir(pattern: str) -> str:
    """The deepest directory of a path or glob that has no glob character: what to mount."""
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next((i for i, p in enumerate(parts) if _GLOB.search(p)), None)]]
    if len(fixed) == len(parts):
        fixed = fixed[:-1]  # a plain file: its directory
    return str(Path(*fixed))


def from_container(target: str) -> str:
    """A loopback scrape target as the VictoriaMetrics container reaches the host."""
    host, _, port = target.rpartition(":")
    return f"{DOCKER_HOST}:{port}" if host in _LOOPBACK else target


def render_compose(sources: Sources, out_dir: Path) -> Path:
    """Write the collector config, scrape targets and the override into out_dir; return
    the override's path."""
    out = out_dir.absolute()
    out.mkdir(parents=True, exist_ok=True)
    mounts: dict[str, str] = {}  # host dir -> container dir
    path_of: dict[str, str] = {}
    for source in sources.files:
        host_dir = static_dir(source.path)
        inside = mounts.setdefault(host_dir, f"/sources/files/{len(mounts)}")
        path_of[source.path] = inside + source.path[len(host_dir.rstrip("/")) :]
    collector: dict[str, Any] = {}
    fragment = collector_fragment(sources, OFFSETS, path_of)
    if fragment is not None:
        write_json(out / "collector.json", fragment)
        offsets = out / "offsets"
        offsets.mkdir(exist_ok=True)
        offsets.chmod(0o777)  # the collector runs as uid 10001, not as the host's user
        collector = {
            "command": [
                "--config=/etc/otelcol/config.yaml",
                f"--config={COLLECTOR_CONFIG}",
            ],
            "volumes": [
                _bind(out / "collector.json", COLLECTOR_CONFIG),
                {"type": "bind", "source": str(offsets), "target": OFFSETS},
                *(_bind(Path(host), inside) for host, inside in mounts.items()),
            ],
        }
    targets = scrape_targets(sources)
    for group in targets:
        group["targets"] = [from_container(t) for t in group["targets"]]
    write_json(out / "scrape-targets.json", targets)
    services: dict[str, Any] = {
        "victoriametrics": {
            "volumes": [_bind(out / "scrape-targets.json", SCRAPE_TARGETS)],
            "extra_hosts": [f"{DOCKER_HOST}:host-gateway"],
        }
    }
    if collector:
        services["otel-collector"] = collector
    return write_json(out / OVERRIDE, {"services": services})


def _bind(source: Path, target: str) -> dict[str, Any]:
    return {"type": "bind", "source": str(source), "target": target, "read_only": True}
