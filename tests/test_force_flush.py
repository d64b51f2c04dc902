"""Force-flush only on a stack this project runs, with its key, once per burst; never on a
user's own store URL, a remote one or without the key.

Flushes are counted where the real stores record them: each Victoria* store logs one line
per accepted /internal/force_flush in its log file (`stack logs`)."""

from __future__ import annotations

import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from obs_mcp.clients.flush import flush_allowed
from obs_mcp.config import Settings, StoreConfig
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.core.logs import query_logs
from obs_mcp.core.metrics import query_metrics
from obs_mcp.core.traces import search_traces
from obs_mcp.stack.flushkey import ensure_key
from obs_mcp.stack.runner import Stack
from obs_mcp.stack.settings import StackSettings
from obs_mcp.stack.specs import NO_FLUSH_KEY, ProcessSpec, fit_to_binary, flush_flag
from obs_mcp.timeparse import resolve_window
from tests.otlp_direct import SERVER, SpanSpec, new_id, send_spans

FLUSH_LINE = "flushing storage to make pending data available for reading"
STACK_URL = "http://127.0.0.1:9428"
SCOPE = frozenset({STACK_URL})
STORES = ("victorialogs", "victoriatraces", "victoriametrics")


def _store(url: str = STACK_URL, **more: object) -> StoreConfig:
    return StoreConfig(name="VictoriaLogs", url=url, **more)  # type: ignore[arg-type]


# ---- who may be flushed (pure) ------------------------------------------------------------------
def test_only_the_stacks_own_loopback_urls_with_its_key_are_flushed() -> None:
    assert flush_allowed(_store(), "k3y", SCOPE)
    assert flush_allowed(
        _store("http://localhost:9428/"), "k3y", frozenset({"http://localhost:9428"})
    )
    refused = {
        "no key": (_store(), None),
        "remote host": (_store("http://10.1.2.3:9428"), "k3y"),
        "remote name": (_store("http://logs.example.com:9428"), "k3y"),
        "user's own loopback store": (_store("http://127.0.0.1:19428"), "k3y"),
        "https": (_store("https://127.0.0.1:9428"), "k3y"),
        "credentials in the URL": (_store("http://u:p@127.0.0.1:9428"), "k3y"),
        "bearer token": (_store(bearer_token=SecretStr("t0ken")), "k3y"),
        "extra headers": (_store(headers={"X-Auth": SecretStr("v")}), "k3y"),
        "cluster tenant": (_store(account_id="7"), "k3y"),
    }
    for why, (config, key) in refused.items():
        scope = SCOPE | {"http://u:p@127.0.0.1:9428", "https://127.0.0.1:9428"}
        assert not flush_allowed(config, key, scope), why


