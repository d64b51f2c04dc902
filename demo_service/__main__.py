"""Foreground launcher: `python -m demo_service [--service shop|payments|all] ...`.

Each service runs as its own `opentelemetry-instrument` subprocess, exactly as in
production-style zero-code setups; output goes to this terminal and Ctrl-C (or
SIGTERM) stops them all. For background use see `demo_service.runner`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from demo_service.runner import (
    DEFAULT_OTLP_ENDPOINT,
    DEFAULT_PAYMENTS_PORT,
    DEFAULT_SHOP_PORT,
    SERVICES,
    STOP_TIMEOUT_S,
    ServiceName,
    client_url,
    service_command,
    service_env,
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo_service", description=__doc__)
    parser.add_argument("--service", choices=["shop", "payments", "all"], default="all")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--shop-port", type=int, default=DEFAULT_SHOP_PORT)
    parser.add_argument("--payments-port", type=int, default=DEFAULT_PAYMENTS_PORT)
    parser.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_OTLP_ENDPOINT),
        help="OTLP/HTTP base URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT or %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the selected services and wait; returns the first non-zero exit code."""
    args = _parse_args(argv)
    names: list[ServiceName] = list(SERVICES) if args.service == "all" else [args.service]
    ports: dict[ServiceName, int] = {"shop": args.shop_port, "payments": args.payments_port}
    payments_url = client_url(args.host, args.payments_port)

    children: list[subprocess.Popen[bytes]] = []

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        for name in names:
            children.append(
                subprocess.Popen(
                    service_command(name, args.host, ports[name], payments_url),
                    env=service_env(name, args.otlp_endpoint),
                )
            )
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return next((c.returncode for c in children if c.returncode not in (0, None)), 0)


if __name__ == "__main__":
    sys.exit(main())
