"""wait_for_data on the real stack: it returns as soon as data is queryable (measured against
a direct store query running alongside), counts requests by the one definition, streams
MCP progress while it waits, and times out with the pipeline's diagnosis."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
from mcp import Client

from obs_mcp.server import mcp
from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from tests.answers import call, full_answer, ok, text_of
from tests.known_telemetry import MS, OBS_MCP, logsql_count, process_env
from tests.otlp_direct import CLIENT, SERVER, LogSpec, SpanSpec, new_id, send_logs, send_spans

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]

N = 20
EMIT_AFTER_S = 1.5


def requests_of(service: str, count: int, run: str | None = None) -> list[SpanSpec]:
    now = time.time_ns()
    attrs: dict[str, str | int] = {"run.id": run} if run else {}
    return [
        SpanSpec(service, "GET /w", new_id(16), now - 5 * MS, now, SERVER, attributes=attrs)
        for _ in range(count)
    ]


def logs_of(service: str, count: int, run: str | None = None) -> list[LogSpec]:
    attrs: dict[str, str | int] = {"run.id": run} if run else {}
    return [LogSpec(service, time.time_ns(), f"w {i}", attributes=attrs) for i in range(count)]


@dataclass
class Watch:
    """A direct store query polling every 50 ms: when did all N become queryable?"""

    vt_url: str
    vl_url: str
    service: str
    seen_at: dict[str, float] = field(default_factory=dict)

    def run(self, deadline: float) -> None:
        spans_q = f'"resource_attr:service.name":="{self.service}" kind:=2'
        logs_q = f'"service.name":="{self.service}"'
        while time.monotonic() < deadline and len(self.seen_at) < 2:
            for name, base, query in (
                ("spans", self.vt_url, spans_q),
                ("logs", self.vl_url, logs_q),
            ):
                if name not in self.seen_at and logsql_count(base, query) >= N:
                    self.seen_at[name] = time.monotonic()
            time.sleep(0.05)


async def test_returns_within_a_second_of_the_data_and_reports_progress(
    native_stack: Stack,
) -> None:
    s = native_stack.settings
    service = f"wait-{uuid.uuid4().hex[:8]}"
    watch = Watch(s.vt_url, s.vl_url, service)
    progress: list[tuple[float, float | None, str | None]] = []

    emitted: list[float] = []

    def emit() -> None:
        send_spans(s.otlp_http_url, requests_of(service, N))
        send_logs(s.otlp_http_url, logs_of(service, N))

    threads = [threading.Thread(target=emit)]

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))
        if done >= EMIT_AFTER_S and not emitted:  # the call has been waiting a while by now
            emitted.append(time.monotonic())
            threads[0].start()

    started = time.monotonic()
    watcher = threading.Thread(target=watch.run, args=(started + 30,))
    watcher.start()
    threads.append(watcher)
    async with Client(mcp) as client:
        result = await client.call_tool(
            "wait_for_data",
            {"service": service, "min_requests": N, "min_logs": N, "timeout": 25},
            progress_callback=on_progress,
        )
    returned = time.monotonic()
    for thread in threads:
        thread.join()
    assert not result.is_error, text_of(result)
    r = full_answer("wait_for_data", result.structured_content)
    assert (r["arrived"], r["requests"], r["logs"]) == (True, N, N), json.dumps(r)[:3000]
    assert r["newest_request"] and r["newest_log"] and r["health"] is None
    assert set(watch.seen_at) == {"spans", "logs"}, "the direct query never saw the data"
    queryable = max(watch.seen_at.values())
    lag = returned - queryable
    print(
        f"\nwait_for_data: returned {returned - started:.3f}s after the call, "
        f"{lag:+.3f}s after a direct query first saw all {N} spans and logs"
    )
    assert lag < 1.0
    assert emitted and returned > emitted[0]  # it did wait for the data
    # progress: while waiting, with the timeout as total, counts in the message, time rising
    assert len(progress) >= 2, progress
    assert all(total == 25 for _, total, _ in progress)
    assert [p for p, _, _ in progress] == sorted(p for p, _, _ in progress)
    assert progress[0][2] == f"0/{N} requests, 0/{N} log lines"

    # data that ended before the call is not "new" ...
    old = await ok("wait_for_data", {"service": service, "timeout": 1})
    assert (old["arrived"], old["requests"]) == (False, 0)
    assert "The pipeline is up (VictoriaTraces newest " in old["hint"]
    assert "metrics" not in old["hint"]  # nobody waits for them here
    # ... unless the call counts from earlier
    earlier = await ok("wait_for_data", {"service": service, "since": "5m", "timeout": 5})
    assert (earlier["arrived"], earlier["requests"], earlier["logs"]) == (True, N, N)
    assert earlier["waited_s"] < 1.0


async def test_run_id_counts_requests_by_the_one_definition(native_stack: Stack) -> None:
    """Two services, one run: an outer + nested SERVER span of one request count once, the
    callee's SERVER span under a CLIENT span is a request of its own."""
    s = native_stack.settings
    run = f"run-{uuid.uuid4().hex[:8]}"
    front, back = f"wf-{uuid.uuid4().hex[:6]}", f"wb-{uuid.uuid4().hex[:6]}"
    started = time.time()
    now = time.time_ns()
    specs: list[SpanSpec] = []
    for _ in range(5):
        trace = new_id(16)
        outer = SpanSpec(front, "POST /buy", trace, now - 40 * MS, now, SERVER)
        inner = SpanSpec(front, "buy", trace, now - 39 * MS, now - MS, SERVER, outer.span_id)
        out = SpanSpec(front, "POST", trace, now - 30 * MS, now - 10 * MS, CLIENT, inner.span_id)
        callee = SpanSpec(
            back, "POST /pay", trace, now - 29 * MS, now - 11 * MS, SERVER, out.span_id
        )
        specs += [outer, inner, out, callee]
    send_spans(s.otlp_http_url, specs, resource={"run.id": run})
    send_logs(s.otlp_http_url, logs_of(front, 3, run))
    r = await ok(
        "wait_for_data",
        {
            "run_id": run,
            "min_requests": 10,
            "min_logs": 3,
            "start": f"{started - 5:.3f}",
            "timeout": 20,
        },
    )
    assert (r["arrived"], r["requests"], r["logs"]) == (True, 10, 3), r
    one = await ok(
        "wait_for_data", {"service": front, "run_id": run, "start": f"{started - 5:.3f}"}
    )
    assert one["requests"] == 5
    more = await ok(
        "wait_for_data",
        {"run_id": run, "min_requests": 11, "start": f"{started - 5:.3f}", "timeout": 1.5},
    )
    assert (more["arrived"], more["requests"]) == (False, 10)
    assert re.match(r"Timed out after (\d+\.\d)s waiting for 11 requests of run\.id=", more["hint"])
    assert float(more["hint"].split()[3].removesuffix("s")) >= 1.5  # the wait, never less


