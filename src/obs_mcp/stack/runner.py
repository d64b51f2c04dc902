"""`obs-mcp stack up|down|status`: start, watch and stop the stack's processes (loopback only).

What each process runs is in specs.py, where the stack lives in settings.py, what was
started in state.py; this module owns the order and the promises: `up` starts nothing
when a port or data dir is taken, and stops what it started when a part fails; `down`
stops every recorded process (its whole session) or says why not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from obs_mcp.stack import procs
from obs_mcp.stack.components import COLLECTOR, VICTORIALOGS, VICTORIAMETRICS, resolve_binary
from obs_mcp.stack.errors import StackError
from obs_mcp.stack.flushkey import ensure_key
from obs_mcp.stack.install import install_all
from obs_mcp.stack.preflight import check_can_start, explain_exit
from obs_mcp.stack.settings import StackPorts, StackSettings, default_state_dir
from obs_mcp.stack.sources import render_native
from obs_mcp.stack.specs import ProcessSpec, stack_specs
from obs_mcp.stack.state import ProcessRecord, StateFile

__all__ = [
    "ComponentStatus",
    "ProcessSpec",
    "Stack",
    "StackError",
    "StackPorts",
    "StackSettings",
    "default_state_dir",
]

Reporter = Callable[[str], None]
HEALTH_TIMEOUT_S = 30.0
# The collector first, so its queue drains into the stores; then the stores.
DOWN_ORDER = ("collector", "victoriatraces", "vt-backend", "victorialogs", "victoriametrics")
NOT_STOPPED = ("not stopped", "still running")
# Outcomes after which a process of ours may still run (a reused pid is not one: ours exited).
LEFT_RUNNING = ("not stopped: no permission", "still running", "not stopped: cannot read")


def stopped_all(messages: list[str]) -> bool:
    """False when a `down` line says a recorded process may still run (`stack down` exits 1)."""
    return not any(m.partition(": ")[2].startswith(LEFT_RUNNING) for m in messages)


@dataclass
class ComponentStatus:
    name: str
    title: str
    running: bool
    healthy: bool
    pid: int | None
    port: int
    version: str  # as the running binary reports it
    data_bytes: int | None
    ui_url: str | None
    log: str
    notes: list[str] = field(default_factory=list)  # e.g. flags dropped for this binary


class Stack:
    """One native stack rooted at a state dir; its pids and ports are kept in stack.json."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.state = StateFile(self.settings.state_dir)

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def logs_dir(self) -> Path:
        return self.settings.logs_dir

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def state_file(self) -> Path:
        return self.state.path

    @classmethod
    def from_state_dir(cls, state_dir: Path) -> Stack:
        """Reattach to a stack started earlier (ports come from its stack.json)."""
        return cls(StateFile(state_dir).settings())

    def specs(self) -> list[ProcessSpec]:
        return stack_specs(self.settings)

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    # ---- one process -----------------------------------------------------------------------
    def _start(self, spec: ProcessSpec) -> ProcessRecord:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        if spec.data_dir is not None:
            spec.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(spec.name)
        with log_path.open("ab") as log:
            offset = log.tell()
            proc = subprocess.Popen(
                spec.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=os.environ | spec.env,
                start_new_session=True,  # Ctrl-C on the CLI must not take the stack down
                preexec_fn=procs.die_with_parent if self.settings.die_with_parent else None,
                close_fds=True,
            )
        return ProcessRecord.started(proc.pid, spec.argv[0], spec.port, log_path, offset)

    def _health(self, spec: ProcessSpec, timeout: float = 2.0) -> bool:
        try:
            response = httpx2.request(spec.health_method, spec.health_url, timeout=timeout)
        except httpx2.HTTPError:
            return False
        return response.status_code == 200

    def _wait_healthy(self, spec: ProcessSpec, record: ProcessRecord) -> str | None:
        """None once healthy; else why not, with the sentence or log lines that say so."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._health(spec, timeout=1.0):
                return None
            if not record.running():
                break
            time.sleep(0.05)
        log = Path(record.log)
        state = "did not become healthy" if record.running() else "exited"
        this_run = procs.tail(log, 400, since=record.log_offset)
        if sentence := explain_exit(spec, self.settings.host, this_run):
            return f"{spec.title} {state}: {sentence}\nIts log: {log}"
        return (
            f"{spec.title} {state} (health check {spec.health_url}).\n"
            f"Last lines of {log}:\n{procs.tail(log, 20, since=record.log_offset)}"
        )

    # ---- the stack ---------------------------------------------------------------------------
    def up(self, report: Reporter | None = None, install: bool = True) -> list[ComponentStatus]:
        """Start what is not running, wave by wave (stores, vt-compat, collector), each healthy
        before the next; on failure stop what this call started and say what was left."""
        say = report or (lambda _line: None)
        if install and any(
            resolve_binary(c) is None for c in (VICTORIAMETRICS, VICTORIALOGS, COLLECTOR)
        ):
            install_all(say)
        ensure_key(self.settings.flush_key_file)  # before any store reads it
        render_native(self.settings.state_dir, self.settings.sources_dir)  # before specs
        processes = self.state.processes()
        specs = self.specs()
        started_here: list[str] = []
        began = time.monotonic()
        try:
            for spec in specs:  # nothing starts while any part is blocked
                if not self._running(processes, spec.name):
                    check_can_start(spec, self.settings.host)
            for wave in sorted({spec.wave for spec in specs}):
                waiting: list[tuple[ProcessSpec, ProcessRecord]] = []
                for spec in (sp for sp in specs if sp.wave == wave):
                    if not self._running(processes, spec.name):
                        processes[spec.name] = self._start(spec)
                        started_here.append(spec.name)
                        self.state.save(self.settings, processes)
                        say(
                            f"started {spec.title} (pid {processes[spec.name].pid}, port {spec.port})"
                        )
                        for note in spec.notes:
                            say(f"  {spec.title}: {note}")
                    waiting.append((spec, processes[spec.name]))
                with ThreadPoolExecutor(max_workers=max(1, len(waiting))) as pool:
                    failures = [f for f in pool.map(lambda w: self._wait_healthy(*w), waiting) if f]
                if failures:
                    raise StackError("\n".join(failures))
        except StackError as exc:
            raise StackError(f"{exc}\n{self._undo(processes, started_here, specs)}") from None
        say(f"stack healthy in {time.monotonic() - began:.1f}s")
        return self.status()

    def _running(self, processes: dict[str, ProcessRecord], name: str) -> bool:
        record = processes.get(name)
        return record is not None and record.running()

    def _undo(
        self, processes: dict[str, ProcessRecord], started_here: list[str], specs: list[ProcessSpec]
    ) -> str:
        """Stop what a failed `up` started (newest first); name what it leaves running."""
        titles = {spec.name: spec.title for spec in specs}
        stopped = []
        for name in reversed(started_here):
            outcome = processes[name].stop(grace_seconds=5.0)
            stopped.append(f"{titles[name]} ({outcome})")
            if not outcome.startswith(NOT_STOPPED):
                del processes[name]
        self.state.save(self.settings, processes)
        before = [
            titles.get(n, n) for n, r in processes.items() if n not in started_here and r.running()
        ]
        lines = [
            "This `stack up` stopped what it had started: " + "; ".join(stopped) + "."
            if stopped
            else "This `stack up` started nothing."
        ]
        if before:
            lines.append(f"Left running, as they were before it: {', '.join(before)}.")
        return "\n".join(lines)

    def down(self, wipe: bool = False, grace_seconds: float = 10.0) -> list[str]:
        """Stop every recorded process and its session (collector first); say how each went."""
        processes = self.state.processes()
        order = {name: i for i, name in enumerate(DOWN_ORDER)}
        messages: list[str] = []
        if unreadable := self.state.unreadable():
            messages.append(
                f"stack.json: not stopped: cannot read {self.state.path} ({unreadable}), so "
                "the processes of the last `up` are unknown; `obs-mcp stack status` or "
                "`ss -ltnp` shows what still listens on the stack's ports; delete the file once nothing does"
            )
        kept: dict[str, ProcessRecord] = {}
        for name in sorted(processes, key=lambda n: order.get(n, len(order))):
            outcome = processes[name].stop(grace_seconds)
            messages.append(f"{name}: {outcome}")
            if outcome.startswith(NOT_STOPPED):
                kept[name] = processes[name]
        if not unreadable:  # a corrupt record stays for the user to read
            self.state.save(self.settings, kept)
        if wipe and (kept or unreadable):
            users = ", ".join(kept) or "processes stack.json no longer names"
            messages.append(f"data kept in {self.data_dir}: {users} may still use it")
        elif wipe and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
            messages.append(f"wiped {self.data_dir}")
        return messages

    def status(self) -> list[ComponentStatus]:
        processes = self.state.processes()
        try:
            specs = self.specs()
        except StackError:
            specs = []
        result: list[ComponentStatus] = []
        for spec in specs:
            record = processes.get(spec.name)
            running = record is not None and record.running()
            result.append(
                ComponentStatus(
                    name=spec.name,
                    title=spec.title,
                    running=running,
                    healthy=running and self._health(spec),
                    pid=record.pid if record and running else None,
                    port=spec.port,
                    version=spec.version,
                    data_bytes=procs.dir_size(spec.data_dir) if spec.data_dir else None,
                    ui_url=spec.ui_url,
                    log=str(self.log_path(spec.name)),
                    notes=spec.notes,
                )
            )
        return result
