"""Cold starts: `obs-mcp stack up` on a fresh state dir, the stdio server to its first answer.

The server's start-up is set against its floor in the same run: a bare MCPServer with one tool
(benchmarks/bare_server.py) on the same Python, spawned the same way, turns interleaved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from mcp import Client, StdioServerParameters

from benchmarks.common import Table, p50, secs, server_params
from obs_mcp.stack.runner import Stack, StackPorts

STACK_GOAL_S = 3.0
SERVER_GOAL_S = 1.0
SERVER_PAIRS = 10  # spawn pairs (obs-mcp, floor): enough for a p50 on a shared machine
RATIO_GOAL = 1.2  # obs-mcp / bare MCPServer, when the 1 s goal is out of the machine's reach
BARE = Path(__file__).with_name("bare_server.py")


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


def _bytecode_cached(params: StdioServerParameters, cache: str) -> StdioServerParameters:
    """As an installed tool runs: bytecode cached (here in a temp dir, even when the caller's
    shell sets PYTHONDONTWRITEBYTECODE), so no run pays for compiling sources."""
    env = {k: v for k, v in (params.env or os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
    return params.model_copy(update={"env": env | {"PYTHONPYCACHEPREFIX": cache}})


async def _first_answer(params: StdioServerParameters) -> float:
    started = time.monotonic()
    async with Client(params, read_timeout_seconds=60) as client:
        await client.list_tools()
        return time.monotonic() - started


async def server_first_answer(stack: Stack, runs: int) -> tuple[list[float], list[float]]:
    """Spawn -> initialize -> first tools/list answer of `python -m obs_mcp` and of the bare
    floor, in alternating turns after one warm-up each (which writes the bytecode cache)."""
    cache = tempfile.mkdtemp(prefix="obs-mcp-bench-pyc-")
    try:
        ours = _bytecode_cached(server_params(stack), cache)
        bare = ours.model_copy(update={"args": [str(BARE)]})
        await _first_answer(ours)
        await _first_answer(bare)
        obs_times: list[float] = []
        bare_times: list[float] = []
        for turn in range(runs):
            pair = (ours, bare) if turn % 2 == 0 else (bare, ours)
            for params in pair:
                (obs_times if params is ours else bare_times).append(await _first_answer(params))
        return obs_times, bare_times
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _cached_env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": cache}


def import_time(top: int = 5) -> tuple[float, list[tuple[str, float]], float]:
    """(cumulative import s of obs_mcp.server, top packages by self time, wall s of the import),
    bytecode cached as for the server runs."""
    code = "import obs_mcp.server"
    cache = tempfile.mkdtemp(prefix="obs-mcp-bench-pyc-")
    env = _cached_env(cache)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)  # writes the cache
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
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
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        walls.append(time.monotonic() - started)
    shutil.rmtree(cache, ignore_errors=True)
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
    firsts, floor = await server_first_answer(stack, SERVER_PAIRS)
    ratio = p50([ours / bare for ours, bare in zip(firsts, floor, strict=True)])
    table.add(
        "`python -m obs_mcp` spawn -> initialize -> first tools/list answer",
        len(firsts),
        secs(p50(firsts)),
        secs(max(firsts)),
        f"< {SERVER_GOAL_S:g} s or < {RATIO_GOAL:g}x the floor",
        "met" if p50(firsts) < SERVER_GOAL_S or ratio <= RATIO_GOAL else "MISSED",
    )
    table.add(
        "floor: bare `MCPServer` with one tool, same Python, same spawn",
        len(floor),
        secs(p50(floor)),
        secs(max(floor)),
        "",
        f"obs-mcp = {ratio:.2f}x the floor (p50 of the pairs' ratios)",
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
        "Server runs alternate obs-mcp and the floor after one warm-up each (a pair's ratio "
        "cancels the machine's load drift); bytecode is cached "
        "(PYTHONPYCACHEPREFIX, a temp dir) as for an installed tool. What obs-mcp adds to the "
        "floor: its result models (the tools' output schemas) and twelve tool registrations; "
        "query modules and store clients load on the first tool call."
    )
    table.notes.append(
        f"`python -X importtime` of obs_mcp.server: {cumulative:.2f} s cumulative; top 5 "
        "packages by self time: " + ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in tops)
    )
    return table
