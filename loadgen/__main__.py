"""CLI: `python -m loadgen --requests N --concurrency C --seed S [--url ...] [--json-out PATH]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from rich.console import Console

from loadgen.workload import new_run_id, render_summary, run_workload


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen",
        description="Send a seeded, realistic request mix to the demo shop and print ground truth.",
    )
    parser.add_argument("--requests", type=int, default=500, help="total requests (default 500)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel workers (default 8)")
    parser.add_argument("--seed", type=int, default=42, help="plan seed (default 42)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="shop base URL")
    parser.add_argument("--run-id", default=None, help="tag for this run (default: random hex)")
    parser.add_argument("--json-out", type=Path, default=None, help="write the summary as JSON")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.requests < 0 or args.concurrency < 1:
        parser.error("--requests must be >= 0 and --concurrency >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the workload; exit 2 when not a single request got a response."""
    args = _parse_args(argv)
    run_id = args.run_id or new_run_id()
    summary = asyncio.run(
        run_workload(
            args.url,
            args.requests,
            args.concurrency,
            args.seed,
            run_id=run_id,
            progress=not args.no_progress,
            request_timeout=args.timeout,
        )
    )
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # piped output: do not squeeze the table into 80 columns
    console.print(render_summary(summary))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(summary.model_dump_json(indent=2) + "\n")
    if summary.total_requests and summary.transport_errors == summary.total_requests:
        Console(stderr=True).print(f"[red]no response from {args.url}: is the shop running?")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
