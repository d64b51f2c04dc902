"""Sources the collector and VictoriaMetrics take from apps with no OTLP: a tailed log file
(plain and JSON lines) and a scraped `/metrics` endpoint, on a stack of their own.

Each line written is counted back from VictoriaLogs (once, with its severity and fields),
also across a collector restart with lines written while it was down; the scraped counter
is read back from VictoriaMetrics under its service name; the compose rendering of the
same sources file loads with compose-go and validates with the collector binary.
"""

from __future__ import annotations

import http.server
import json
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from obs_mcp.cli import main as cli_main
from obs_mcp.stack.components import COLLECTOR, resolve_binary
from obs_mcp.stack.errors import StackError
from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack, StackPorts, StackSettings
from obs_mcp.stack.sources import collector_fragment, load_sources
from obs_mcp.stack.sources_compose import render_compose, static_dir
from obs_mcp.stack.versions import collector_config_path
from tests.answers import ok
from tests.faultkit import kill_component
from tests.known_telemetry import logsql, logsql_count
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")


class Counter(http.server.BaseHTTPRequestHandler):
    """A `/metrics` endpoint in Prometheus text: one counter the test sets."""

    value = 0

    def do_GET(self) -> None:
        if self.path != "/custom/metrics":
            self.send_error(404)
            return
        body = f"# TYPE jobs_done_total counter\njobs_done_total {self.value}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@dataclass
class SourcesStack:
    stack: Stack
    log_file: Path
    file_service: str
    scrape_service: str
    scrape_port: int
    written: list[tuple[str, str, dict[str, str]]]  # (id, severity, JSON fields)

    def write(self, n: int, start: int) -> None:
        """n lines, alternating plain and JSON, each with a unique id and a level."""
        with self.log_file.open("a") as out:
            for i in range(start, start + n):
                line_id, level = f"line-{uuid.uuid4().hex[:8]}", LEVELS[i % len(LEVELS)]
                if i % 2:
                    fields = {"order_id": str(i), "region": "eu"}
                    doc = {"level": level.lower(), "msg": f"{line_id} json", **fields}
                    out.write(json.dumps(doc) + "\n")
                    self.written.append((line_id, level, fields))
                else:
                    out.write(f"2026-12-02 12:00:{i % 60:02d} {level} {line_id} plain\n")
                    self.written.append((line_id, level, {}))


