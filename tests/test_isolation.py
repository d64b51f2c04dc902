"""The session's environment points nowhere until a test names its stack (tests/isolation.py)."""

from __future__ import annotations

import subprocess
import sys

from obs_mcp.config import Settings
from obs_mcp.stack.runner import default_state_dir
from tests.isolation import DEAD_URL


def test_store_urls_and_state_dir_point_nowhere() -> None:
    settings = Settings.from_env()
    assert {settings.logs.url, settings.metrics.url, settings.traces.url} == {DEAD_URL}
    assert settings.collector_metrics_url == DEAD_URL
    assert not (default_state_dir() / "stack.json").exists()  # no user's stack to attach to


def test_an_unpointed_query_fails_with_a_sentence() -> None:
    """What a test that forgot its stack gets: a refusal that names the store and the URL."""
    run = subprocess.run(
        [sys.executable, "-m", "obs_mcp.cli", "services", "--since", "5m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert f"({DEAD_URL})" in run.stdout + run.stderr, run.stdout + run.stderr
