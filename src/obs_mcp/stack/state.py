"""stack.json: which processes one `stack up` started (pid + start time), and on which ports."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from obs_mcp.stack import procs
from obs_mcp.stack.settings import StackPorts, StackSettings


@dataclass
class ProcessRecord:
    """One started process. pid + start_ticks name it for its whole life, through an exec,
    and never a later process that got the same pid."""

    pid: int
    start_ticks: int | None  # None: recorded by an older obs-mcp (then argv0 identifies it)
    argv0: str
    port: int
    log: str
    log_offset: int = 0  # where this run's lines begin in the (appended) log
    started_at: float = 0.0

    @classmethod
    def started(cls, pid: int, argv0: str, port: int, log: Path, log_offset: int) -> ProcessRecord:
        return cls(pid, procs.start_ticks(pid), argv0, port, str(log), log_offset, time.time())

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ProcessRecord:
        ticks = data.get("start_ticks")
        return cls(
            pid=int(str(data["pid"])),
            start_ticks=int(str(ticks)) if ticks is not None else None,
            argv0=str(data.get("argv0", "")),
            port=int(str(data.get("port", 0))),
            log=str(data.get("log", "")),
            log_offset=int(str(data.get("log_offset", 0))),
            started_at=float(str(data.get("started_at", 0.0))),
        )

    def running(self) -> bool:
        if self.start_ticks is None:
            return procs.pid_alive(self.pid, self.argv0)
        return procs.is_ours(self.pid, self.start_ticks)

    def stop(self, grace_seconds: float) -> str:
        """Stop it and whatever else still runs in its session; say how that went."""
        ticks = self.start_ticks
        if ticks is None:
            if not procs.pid_alive(self.pid, self.argv0):
                return f"not running (pid {self.pid} had exited)"
            ticks = procs.start_ticks(self.pid)
            if ticks is None:
                return procs.terminate(self.pid, self.argv0, grace_seconds)
        return procs.stop_session(self.pid, ticks, grace_seconds)


UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError)


class StateFile:
    """Read and atomically rewrite <state dir>/stack.json."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "stack.json"

    def _read(self) -> dict[str, ProcessRecord]:
        data = json.loads(self.path.read_text())
        return {
            name: ProcessRecord.from_dict(entry)
            for name, entry in dict(data.get("processes", {})).items()
        }

    def processes(self) -> dict[str, ProcessRecord]:
        try:
            return self._read()
        except UNREADABLE:
            return {}

    def unreadable(self) -> str | None:
        """Why an existing stack.json cannot be read (None: absent or fine): `down` must not
        take a corrupt record for "nothing is running"."""
        try:
            self._read()
        except FileNotFoundError:
            return None
        except UNREADABLE as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def save(self, settings: StackSettings, processes: dict[str, ProcessRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "ports": asdict(settings.ports),
            "host": settings.host,
            "processes": {name: asdict(record) for name, record in processes.items()},
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(self.path)

    def settings(self) -> StackSettings:
        """The settings a stack was started with (its ports), for commands that reattach."""
        settings = StackSettings(state_dir=self.path.parent)
        try:
            saved = json.loads(self.path.read_text())
            settings.ports = StackPorts(**saved["ports"])
            settings.host = saved.get("host", settings.host)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return settings
