"""What each Python process of the run says about itself (boot/sitecustomize.py writes it).

`<pid>.start.json` after initialising: what was instrumented, what failed; `<pid>.exit.json`
at exit: how many requests it served. A watcher prints each start report as it appears, so
the user learns at once whether the app is instrumented; the exit reports give the number of
requests `obs-mcp run` then waits for.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL_S = 0.1


def describe(report: dict[str, Any]) -> str:
    argv = " ".join(report.get("argv", []))[:120]
    head = f"pid {report.get('pid')} ({argv})"
    if report.get("error"):
        return f"{head}: NOT instrumented: {report['error']}"
    names = ", ".join(report.get("instrumented", [])) or "nothing"
    text = f"{head}: instrumented {names}"
    if report.get("joined_trace"):
        text += "; its own traces join the run's (TRACEPARENT)"
    for problem in report.get("problems", [])[:5]:
        text += f"; could not: {problem}"
    return text


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Reports:
    def __init__(self, folder: Path, say: Callable[[str], None]) -> None:
        self.folder = folder
        self._say = say
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="run-status")
        self._thread.start()

    def _scan(self) -> None:
        for path in sorted(self.folder.glob("*.start.json")):
            if path.name not in self._seen and (report := _read(path)) is not None:
                self._seen.add(path.name)
                self._say(describe(report))

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            self._scan()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self._scan()

    def started(self) -> list[dict[str, Any]]:
        found = (_read(p) for p in sorted(self.folder.glob("*.start.json")))
        return [r for r in found if r is not None]

    def entry_spans(self) -> tuple[int, list[str]]:
        """Requests the instrumented processes served, and the pids that never reported."""
        total, silent = 0, []
        for report in self.started():
            if report.get("error"):
                continue
            done = _read(self.folder / f"{report.get('pid')}.exit.json")
            if done is None:
                silent.append(str(report.get("pid")))
            else:
                total += int(done.get("entry_spans", 0))
        return total, silent
