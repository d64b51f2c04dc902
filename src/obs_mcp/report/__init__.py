"""`obs-mcp report`: one self-contained HTML file on a service's window or before/after pair.

Needs the optional `report` extra (matplotlib): `uv sync --extra report` or
`pip install 'obs-mcp[report]'`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from obs_mcp.config import Settings
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.errors import ObsError
from obs_mcp.report.gather import Sides, gather_report

INSTALL_HINT = (
    "`obs-mcp report` draws with matplotlib, an optional extra: install it with "
    "`uv sync --extra report` (in this repo) or `pip install 'obs-mcp[report]'`"
)


class ReportUnavailable(ObsError):
    """The plotting library is not installed."""


async def write_report(
    backends: Backends, service: str, path: str | Path, sides: Sides, operation: str | None = None
) -> Path:
    """Write the report to `path` and return it (absolute). `sides`: a pair as compare_runs
    takes it (baseline_*/current_* times and/or run ids), else one window (since or start/end)."""
    try:
        from obs_mcp.report.page import render_page
    except ImportError as exc:
        raise ReportUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    data = await gather_report(backends, service, sides, operation)
    return _save(Path(path), render_page(data))


@dataclass(frozen=True)
class Run:
    """One workload run: its window (RFC3339) and its run.id."""

    start: str
    end: str
    run_id: str


async def write_demo_report(
    store_env: Mapping[str, str], service: str, before: Run, after: Run, path: Path
) -> Path:
    """The demo's before/after report on the stack `store_env` points at (VL_URL, VM_URL,
    VT_URL): both runs by run id, each within its own window, so the trends show the run
    and not the 24 h a run id alone would span."""
    async with open_backends(Settings.from_env(store_env)) as backends:
        pair = Sides(
            baseline_start=before.start, baseline_end=before.end, baseline_run=before.run_id,
            current_start=after.start, current_end=after.end, current_run=after.run_id,
        )  # fmt: skip
        return await write_report(backends, service, path, pair)


def _save(path: Path, page: str) -> Path:
    target = path.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


__all__ = ["INSTALL_HINT", "ReportUnavailable", "Run", "Sides", "write_demo_report", "write_report"]