def test_the_key_comes_from_the_env_or_the_stacks_key_file(tmp_path: Path) -> None:
    key_file = ensure_key(tmp_path / "state" / "force-flush.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32 and ensure_key(key_file).read_text().strip() == key, "kept, not renewed"
    from_file = Settings.from_env({"OBS_MCP_FORCE_FLUSH_KEY_FILE": str(key_file)})
    assert from_file.force_flush_key is not None
    assert from_file.force_flush_key.get_secret_value() == key
    assert "http://127.0.0.1:8428" in from_file.force_flush_urls, "default: compose/native ports"
    given = Settings.from_env({"OBS_MCP_FORCE_FLUSH_KEY": "abc", "OBS_MCP_FORCE_FLUSH_URLS": "x"})
    assert given.force_flush_key is not None and given.force_flush_urls == frozenset({"x"})
    gone = Settings.from_env({"OBS_MCP_FORCE_FLUSH_KEY_FILE": str(tmp_path / "wiped.key")})
    assert gone.force_flush_key is None
    assert Settings.from_env({}).force_flush_key is None


def test_a_store_binary_without_the_flag_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older build lacking -forceFlushAuthKey: the flag is dropped and the cost named."""
    binary = tmp_path / "old-store"
    binary.write_text(
        "#!/bin/sh\n"
        'case "$1" in --help) printf "  -httpListenAddr array\\n" >&2;;\n'
        "  --version) echo v1.0.0;; esac\n"
    )
    binary.chmod(0o755)
    monkeypatch.setenv("OBS_MCP_CACHE_DIR", str(tmp_path / "cache"))
    spec = ProcessSpec(
        name="victorialogs",
        title="VictoriaLogs",
        program=[str(binary)],
        flags=[flush_flag(StackSettings(state_dir=tmp_path))],
        ports=(1,),
        health_url="http://127.0.0.1:1/health",
        version="",
        wave=0,
    )
    fitted = fit_to_binary(spec, binary)
    assert fitted.flags == []
    assert fitted.notes == [
        f"dropped {spec.dropped[0].arg} (this binary does not know it): {NO_FLUSH_KEY}"
    ]


# ---- on the real stores -----------------------------------------------------------------------
def _log_of(stack: Stack, store: str) -> Path:
    """The process that stores `store`'s rows (vt-compat: the span store behind the adapter)."""
    names = {p.name for p in stack.specs()}
    if store == "victoriatraces" and "vt-backend" in names:
        store = "vt-backend"
    return stack.log_path(store)


def flushes(stack: Stack, store: str) -> int:
    return _log_of(stack, store).read_text(errors="replace").count(FLUSH_LINE)


def _settings(stack: Stack, **env: str) -> Settings:
    return Settings.from_env(stack.settings.store_env() | env)


@pytest.mark.stack
def test_every_store_takes_the_stacks_key_and_refuses_others(native_stack: Stack) -> None:
    s = native_stack.settings
    key = s.flush_key_file.read_text().strip()
    for spec in native_stack.specs():
        if spec.name != "collector" and not spec.program[-1].endswith("vtcompat"):
            assert f"-forceFlushAuthKey=file://{s.flush_key_file}" in spec.argv, spec.name
            assert key not in " ".join(spec.argv), "the key itself never goes on a command line"
    with httpx2.Client(timeout=10) as http:
        for url in s.store_urls:
            assert (
                http.post(f"{url}/internal/force_flush", data={"authKey": key}).status_code == 200
            )
            wrong = http.post(f"{url}/internal/force_flush", data={"authKey": "not-the-key"})
            assert wrong.status_code == 401, url
            assert http.post(f"{url}/internal/force_flush").status_code == 401, url


@pytest.mark.stack
def test_a_burst_of_fresh_queries_flushes_each_store_once(native_stack: Stack) -> None:
    before = {name: flushes(native_stack, name) for name in STORES}

    async def burst(backends: Backends) -> None:
        """30 concurrent queries of the last minute, one store request each."""
        window = resolve_window("1m", None, None)
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(lambda: backends.logs.query("*", window, limit=1))
                group.start_soon(lambda: backends.traces.query("*", window, limit=1))
                group.start_soon(lambda: backends.metrics.instant("up", time.time()))

    async def run() -> None:
        async with open_backends(_settings(native_stack)) as backends:
            await burst(backends)

    anyio.run(run)
    after = {name: flushes(native_stack, name) for name in before}
    assert after == {name: count + 1 for name, count in before.items()}


@pytest.mark.stack
def test_flushed_rows_are_searchable_at_once(native_stack: Stack) -> None:
    """A span written through vt-compat (or into a real VictoriaTraces) and a log line are
    seen by the very first tool call after the write."""
    s = native_stack.settings
    service = f"flush-{new_id(4).hex()}"
    now = time.time_ns()
    span = SpanSpec(service, "GET /fresh", new_id(16), now - 5_000_000, now, SERVER)
    send_spans(f"{s.vt_url}/insert/opentelemetry", [span])  # straight into the span store
    marker = new_id(8).hex()
    line = f'{{"_msg":"fresh {marker}","service.name":"{service}"}}\n'
    httpx2.post(f"{s.vl_url}/insert/jsonline", content=line.encode(), timeout=10).raise_for_status()

    async def run() -> tuple[int, int]:
        async with open_backends(_settings(native_stack)) as backends:
            traces = await search_traces(backends, service, since="1m")
            logs = await query_logs(backends, marker, service, since="1m")
            return len(traces.traces), len(logs.rows)

    assert anyio.run(run) == (1, 1)


@pytest.mark.stack
def test_never_flushed_without_the_key_for_user_urls_or_old_windows(native_stack: Stack) -> None:
    s = native_stack.settings
    before = {name: flushes(native_stack, name) for name in STORES}
    no_key = Settings.from_env({"VL_URL": s.vl_url, "VM_URL": s.vm_url, "VT_URL": s.vt_url})
    # the same stores, but named as a user's own: the key's scope is another stack's URLs
    not_in_scope = _settings(native_stack, OBS_MCP_FORCE_FLUSH_URLS="http://127.0.0.1:9")
    wrong_file = _settings(native_stack, OBS_MCP_FORCE_FLUSH_KEY_FILE=str(s.state_dir / "none"))
    long_ago = time.time() - 3600

    async def calls(settings: Settings, since: str | None, end: str | None) -> None:
        async with open_backends(settings) as backends:
            await query_logs(backends, "*", since=since, end=end, limit=1)
            await search_traces(backends, "no-such-svc", since=since, end=end)
            await query_metrics(backends, "up", end=end)

    async def run() -> None:
        for settings in (no_key, not_in_scope, wrong_file):
            await calls(settings, "1m", None)
        await calls(_settings(native_stack), "10m", str(long_ago))  # ends an hour ago

    anyio.run(run)
    assert {name: flushes(native_stack, name) for name in STORES} == before


class _Recorder(BaseHTTPRequestHandler):
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path.split("?")[0])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent for a UDP connect
            ip = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


@contextmanager
def recorder(ip: str) -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []
    handler = type("Handler", (_Recorder,), {"paths": paths})
    server = ThreadingHTTPServer((ip, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{ip}:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_store_is_never_flushed_even_when_named_in_the_scope() -> None:
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address to play a remote store")
    with recorder(ip) as (url, paths):
        settings = Settings.from_env(
            {"VL_URL": url, "OBS_MCP_FORCE_FLUSH_KEY": "k3y-k3y", "OBS_MCP_FORCE_FLUSH_URLS": url}
        )

        async def run() -> None:
            async with open_backends(settings) as backends:
                await query_logs(backends, "*", since="1m", limit=1)

        anyio.run(run)
    assert paths == ["/select/logsql/query"], "reached, and never asked to flush"
