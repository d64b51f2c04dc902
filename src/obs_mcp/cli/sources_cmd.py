"""`obs-mcp stack sources`: what the sources file names, and whether each source delivers."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
from rich.table import Table

from obs_mcp.cli.console import make_console
from obs_mcp.cli.outcome import OK, PROBLEM
from obs_mcp.config import Settings
from obs_mcp.core.backends import open_backends
from obs_mcp.core.sources_status import SourceStatus, source_statuses
from obs_mcp.errors import StoreError
from obs_mcp.stack.runner import Stack
from obs_mcp.stack.sources import (
    COLLECTOR_CONFIG,
    Sources,
    load_sources,
    native_fragment,
    sources_path,
    write_scrape_targets,
)
from obs_mcp.stack.sources_compose import render_compose

out = make_console()
EXAMPLE = """\
[[file]]
path = "/var/log/shop/app.log"   # a file or glob; plain or JSON lines
service = "shop"

[[scrape]]
target = "127.0.0.1:9100"        # host:port serving Prometheus text
service = "shop"
path = "/metrics"
"""


def run(stack: Stack, compose_dir: Path | None) -> int:
    path = sources_path(stack.settings.state_dir)
    sources = load_sources(path)
    if compose_dir is not None:
        override = render_compose(sources, compose_dir)
        out.print(
            f"rendered {path} for compose into {override.parent}; start with:", highlight=False
        )
        print(f"  docker compose -f compose/docker-compose.yml -f {override} up -d")
        return OK
    if not sources.files and not sources.scrape:
        out.print(
            f"No sources in {path} (set OBS_MCP_SOURCES to use another file). Example:\n",
            highlight=False,
        )
        print(EXAMPLE)
        return OK
    for note in _apply(stack, sources):
        out.print(note, highlight=False)
    try:
        statuses = anyio.run(_statuses, stack, sources)
    except StoreError as exc:
        out.print(f"[red]cannot check delivery:[/] {exc}", highlight=False)
        return PROBLEM
    table = Table(title=f"sources ({path})")
    for column in ("kind", "service", "source", "delivering", "detail"):
        table.add_column(column)
    for s in statuses:
        mark = "[green]yes[/]" if s.delivering else "[red]no[/]"
        table.add_row(s.kind, s.service, s.source, mark, s.detail)
    out.print(table)
    return OK if all(s.delivering for s in statuses) else PROBLEM


def _apply(stack: Stack, sources: Sources) -> list[str]:
    """Scrape targets apply live (VictoriaMetrics re-reads them); file sources need the
    collector restarted, which this says rather than does."""
    rendered = stack.settings.sources_dir
    write_scrape_targets(sources, rendered)
    wanted = native_fragment(sources, rendered)
    config = rendered / COLLECTOR_CONFIG
    running = json.loads(config.read_text()) if config.is_file() else None
    if wanted == running:
        return []
    return [
        "File sources changed since `obs-mcp stack up`: restart the stack to apply them "
        "(`obs-mcp stack down && obs-mcp stack up`; the offsets are kept, no line is re-sent)."
    ]


async def _statuses(stack: Stack, sources: Sources) -> list[SourceStatus]:
    async with open_backends(Settings.from_env(stack.settings.store_env())) as backends:
        return await source_statuses(backends, sources)