async def test_times_out_with_the_pipeline_diagnosis_when_a_store_is_down(
    native_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    monkeypatch.setenv("VT_URL", dead)
    began = time.monotonic()
    r = await ok("wait_for_data", {"service": "anything", "timeout": 2})
    took = time.monotonic() - began
    assert r["arrived"] is False and 2.0 <= r["waited_s"] < 3.0
    assert took < 2 + 5 + 1  # the wait, then stack_health's own bounded checks
    traces = next(st for st in r["health"]["stores"] if st["store"] == "VictoriaTraces")
    assert (traces["up"], traces["url"]) == (False, dead)
    assert f"VictoriaTraces down at {dead}" in r["hint"]
    assert any("VictoriaTraces" in w and "unreachable" in w for w in r["warnings"])
    print(f"\ntimeout answer: {len(json.dumps(r))} chars; hint: {r['hint'][:300]}")


async def test_bad_arguments() -> None:
    for args in ({}, {"service": "x", "timeout": 31}, {"service": "x", "min_requests": 0}):
        result = await call("wait_for_data", args)
        assert result.is_error, args
    nothing = await call("wait_for_data", {})
    assert "give a service, a run_id, or both" in text_of(nothing)


def test_cli_wait_exits_1_on_timeout_with_progress(native_stack: Stack) -> None:
    done = subprocess.run(
        [OBS_MCP, "wait", f"nobody-{uuid.uuid4().hex[:6]}", "--timeout", "1.2"],
        env=process_env(native_stack), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "timed out" in done.stdout and "0/1 requests" in done.stderr


@pytest.mark.vtcompat  # the refusal used is VictoriaLogs' (via vt-compat): see test_poison_batch
async def test_names_failed_deliveries_of_the_wait_not_of_the_past(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch the store refused before the call is history, one refused while it waits is
    the answer -- a cumulative counter read once cannot tell them apart. On a stack of its
    own: refusals count and log per process."""
    from tests.faultkit import own_stack
    from tests.test_poison_batch import BEYOND_INT64_NS, _export, _failed_spans, _wait_failed

    with own_stack() as stack:
        for key, value in stack.settings.store_env().items():
            monkeypatch.setenv(key, value)
        otlp, service = stack.settings.otlp_http_url, f"poisoned-{uuid.uuid4().hex[:6]}"
        _export(otlp, service, BEYOND_INT64_NS)
        _wait_failed(stack, 1)
        quiet = await ok("wait_for_data", {"service": service, "timeout": 1})
        assert quiet["arrived"] is False
        assert "failed to deliver" not in quiet["hint"], quiet["hint"]

        poisoned: list[threading.Thread] = []

        async def poison_once_waiting(done: float, total: float | None, msg: str | None) -> None:
            if not poisoned:  # the first progress: the call took its baseline and polls
                poisoned.append(
                    threading.Thread(target=_export, args=(otlp, service, BEYOND_INT64_NS))
                )
                poisoned[0].start()

        async with Client(mcp) as client:
            result = await client.call_tool(
                "wait_for_data", {"service": service, "timeout": 10},
                progress_callback=poison_once_waiting,
            )  # fmt: skip
        poisoned[0].join()
        r = full_answer("wait_for_data", result.structured_content)
        assert _failed_spans(stack) == 2
        assert "failed to deliver {'traces': 1} to the stores while this call waited" in r["hint"]