@pytest.fixture(scope="module")
def sources_stack() -> Iterator[SourcesStack]:
    state_dir = Path(tempfile.mkdtemp(prefix="obs-mcp-test-sources-"))
    run = uuid.uuid4().hex[:8]
    log_file = state_dir / "app" / "app.log"
    log_file.parent.mkdir()
    port = free_port("127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (state_dir / "sources.toml").write_text(
        f'[[file]]\npath = "{log_file}"\nservice = "tail-{run}"\n\n'
        f'[[scrape]]\ntarget = "127.0.0.1:{port}"\nservice = "scrape-{run}"\n'
        'path = "/custom/metrics"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OBS_MCP_SOURCES", raising=False)
        stack = Stack(
            StackSettings(state_dir=state_dir, ports=StackPorts.free(), die_with_parent=True)
        )
        try:
            stack.up(install=False)
            yield SourcesStack(stack, log_file, f"tail-{run}", f"scrape-{run}", port, [])
        finally:
            server.shutdown()
            stack.down(wipe=True, grace_seconds=5)
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def tools_on_sources(sources_stack: SourcesStack, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sources_stack.stack.settings.store_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OBS_MCP_STATE_DIR", str(sources_stack.stack.state_dir))
    monkeypatch.delenv("OBS_MCP_SOURCES", raising=False)


def _stored(src: SourcesStack) -> list[dict[str, str]]:
    query = f'"service.name":="{src.file_service}"'
    return logsql(src.stack.settings.vl_url, query, start="1d", limit="10000")


def _wait_all_lines(src: SourcesStack) -> list[dict[str, str]]:
    """Every written line stored exactly once (fails at once on a duplicate)."""
    query = f'"service.name":="{src.file_service}"'

    def settled() -> bool:
        count = logsql_count(src.stack.settings.vl_url, query)
        assert count <= len(src.written), f"{count} rows for {len(src.written)} lines written"
        return count == len(src.written)

    wait_for(settled, timeout=45, interval=0.25)
    return _stored(src)


def _check_rows(src: SourcesStack, rows: list[dict[str, str]]) -> None:
    by_id: dict[str, dict[str, str]] = {}
    for row in rows:
        line_id = next((w for w in row["_msg"].split() if w.startswith("line-")), row["_msg"])
        assert line_id not in by_id, f"line {line_id} stored twice"
        by_id[line_id] = row
    assert set(by_id) == {line_id for line_id, _, _ in src.written}
    for line_id, level, fields in src.written:
        row = by_id[line_id]
        assert row.get("severity_text") == level, (line_id, row)
        assert row.get("log.file.path") == str(src.log_file), row
        for key, value in fields.items():
            assert row.get(key) == value, (line_id, key, row)
        if fields:  # a JSON line's `msg` is its message, not the whole document
            assert row["_msg"] == f"{line_id} json", row


@pytest.mark.usefixtures("tools_on_sources")
async def test_tailed_file_lines_arrive_once_with_severity_and_fields(
    sources_stack: SourcesStack,
) -> None:
    src = sources_stack
    src.write(12, start=len(src.written))
    rows = _wait_all_lines(src)
    _check_rows(src, rows)
    # through the tool, by service, with the right severity
    errors = await ok(
        "query_logs",
        {"query": "severity_text:ERROR", "service": src.file_service, "since": "1h"},
    )
    expected = sum(1 for _, level, _ in src.written if level == "ERROR")
    assert errors["returned"] == expected and all(
        r["severity"] == "ERROR" for r in errors["rows"]
    ), errors


def test_collector_restart_neither_resends_nor_loses_lines(sources_stack: SourcesStack) -> None:
    src = sources_stack
    src.write(6, start=len(src.written))
    _wait_all_lines(src)
    kill_component(src.stack, "collector", signal.SIGTERM)
    src.write(8, start=len(src.written))  # written while no collector runs
    src.stack.up(install=False)
    src.write(4, start=len(src.written))
    _check_rows(src, _wait_all_lines(src))


@pytest.mark.usefixtures("tools_on_sources")
async def test_scraped_counter_is_in_victoriametrics_under_its_service(
    sources_stack: SourcesStack,
) -> None:
    Counter.value = 4242
    src = sources_stack
    query = f'jobs_done_total{{service_name="{src.scrape_service}"}}'

    async def seen() -> dict[str, Any] | None:
        answer = await ok("query_metrics", {"query": query})
        values = [s["value"] for s in answer["series"]] if answer["series"] else []
        return answer if values == [4242.0] else None

    answer = None
    for _ in range(60):  # scraped every 5 s
        if answer := await seen():
            break
        await anyio.sleep(0.5)
    assert answer, f"{query} never read 4242"
    labels = answer["series"][0]["labels"]
    assert labels.get("job") == "apps" and labels.get("instance") == f"127.0.0.1:{src.scrape_port}"


@pytest.mark.usefixtures("tools_on_sources")
def test_stack_sources_says_each_source_delivers(
    sources_stack: SourcesStack, capsys: pytest.CaptureFixture[str]
) -> None:
    src = sources_stack
    if not src.written:
        src.write(2, start=0)
        _wait_all_lines(src)
    state = ["stack", "--state-dir", str(src.stack.state_dir), "sources"]
    code = wait_for(lambda: cli_main(state) == 0 or None, timeout=30, interval=1)
    assert code
    printed = capsys.readouterr().out
    assert src.file_service in printed and src.scrape_service in printed, printed
    assert "restart the stack" not in printed, printed


# ---- the sources file and its compose rendering (no stack) -----------------------------------


def test_sources_file_errors_name_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text('[[file]]\npath = "relative.log"\nservice = "x"\n')
    with pytest.raises(StackError, match="absolute path"):
        load_sources(bad)
    bad.write_text('[[scrape]]\ntarget = "http://127.0.0.1:9100/metrics"\nservice = "x"\n')
    with pytest.raises(StackError, match="host:port"):
        load_sources(bad)
    bad.write_text('[[scrap]]\ntarget = "127.0.0.1:9100"\nservice = "x"\n')
    with pytest.raises(StackError, match="scrap"):
        load_sources(bad)
    assert load_sources(tmp_path / "missing.toml").files == []


def test_static_dir_is_what_compose_mounts() -> None:
    assert static_dir("/var/log/app/app.log") == "/var/log/app"
    assert static_dir("/var/log/app/*.log") == "/var/log/app"
    assert static_dir("/srv/*/logs/app.log") == "/srv"


def _collector() -> Path:
    found = resolve_binary(COLLECTOR)
    if found is None:
        pytest.skip("no collector binary: run `obs-mcp stack install`")
    return found.path


def test_rendered_configs_validate_with_the_collector_binary(tmp_path: Path) -> None:
    sources_file = tmp_path / "sources.toml"
    sources_file.write_text(
        '[[file]]\npath = "/var/log/shop/*.log"\nservice = "shop"\n\n'
        '[[file]]\npath = "/var/log/shop/audit.json"\nservice = "audit"\n\n'
        '[[scrape]]\ntarget = "127.0.0.1:9100"\nservice = "shop"\n'
    )
    sources = load_sources(sources_file)
    native = tmp_path / "native.json"
    native.write_text(json.dumps(collector_fragment(sources, str(tmp_path / "offsets"))))
    override = render_compose(sources, tmp_path / "compose")
    for fragment in (native, tmp_path / "compose" / "collector.json"):
        checked = subprocess.run(
            [str(_collector()), "validate", f"--config={collector_config_path()}",
             f"--config={fragment}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert checked.returncode == 0, (fragment, checked.stderr)
    rendered = json.loads(override.read_text())["services"]
    collector = rendered["otel-collector"]
    inside = json.loads((tmp_path / "compose" / "collector.json").read_text())["receivers"]
    includes = sorted(r["include"][0] for r in inside.values())
    assert includes == ["/sources/files/0/*.log", "/sources/files/0/audit.json"]
    mounts = {v["target"]: v for v in collector["volumes"]}
    assert mounts["/sources/files/0"]["source"] == "/var/log/shop"
    assert mounts["/sources/files/0"]["read_only"] is True
    targets = json.loads((tmp_path / "compose" / "scrape-targets.json").read_text())
    assert targets[0]["targets"] == ["host.docker.internal:9100"]
    assert targets[0]["labels"]["instance"] == "127.0.0.1:9100"  # the same label as native
    assert "host.docker.internal:host-gateway" in rendered["victoriametrics"]["extra_hosts"]


def test_compose_override_loads_with_compose_go(compose_go_loader: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    sources_file = tmp_path / "sources.toml"
    sources_file.write_text('[[file]]\npath = "/var/log/shop/app.log"\nservice = "shop"\n')
    override = render_compose(load_sources(sources_file), tmp_path / "compose")
    loaded = subprocess.run(
        [str(compose_go_loader), str(root / "compose" / "docker-compose.yml"),
         str(root / "compose"), str(override)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    services = yaml.safe_load(loaded.stdout)["services"]
    collector = services["otel-collector"]
    assert collector["command"][-1] == "--config=/etc/otelcol/sources.json"
    targets = {v["target"]: v["source"] for v in collector["volumes"]}
    assert targets["/etc/otelcol/config.yaml"].endswith("collector/config.yaml")  # kept
    assert targets["/sources/files/0"] == "/var/log/shop"
    vm = {v["target"]: v["source"] for v in services["victoriametrics"]["volumes"]}
    assert vm["/etc/victoriametrics/scrape-targets.json"] == str(
        tmp_path / "compose" / "scrape-targets.json"
    )  # the override's file replaces compose's empty one
