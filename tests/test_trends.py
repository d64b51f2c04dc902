"""Terminal trends as a person reads them: rendered to text at 80 columns, on real figures."""

from __future__ import annotations

import io

import anyio
import pytest
from rich.console import Console

from obs_mcp.cli import main as cli_main
from obs_mcp.cli.analysis_cmd import watch_view
from obs_mcp.cli.trends import BAR, compare_lines, sparkline
from obs_mcp.core.backends import open_backends
from obs_mcp.core.compare import compare_runs
from obs_mcp.models import CompareResult
from obs_mcp.timeparse import from_unix_nanos, rfc3339
from tests.picture_telemetry import POST, S, Trend

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]
MINUTE = 60 * S


def at(ns: int) -> str:
    return rfc3339(from_unix_nanos(ns))


def as_text(renderable: object, width: int = 80) -> str:
    """What a pipe receives: no terminal, no colour."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None).print(renderable)
    return buffer.getvalue()


def test_sparkline_scales_to_the_peak_and_leaves_nothing_blank_but_zero() -> None:
    assert sparkline([0, 1, 2, 4, None]) == " ▃▅█ "
    assert sparkline([3, 3]) == "██"
    assert sparkline([0, 0]) == "  "


async def test_watch_view_draws_each_operation_at_80_columns(trend: Trend) -> None:
    async with open_backends() as backends:
        view = await watch_view(backends, trend.service, "30m", width=80)
    text = as_text(view)
    assert "\x1b" not in text
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("trends, 60s buckets")))
    trends = lines[start:]
    assert all(len(line) <= 80 for line in trends), [line for line in trends if len(line) > 80]
    # requests land in the minutes the plan put them in; errors only in the baseline's
    minutes = {(b.start + S) // MINUTE for b in trend.buckets}
    failing = {(b.start + S) // MINUTE for b in trend.buckets if b.errors}
    total = sum(b.requests for b in trend.buckets)
    errors = sum(b.errors for b in trend.buckets)
    assert trends[1] == f"ALL  {total} requests, {errors} errors ({errors / total * 100:.1f}%)"
    requests_line, errors_line, p95_line = trends[2:5]
    spark = requests_line[len("  requests ") :].split("  max")[0]
    assert sum(c != " " for c in spark) == len(minutes)
    assert sum(c != " " for c in errors_line[len("    errors ") :].split("  max")[0]) == len(
        failing
    )
    per_minute = [
        sum(b.errors for b in trend.buckets if (b.start + S) // MINUTE == m) for m in failing
    ]
    assert errors_line.endswith(f"max {max(per_minute)}")
    assert p95_line.startswith("    p95 ms ")
    post = trends.index(next(line for line in trends if line.startswith(POST)))
    assert trends[post + 2].startswith("    errors ")


def test_compare_bars_side_by_side(trend: Trend, capsys: pytest.CaptureFixture[str]) -> None:
    (b0, b1), (c0, c1) = trend.baseline, trend.current

    async def compared() -> CompareResult:
        async with open_backends() as backends:
            return await compare_runs(backends, trend.service, at(b0), at(b1), at(c0), at(c1))

    result = anyio.run(compared)
    lines = compare_lines(result, 80)
    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == f"{trend.service}: improved"
    rate = next(line for line in lines if line.startswith("error rate"))
    base_rate = trend.errors("baseline") / len(trend.durations("baseline")) * 100
    left, right = rate.split(f"{base_rate:.1f}%", 1)[1].split("0.0%")
    assert left.strip() == BAR * len(left.strip()) and len(left.strip()) > 10
    assert right.strip() == ""  # no errors now: no bar
    p95 = next(line for line in lines if line.startswith("p95 ms"))
    bars = [part for part in p95.split() if part.startswith(BAR)]
    assert len(bars) == 2 and len(bars[0]) > len(bars[1])  # baseline's p95 was higher
    # the command prints the same bars, and a pipe gets no colour codes
    argv = ["compare", trend.service, "--baseline-start", at(b0), "--baseline-end", at(b1)]
    assert cli_main([*argv, "--current-start", at(c0), "--current-end", at(c1)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed
    assert rate in [line.rstrip() for line in printed.splitlines()]
