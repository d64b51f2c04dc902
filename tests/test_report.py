"""`obs-mcp report` as a person looks at it: the HTML rendered by headless Chromium, each
figure's pixels checked for its series colours, and the numbers it embeds checked against
the emission plan (tests/picture_telemetry.py)."""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

import obs_mcp.report
from obs_mcp.cli import main as cli_main
from obs_mcp.core.backends import open_backends
from obs_mcp.models import RepeatSummary, SpanNode
from obs_mcp.report import INSTALL_HINT, Sides, write_report
from obs_mcp.report.plots import COLORS, CRITICAL, span_duration, span_name
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import from_unix_nanos, rfc3339
from tests.chromium_shot import Shot, screenshot
from tests.picture_telemetry import SLOW_MS, Trend

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]
VERDICT_GREEN = (0x2E, 0x7D, 0x32)


def at(ns: int) -> str:
    return rfc3339(from_unix_nanos(ns))


def pair_args(trend: Trend) -> dict[str, str]:
    (b0, b1), (c0, c1) = trend.baseline, trend.current
    return {"baseline_start": at(b0), "baseline_end": at(b1),
            "current_start": at(c0), "current_end": at(c1)}  # fmt: skip


@pytest.fixture(scope="module")
def report(trend: Trend, native_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("report") / "pair.html"

    async def go() -> Path:
        async with open_backends() as backends:
            return await write_report(backends, trend.service, target, Sides(**pair_args(trend)))

    with pytest.MonkeyPatch.context() as env:  # module scope: before tools_on_stack runs
        for key, value in native_stack.settings.store_env().items():
            env.setenv(key, value)
        return anyio.run(go)


def embedded(page: Path) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page.read_text(), re.S
    )
    assert found, "the report embeds no figure data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def log_bucket(ns: int) -> int:
    return math.floor(math.log(ns + 1) * 20)


def test_the_numbers_are_the_plans(report: Path, trend: Trend) -> None:
    data = embedded(report)
    compare = data["compare"]
    assert compare["verdict"] == "improved"
    for which in ("baseline", "current"):
        assert compare[which]["requests"] == len(trend.durations(which))
        assert compare[which]["errors"] == trend.errors(which)
    sides = {s["label"]: s for s in data["sides"]}
    for which in ("baseline", "current"):
        counted = Counter(log_bucket(d) for d in trend.durations(which))
        assert {b["index"]: b["count"] for b in sides[which]["histogram"]} == dict(counted)
        points = sides[which]["series"]["points"]
        assert sum(p["requests"] for p in points) == len(trend.durations(which))
        assert sum(p["errors"] for p in points) == trend.errors(which)
    [signature] = data["top_errors"]["signatures"]
    assert signature["count"] == trend.errors("baseline")
    assert signature["exception_type"] == "KeyError"
    assert signature["sample_trace_id"] in trend.error_trace_ids
    assert data["slowest"]["trace_id"] == trend.slow_trace_id
    assert data["slowest"]["duration_ms"] == SLOW_MS
    path = [(s["operation"], s["duration_ms"]) for s in data["critical_path"]]
    assert path == [("GET /api/items", 900.0), ("SELECT items", 600.0), ("render", 200.0)]


def test_the_file_needs_no_network(report: Path) -> None:
    text = report.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", text, re.I)
    assert not re.search(r"url\(\s*['\"]?https?:", text, re.I)
    assert "@import" not in text
    assert text.count("<svg") == 4  # traffic, latency, distribution, critical path


def _pixels(image: Image.Image, box: tuple[int, int, int, int], rgb: tuple[int, ...]) -> int:
    left, top, width, height = box
    crop = image.crop((left, top, left + width, top + height))
    near = 0
    for count, pixel in crop.getcolors(crop.width * crop.height) or []:
        if all(abs(a - b) <= 6 for a, b in zip(pixel[:3], rgb, strict=True)):
            near += count
    return near


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@pytest.fixture(scope="module")
def shot(report: Path, tmp_path_factory: pytest.TempPathFactory) -> Shot:
    return screenshot(report, tmp_path_factory.mktemp("shot"))


def test_every_figure_shows_both_sides_in_their_colours(shot: Shot) -> None:
    image = Image.open(shot.png).convert("RGB")
    assert image.width == 1280 and image.height >= 2000
    base, cur = _rgb(COLORS["baseline"]), _rgb(COLORS["current"])
    for section in ("traffic", "latency", "distribution"):
        box = shot.sections[section]
        assert box[3] > 200, (section, box)
        seen = {
            name: _pixels(image, box, rgb) for name, rgb in (("baseline", base), ("current", cur))
        }
        assert min(seen.values()) > 300, (section, seen)  # bars, lines or outlines of each
    assert _pixels(image, shot.sections["summary"], VERDICT_GREEN) > 500  # the "improved" badge
    # the critical path: three bars of 900, 600 and 200 ms, wide enough to see
    assert _pixels(image, shot.sections["trace"], _rgb(CRITICAL)) > 20_000
    # nothing of the series colours outside the figures (no stray drawing)
    assert _pixels(image, shot.sections["errors"], base) == 0


def test_one_window_report_from_the_command(
    trend: Trend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "one.html"
    start, end = at(trend.base), at(trend.current[1])
    assert (
        cli_main(["report", trend.service, "--start", start, "--end", end, "-o", str(target)]) == 0
    )
    assert str(target) in capsys.readouterr().out
    data = embedded(target)
    assert data["compare"] is None
    assert data["figures"]["total"] == len(trend.durations("baseline")) + len(
        trend.durations("current")
    )
    assert [s["label"] for s in data["sides"]] == ["window"]


def test_without_matplotlib_the_command_says_how_to_install_it(
    trend: Trend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [m for m in sys.modules if m.startswith(("matplotlib", "obs_mcp.report."))]:
        monkeypatch.delitem(sys.modules, name)
    for module in ("page", "plots", "gather"):  # `from obs_mcp.report import plots` reads these
        monkeypatch.delattr(obs_mcp.report, module, raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import` sees when absent
    assert cli_main(["report", trend.service, "-o", str(tmp_path / "x.html")]) == 2
    assert INSTALL_HINT in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "x.html").exists()


def test_a_repeat_row_says_how_many_calls_its_figures_cover() -> None:
    """An N+1 row stands for N calls: its self time is all of theirs, so its name and duration
    say ×N (a bare 81 ms beside 569 ms of self time reads as a contradiction)."""
    row = SpanNode(
        span_id="a" * 16, depth=1, service="shop", operation="SELECT products", kind="client",
        start_offset_ms=0.0, duration_ms=81.448, self_ms=569.062, critical=True, status="ok",
        repeat=RepeatSummary(count=7, total_ms=569.062, min_ms=80.1, max_ms=87.2),
    )  # fmt: skip
    assert span_name(row) == "shop: SELECT products ×7"
    assert span_duration(row) == "×7: 569.062 ms in all (80.1-87.2 ms each)"
    plain = row.model_copy(update={"repeat": None, "self_ms": 3.5})
    assert (span_name(plain), span_duration(plain)) == ("shop: SELECT products", "81.448 ms")
