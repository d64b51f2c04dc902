"""`obs-mcp report`: one self-contained HTML file on a service's window or before/after pair.

Needs the optional `report` extra (matplotlib): `uv sync --extra report` or
`pip install 'obs-mcp[report]'`.
"""

from __future__ import annotations

from pathlib import Path

from obs_mcp.core.backends import Backends
from obs_mcp.errors import ObsError
from obs_mcp.report.gather import Sides, gather_report

INSTALL_HINT = (
    "`obs-mcp report` draws with matplotlib, an optional extra: install it with "
    "`uv sync --extra report` (in this repo) or `pip install 'obs-mcp[report]'`"
)


class ReportUnavailable(ObsError):
    """The plotting library is not installed."""


async def write_report(
    backends: Backends,
    service: str,
    path: str | Path,
    *,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
    current_start: str | None = None,
    current_end: str | None = None,
    baseline_run: str | None = None,
    current_run: str | None = None,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    operation: str | None = None,
) -> Path:
    """Write the report to `path` and return it (absolute). A pair as compare_runs takes it
    (baseline_*/current_* times, or run ids), else one window (since or start/end)."""
    try:
        from obs_mcp.report.page import render_page
    except ImportError as exc:
        raise ReportUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    sides = Sides(baseline_start, baseline_end, current_start, current_end, baseline_run,
                  current_run, since, start, end)  # fmt: skip
    data = await gather_report(backends, service, sides, operation)
    return _save(Path(path), render_page(data))


def _save(path: Path, page: str) -> Path:
    target = path.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


__all__ = ["INSTALL_HINT", "ReportUnavailable", "write_report"]
