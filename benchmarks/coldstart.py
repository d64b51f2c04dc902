"""Cold starts: `obs-mcp stack up` on a fresh state dir, the stdio server to its first answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict

from mcp import Client

from benchmarks.common import Table, p50, secs, server_params
from obs_mcp.stack.runner import Stack, StackPorts

STACK_GOAL_S = 3.0
SERVER_GOAL_S = 1.0


def stack_up_times(runs: int) -> list[float]:
    """Wall time of the `obs-mcp stack up --no-install` command until it exits (all healthy)."""
    out = []
    for _ in range(runs):
        state_dir = tempfile.mkdtemp(prefix="obs-mcp-bench-cold-")
        env = dict(os.environ)
        for name, port in asdict(StackPorts.free()).items():
            env[f"OBS_MCP_PORT_{name.upper()}"] = str(port)
        cli = [sys.executable, "-m", "obs_mcp.cli", "stack", "--state-dir", state_dir]
        try:
            started = time.monotonic()
            subprocess.run(
                [*cli, "up", "--no-install"], env=env, check=True, capture_output=True, timeout=120
            )
            out.append(time.monotonic() - started)
        finally:
            subprocess.run(
                [*cli, "down", "--wipe", "--grace", "5"], env=env, capture_output=True, timeout=120
            )
            shutil.rmtree(state_dir, ignore_errors=True)
    return out


async def server_first_answer(stack: Stack, runs: int) -> list[float]:
    """Spawn `python -m obs_mcp` (stdio), initialize, and time until tools/list answers."""
    out = []
    for _ in range(runs):
        started = time.monotonic()
        async with Client(server_params(stack), read_timeout_seconds=60) as client:
            await client.list_tools()
            out.append(time.monotonic() - started)
    return out


def import_time(top: int = 5) -> tuple[float, list[tuple[str, float]], float]:
    """(cumulative import s of obs_mcp.server, top packages by self time, wall s of the import)."""
    code = "import obs_mcp.server"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    per_package: Counter[str] = Counter()
    total_us = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[12:].split("|"))
        per_package[name.split(".")[0]] += int(self_us)
        if name == "obs_mcp.server":
            total_us = int(cumulative_us)
    walls = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.monotonic() - started)
    tops = [(name, us / 1e6) for name, us in per_package.most_common(top)]
    return total_us / 1e6, tops, p50(walls)


async def measure(stack: Stack, runs: int, in_process_up_s: float) -> Table:
    table = Table(
        "5. Cold starts",
        ["what", "runs", "p50 s", "max s", "goal", "verdict"],
    )
    ups = stack_up_times(runs)
    table.add(
        "`obs-mcp stack up` (fresh state dir, binaries installed) -> all healthy",
        len(ups),
        secs(p50(ups)),
        secs(max(ups)),
        f"< {STACK_GOAL_S:g} s",
        "met" if p50(ups) < STACK_GOAL_S else "MISSED",
    )
    table.add(
        "Stack.up() in process (the benchmark's own stack)",
        1,
        secs(in_process_up_s),
        secs(in_process_up_s),
        f"< {STACK_GOAL_S:g} s",
        "met" if in_process_up_s < STACK_GOAL_S else "MISSED",
    )
    firsts = await server_first_answer(stack, runs)
    table.add(
        "`python -m obs_mcp` spawn -> initialize -> first tools/list answer",
        len(firsts),
        secs(p50(firsts)),
        secs(max(firsts)),
        f"< {SERVER_GOAL_S:g} s",
        "met" if p50(firsts) < SERVER_GOAL_S else "MISSED",
    )
    cumulative, tops, wall = import_time()
    table.add(
        "`python -c 'import obs_mcp.server'` (wall, incl. interpreter start)",
        3,
        secs(wall),
        "",
        "",
        "",
    )
    table.notes.append(
        f"`python -X importtime` of obs_mcp.server: {cumulative:.2f} s cumulative; top 5 "
        "packages by self time: " + ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in tops)
    )
    return table
