"""`obs-mcp demo run` (what `make demo` runs) end to end, on the isolated test stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_demo_run_prints_a_verified_table_and_the_fix(native_stack: Stack) -> None:
    env = dict(os.environ, OBS_MCP_STATE_DIR=str(native_stack.state_dir), NO_COLOR="1")
    for name, port in asdict(native_stack.settings.ports).items():
        env[f"OBS_MCP_PORT_{name.upper()}"] = str(port)
    run = subprocess.run(
        [sys.executable, "-m", "obs_mcp.cli", "demo", "run", "--requests", "300",
         "--shop-port", str(free_port()), "--payments-port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "MISMATCH" not in out
    table = out[out.index("verified: MCP tools vs. the workload's ground truth") :]
    for figure in ("services seen", "requests", "errors (HTTP 5xx)", "error rate"):
        line = next(ln for ln in table.splitlines() if ln.lstrip("│ ").startswith(figure))
        assert "match" in line, line
    assert "exception: KeyError" in out
    assert "log [payments] ERROR" in out and "log [shop] ERROR" in out
    assert "-> 0.0%" in out
    assert "compare_runs (by run id): improved" in out
    # Each fix is a patch applied to the scratch copy, shown as the lines it changes.
    assert "fix 1/2:" in out and "+    rate = FX_RATES[code]" in out
    assert "fix 2/2:" in out and "demo_service/shop.py" in out
    assert "compare_runs (by run id, POST /api/checkout):" in out
    assert re.search(r"span: shop SELECT products: [\d.]+ -> 1 calls per request", out), out
    assert "AGENTS.md" in out
    # the demo ends by writing the before/after report (tests/test_report.py looks inside)
    report = Path(out.split("before/after report: ", 1)[1].split("\n", 1)[0].strip())
    embedded = report.read_text().split('id="report-data">', 1)[1].split("</script>", 1)[0]
    data = json.loads(embedded)
    assert data["compare"]["verdict"] == "improved"
    assert [s["label"] for s in data["sides"]] == ["baseline", "current"]
    assert all(sum(p["requests"] for p in s["series"]["points"]) for s in data["sides"])
