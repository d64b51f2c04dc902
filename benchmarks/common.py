"""Shared bits of the benchmarks: percentiles, markdown tables, machine facts, isolated stacks."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mcp import StdioServerParameters

from obs_mcp.config import Settings
from obs_mcp.stack.components import VICTORIATRACES, resolve_binary
from obs_mcp.stack.runner import Stack, StackPorts, StackSettings
from obs_mcp.stack.versions import pinned_versions

TOKEN_METHOD = "tokens ≈ characters / 4 (no tokenizer download; typical for English+JSON)"


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of the finite values (NaN when there are none)."""
    ok = sorted(v for v in values if math.isfinite(v))
    if not ok:
        return float("nan")
    return ok[min(len(ok) - 1, max(0, math.ceil(q * len(ok)) - 1))]


def p50(values: Sequence[float]) -> float:
    return percentile(values, 0.50)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 0.95)


def ms(seconds: float) -> str:
    return "n/a" if not math.isfinite(seconds) else f"{seconds * 1000:.1f}"


def secs(seconds: float) -> str:
    return "n/a" if not math.isfinite(seconds) else f"{seconds:.2f}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@dataclass
class Table:
    """A markdown table printed as soon as it is complete and kept for docs/BENCHMARKS.md."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shown: bool = False

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "---|" * len(self.headers))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def show(self) -> Table:
        print("\n" + self.markdown(), flush=True)
        self.shown = True
        return self


def _cmd(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"


def machine_facts() -> dict[str, str]:
    mem_kib = 0
    cpu = platform.processor() or "n/a"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = pinned_versions()
    go = _cmd("go", "version").removeprefix("go version ") or "n/a"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "CPU model": cpu,
        "kernel": platform.release(),
        "Python": sys.version.split()[0],
        "Go (builds the stack)": go,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "VictoriaMetrics": versions.get("VICTORIAMETRICS_VERSION", "?"),
        "VictoriaLogs": versions.get("VICTORIALOGS_VERSION", "?"),
        "VictoriaTraces": (
            f"vt-compat (Python adapter over VictoriaLogs {versions.get('VICTORIALOGS_VERSION')})"
            if resolve_binary(VICTORIATRACES) is None
            else versions.get("VICTORIATRACES_VERSION", "?")
        ),
        "OpenTelemetry Collector": versions.get("OTELCOL_VERSION", "?"),
    }


def du_bytes(path: Path) -> int:
    """Disk use (allocated blocks, like `du -s`), not apparent size."""
    out = _cmd("du", "-sk", str(path))
    try:
        return int(out.split()[0]) * 1024
    except (IndexError, ValueError):
        return 0


@contextmanager
def isolated_stack(prefix: str = "obs-mcp-bench-") -> Iterator[tuple[Stack, float]]:
    """A fresh native stack on free ports in a temp state dir; wiped afterwards.

    Yields the stack and the seconds `up` took (a cold start of a fresh state dir)."""
    state_dir = Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(StackSettings(state_dir=state_dir, ports=StackPorts.free(), die_with_parent=True))
    try:
        started = time.monotonic()
        stack.up(install=True)
        yield stack, time.monotonic() - started
    finally:
        stack.down(wipe=True, grace_seconds=5)
        shutil.rmtree(state_dir, ignore_errors=True)


def component_pids(stack: Stack) -> dict[str, int]:
    return {name: record.pid for name, record in stack.state.processes().items()}


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process (Linux /proc), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_params(stack: Stack) -> StdioServerParameters:
    """`python -m obs_mcp` on stdio, pointed at this stack (as an MCP client would start it)."""
    env = dict(os.environ) | stack.settings.store_env()
    return StdioServerParameters(command=sys.executable, args=["-m", "obs_mcp"], env=env)


def backend_settings(stack: Stack) -> Settings:
    s = stack.settings
    return Settings.from_env({"VL_URL": s.vl_url, "VM_URL": s.vm_url, "VT_URL": s.vt_url})
