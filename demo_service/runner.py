"""Start, stop and inspect the demo services as background processes.

This is the Python API behind the project's CLI. Each service runs as
`<venv>/bin/opentelemetry-instrument <python> -m demo_service.<name>` in its own
session (so a Ctrl-C in the CLI's terminal does not take it down), with its
output in `<state_dir>/demo/<name>.log` and its pid in `<state_dir>/demo/<name>.pid`.
`source_root` picks which copy of `demo_service` runs: this checkout, or a scratch
copy with fixes applied (`demo_service.scratch`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel

from obs_mcp.pipeline import APP_EXPORT_ENV
from obs_mcp.stack import procs as proc_util

# Every demo process runs `python -m demo_service.<name>`: how we recognise our pids.
DEMO_CMDLINE_MARK = "demo_service."

ServiceName = Literal["shop", "payments"]
SERVICES: tuple[ServiceName, ...] = ("payments", "shop")  # start order: back end first
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_SHOP_PORT = 8000
DEFAULT_PAYMENTS_PORT = 8001
STOP_TIMEOUT_S = 10.0  # the SDK flushes its queues on SIGTERM; give it time
START_TIMEOUT_S = 60.0  # instrumented startup takes 10-20 s on a busy 2-core machine
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Popen handles of services started by this process, so stop_demo can reap them
# (no zombies, no "still running" warnings); other processes fall back to the pid.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class DemoError(RuntimeError):
    """The demo could not be started or controlled; the message says why."""


class ServiceProcess(BaseModel):
    """One running service as recorded in the state directory."""

    name: ServiceName
    pid: int
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the service."""
        return client_url(self.host, self.port)


class DemoProcesses(BaseModel):
    """What start_demo launched; also written to `<state_dir>/demo/demo.json`."""

    shop: ServiceProcess
    payments: ServiceProcess
    otlp_endpoint: str
    source_root: str
    started_at: str

    @property
    def shop_url(self) -> str:
        """The URL the load generator should target."""
        return self.shop.url


class ServiceStatus(BaseModel):
    """Liveness of one service: pid file present, process alive, /healthz answering."""

    name: ServiceName
    pid: int | None
    running: bool
    healthy: bool
    url: str | None
    log_path: Path


class DemoStatus(BaseModel):
    """Status of both services plus the settings they were started with."""

    services: list[ServiceStatus]
    otlp_endpoint: str | None = None
    source_root: str | None = None
    started_at: str | None = None

    @property
    def running(self) -> bool:
        """True when every service process is alive."""
        return all(s.running for s in self.services)

    @property
    def healthy(self) -> bool:
        """True when every service answers its health check."""
        return all(s.healthy for s in self.services)


def demo_dir(state_dir: Path) -> Path:
    """Where pid files, logs and demo.json live."""
    return Path(state_dir) / "demo"


def instrument_executable() -> Path:
    """`opentelemetry-instrument` next to the running interpreter (same venv)."""
    path = Path(sys.executable).parent / "opentelemetry-instrument"
    if not path.exists():
        raise DemoError(
            f"{path} not found: install the demo extra (opentelemetry-distro) in this venv"
        )
    return path


def service_command(
    service: ServiceName, host: str, port: int, payments_url: str | None = None
) -> list[str]:
    """The argv that starts one service under zero-code instrumentation."""
    cmd = [
        str(instrument_executable()),
        sys.executable,
        "-m",
        f"demo_service.{service}",
        "--host",
        host,
        "--port",
        str(port),
    ]
    if service == "shop" and payments_url:
        cmd += ["--payments-url", payments_url]
    return cmd


