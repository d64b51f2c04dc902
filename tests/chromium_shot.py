"""Headless Chromium (Debian's package) as a person's eyes: a screenshot of a page, and where
each of its figures was laid out, so a test can look inside one figure's pixels."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip
WIDTH = 1280
# Injected into a copy only (never into the report): writes each <section>'s box into the DOM.
MEASURE = """<script>
const boxes = {};
for (const s of document.querySelectorAll("section")) {
  const r = s.getBoundingClientRect();
  boxes[s.id] = [r.left, r.top + window.scrollY, r.width, r.height];
}
document.body.setAttribute("data-boxes", JSON.stringify(
  {sections: boxes, height: document.documentElement.scrollHeight}));
</script></body>"""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip(
            "chromium is not installed and could not be: .ci/run installs Debian's package "
            "(apt-get install -y chromium); install it to see the report as a person would"
        )
    return found


@dataclass
class Shot:
    png: Path
    sections: dict[str, tuple[int, int, int, int]]  # id -> (left, top, width, height) px


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def screenshot(page: Path, out_dir: Path) -> Shot:
    measured = out_dir / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE, 1))
    dom = _run([f"--window-size={WIDTH},2000", "--dump-dom", measured.as_uri()], out_dir / "p1")
    found = re.search(r'data-boxes="([^"]+)"', dom.stdout)
    assert found, f"chromium did not lay the page out: {dom.stderr[-500:]}"
    boxes = json.loads(found.group(1).replace("&quot;", '"'))
    height = min(int(boxes["height"]) + 20, 12_000)
    png = out_dir / "report.png"
    _run([f"--window-size={WIDTH},{height}", f"--screenshot={png}", page.as_uri()], out_dir / "p2")
    sections = {k: tuple(round(v) for v in box) for k, box in boxes["sections"].items()}
    return Shot(png, sections)  # type: ignore[arg-type]
