"""Zero-code OpenTelemetry for a Python command, also when its environment has none.

The app's interpreter is asked what it can import (probe_script). If it has
opentelemetry-instrumentation, its own packages are used. Otherwise obs-mcp brings a "kit":
pinned OpenTelemetry packages installed with uv for exactly that interpreter into the cache
(`~/.cache/obs-mcp/otel-python/<version>-<tag>-<machine>`), plus the instrumentations that
upstream's bootstrap table names for the libraries found. Either way the child starts with
boot/ on PYTHONPATH, whose sitecustomize initialises the SDK and reports what it instrumented.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from obs_mcp.stack.components import cache_dir

OTEL_SDK = "1.45.1"  # the versions of obs-mcp's own uv.lock (tests check they agree)
OTEL_CONTRIB = "0.66b1"
RESOLVED_AS_OF = "2026-11-20T00:00:00Z"  # the kit's other dependencies: as PyPI stood then
BASE = (
    f"opentelemetry-distro=={OTEL_CONTRIB}",
    f"opentelemetry-exporter-otlp-proto-http=={OTEL_SDK}",
    f"opentelemetry-sdk=={OTEL_SDK}",
    f"opentelemetry-api=={OTEL_SDK}",
)
BOOT_DIR = Path(__file__).parent / "boot"
PROBE = Path(__file__).parent / "probe_script.py"
INSTALL_TIMEOUT_S = 300
# Libraries whose instrumentation records the requests an app serves (entry spans).
SERVES = {"flask", "django", "fastapi", "starlette", "falcon", "pyramid", "tornado", "aiohttp"}
SERVES |= {"grpcio", "celery", "aio_pika", "aio-pika", "pika", "kafka-python", "aiokafka"}

Report = Callable[[str], None]


class KitError(Exception):
    """The kit could not be installed or probed; the message says why and what to do."""


@dataclass
class PythonPlan:
    """How a Python command is instrumented: env additions and what to tell the user."""

    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    instrumented: bool = False


def kit_dir(tag: str, machine: str) -> Path:
    return cache_dir() / "otel-python" / f"{OTEL_SDK}-{tag}-{machine}"


def probe(python: str, kit: Path | None, env: dict[str, str]) -> dict[str, object]:
    args = [python, "-c", PROBE.read_text(encoding="utf-8")] + ([str(kit)] if kit else [])
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KitError(f"could not ask {python} what it has installed: {exc}") from exc
    if done.returncode != 0:
        raise KitError(f"{python} could not list its packages: {done.stderr.strip()[-400:]}")
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _installer(python: str, target: Path, reqs: list[str]) -> list[str]:
    try:
        from uv import find_uv_bin

        uv: str | None = find_uv_bin()
    except (ImportError, FileNotFoundError):
        uv = shutil.which("uv")
    if uv:
        return [uv, "pip", "install", "--quiet", "--target", str(target), "--python", python,
                "--exclude-newer", RESOLVED_AS_OF, *reqs]  # fmt: skip
    return [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-input", "--target", str(target), *reqs]  # fmt: skip


def install(python: str, target: Path, reqs: list[str], report: Report) -> None:
    """Install into the kit under a lock (two runs at once must not interleave)."""
    target.mkdir(parents=True, exist_ok=True)
    cmd = _installer(python, target, reqs)
    report(f"installing {len(reqs)} OpenTelemetry packages for {python} into {target} (once)")
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KitError(f"installing {' '.join(reqs)} failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-600:]
        raise KitError(
            f"`{' '.join(cmd[:3])} ...` could not install {', '.join(reqs)}: {tail} "
            "(PyPI reachable? uv on PATH? the app runs uninstrumented meanwhile)"
        )


def _own_exporter(dists: dict[str, str]) -> dict[str, str]:
    """The app's own SDK: speak the protocol of the OTLP exporter it has."""
    if "opentelemetry-exporter-otlp-proto-http" in dists:
        return {}
    if "opentelemetry-exporter-otlp-proto-grpc" in dists:
        return {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    return {}


def plan(python: str, env: dict[str, str], report: Report) -> PythonPlan:
    """Probe the interpreter, install what the kit lacks, return the env that instruments."""
    app = probe(python, None, env)
    dists = dict(app["dists"])  # type: ignore[call-overload]
    boot = {"PYTHONPATH": os.pathsep.join(filter(None, [str(BOOT_DIR), env.get("PYTHONPATH")]))}
    if "opentelemetry-instrumentation" in dists:
        result = PythonPlan(env={**boot, "OBS_MCP_RUN_PY_MODE": "own", **_own_exporter(dists)})
        result.notes.append(
            f"{python} (Python {app['version']}): the app's own OpenTelemetry "
            f"(opentelemetry-instrumentation {dists['opentelemetry-instrumentation']}) is used"
        )
        result.instrumented = True
        return result
    kit = kit_dir(str(app["tag"]), str(app["machine"]))
    found = probe(python, kit, env)
    if not found.get("kit_ready"):
        install(python, kit, list(BASE), report)
        found = probe(python, kit, env)
    missing = [str(m) for m in found.get("missing", [])]  # type: ignore[attr-defined]
    if missing:
        install(python, kit, missing, report)
    wanted: dict[str, str] = dict(found.get("instrumentations", {}))  # type: ignore[call-overload]
    own = sorted(d for d in dists if d.startswith("opentelemetry"))
    result = PythonPlan(
        env={
            **boot,
            "OBS_MCP_RUN_PY_MODE": "kit",
            "OBS_MCP_RUN_KIT": str(kit),
            "OBS_MCP_RUN_KIT_TAG": str(app["tag"]),
            "OBS_MCP_RUN_KIT_FIRST": "1" if own else "0",
        },
        instrumented=True,
    )
    libs = sorted(v for v in wanted.values() if v)
    result.notes.append(
        f"{python} (Python {app['version']}): no OpenTelemetry instrumentation in its "
        f"environment; obs-mcp's OpenTelemetry {OTEL_SDK}/{OTEL_CONTRIB} for {app['tag']} "
        f"is used, with instrumentations for {', '.join(libs) or 'no library found'} "
        "and the defaults (logging, urllib, threading, asyncio, sqlite3, ...)"
    )
    if own:
        result.notes.append(
            f"its own {', '.join(own)} are shadowed by the kit's for this run (one consistent set)"
        )
    if not any(v.split()[0].lower() in SERVES for v in libs):
        result.notes.append(
            "no web framework with an OpenTelemetry instrumentation found (Flask, Django, "
            "FastAPI, Starlette, ...): requests it serves (e.g. with http.server) give no spans, "
            "only its output becomes logs"
        )
    return result