def service_env(
    service: ServiceName,
    otlp_endpoint: str,
    source_root: Path = PROJECT_ROOT,
    base_env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for one service: OTel SDK settings tuned for fast feedback.

    Logs: opentelemetry-instrumentation-logging (0.66b1) installs the OTLP log
    handler on the root logger by default (OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION);
    OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true would switch to the SDK's
    deprecated handler instead, so it is pinned to false. Log records carry the
    active span's trace_id/span_id either way. `source_root` leads PYTHONPATH, so its
    `demo_service` is the one imported. `extra_env` is applied last (tests use it to
    swap exporters for `none` or `console`).
    """
    env = dict(os.environ if base_env is None else base_env)
    pythonpath = env.get("PYTHONPATH")
    env.update(
        {
            "OTEL_SERVICE_NAME": service,
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=demo",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "true",
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "false",
            "OTEL_PYTHON_LOG_CORRELATION": "true",
            **APP_EXPORT_ENV,  # the export delays chosen in obs_mcp/pipeline.py, with reasons
            # Collector restarts: the SDK retries an export with backoff 1, 2, 4, 8 s only
            # while it fits in this timeout (default 10 s: ~7 s of outage), and the batch
            # queues (default 2048) must hold what arrives meanwhile. Measured in
            # tests/test_faults.py and docs/RELIABILITY.md: a 12 s outage loses nothing.
            "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
            "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
            "OTEL_BLRP_MAX_QUEUE_SIZE": "65536",
            # Spans carry both old (http.status_code) and stable (http.response.status_code)
            # HTTP attribute names, so queries written against either convention work.
            "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
            # Health probes must not add server spans to the error-rate denominator.
            "OTEL_PYTHON_STARLETTE_EXCLUDED_URLS": "healthz",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(source_root), pythonpath) if p),
        }
    )
    if extra_env:
        env.update(extra_env)
    return env


def client_url(host: str, port: int) -> str:
    """URL to reach a service bound to `host`: a wildcard bind is reached via loopback."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Running, not a zombie, and (per /proc) really one of ours, not a reused pid."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    return proc_util.pid_alive(pid, DEMO_CMDLINE_MARK)


def _healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    """Last lines of a service log, for error messages."""
    return proc_util.tail(path, lines)


def start_demo(
    state_dir: Path,
    otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT,
    shop_port: int = DEFAULT_SHOP_PORT,
    payments_port: int = DEFAULT_PAYMENTS_PORT,
    host: str = "127.0.0.1",
    *,
    source_root: Path = PROJECT_ROOT,
    timeout: float = START_TIMEOUT_S,
    extra_env: Mapping[str, str] | None = None,
) -> DemoProcesses:
    """Start payments then shop in the background and wait until both answer /healthz.

    Raises DemoError (with the failing service's log tail) if a port is taken, the
    demo already runs from this state dir, or a service is not healthy in time;
    in that case anything it started is stopped again.
    """
    ddir = demo_dir(state_dir)
    ddir.mkdir(parents=True, exist_ok=True)
    running = [s.name for s in demo_status(state_dir, check_health=False).services if s.running]
    if running:
        raise DemoError(f"demo already running from {ddir} ({', '.join(running)}); stop it first")
    ports: dict[ServiceName, int] = {"payments": payments_port, "shop": shop_port}
    if shop_port == payments_port:
        raise DemoError(f"shop and payments need different ports (both {shop_port})")
    for name, port in ports.items():
        if not proc_util.port_is_free(host, port):
            raise DemoError(f"port {host}:{port} for {name} is already in use")

    payments_url = client_url(host, payments_port)
    procs: dict[ServiceName, ServiceProcess] = {}
    popens: dict[ServiceName, subprocess.Popen[bytes]] = {}
    for name in SERVICES:
        log_path = ddir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                service_command(name, host, ports[name], payments_url),
                env=service_env(name, otlp_endpoint, source_root, extra_env=extra_env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(source_root),
                start_new_session=True,
            )
        _CHILDREN[popen.pid] = popen
        popens[name] = popen
        (ddir / f"{name}.pid").write_text(f"{popen.pid}\n")
        procs[name] = ServiceProcess(
            name=name, pid=popen.pid, host=host, port=ports[name], log_path=log_path
        )

    demo = DemoProcesses(
        shop=procs["shop"],
        payments=procs["payments"],
        otlp_endpoint=otlp_endpoint,
        source_root=str(source_root),
        started_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    (ddir / "demo.json").write_text(demo.model_dump_json(indent=2) + "\n")

    deadline = time.monotonic() + timeout
    pending = set(SERVICES)
    while pending:
        for name in sorted(pending):
            code = popens[name].poll()
            if code is not None:
                stop_demo(state_dir)
                raise DemoError(
                    f"{name} exited with code {code} during startup; "
                    f"log {procs[name].log_path}:\n{log_tail(procs[name].log_path)}"
                )
            if _healthy(procs[name].url, timeout=0.5):
                pending.discard(name)
        if not pending:
            break
        if time.monotonic() > deadline:
            stop_demo(state_dir)
            details = "\n".join(
                f"--- {n} ({procs[n].log_path}):\n{log_tail(procs[n].log_path)}"
                for n in sorted(pending)
            )
            raise DemoError(
                f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}\n{details}"
            )
        time.sleep(0.1)
    return demo


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM (uvicorn drains, the SDK flushes telemetry), SIGKILL if it lingers."""
    proc_util.terminate(pid, DEMO_CMDLINE_MARK, grace_seconds=timeout)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)


def stop_demo(state_dir: Path, timeout: float = STOP_TIMEOUT_S) -> list[ServiceName]:
    """Stop the services started from this state dir; returns the ones that were running.

    Shop goes first so no new checkout reaches a payments service that is going away.
    Pid files are removed; logs and demo.json stay for post-mortems.
    """
    ddir = demo_dir(state_dir)
    stopped: list[ServiceName] = []
    for name in reversed(SERVICES):
        pid_path = ddir / f"{name}.pid"
        pid = _read_pid(pid_path)
        if pid is not None and _alive(pid):
            _terminate(pid, timeout)
            stopped.append(name)
        pid_path.unlink(missing_ok=True)
    return stopped


def demo_status(state_dir: Path, check_health: bool = True) -> DemoStatus:
    """Which services run (pid alive) and answer /healthz, per the state directory."""
    ddir = demo_dir(state_dir)
    meta: DemoProcesses | None = None
    with contextlib.suppress(OSError, ValueError):
        meta = DemoProcesses.model_validate(json.loads((ddir / "demo.json").read_text()))
    services: list[ServiceStatus] = []
    for name in SERVICES:
        pid = _read_pid(ddir / f"{name}.pid")
        running = pid is not None and _alive(pid)
        url = getattr(meta, name).url if meta is not None else None
        healthy = bool(running and check_health and url and _healthy(url))
        services.append(
            ServiceStatus(
                name=name,
                pid=pid,
                running=running,
                healthy=healthy,
                url=url,
                log_path=ddir / f"{name}.log",
            )
        )
    return DemoStatus(
        services=services,
        otlp_endpoint=meta.otlp_endpoint if meta else None,
        source_root=meta.source_root if meta else None,
        started_at=meta.started_at if meta else None,
    )
