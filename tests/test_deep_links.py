"""Deep links on a running stack: each opens a UI that answers 200, and the query it carries,
run against the store over the range it carries, gives what the tool answered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest

from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import parse_duration
from tests.answers import ok
from tests.known_telemetry import Small, logsql, promql_instant
from tests.otel_emit import emitter
from tests.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]


def opened(url: str) -> dict[str, str]:
    """GET the page (a browser sends no fragment) and return the fragment's parameters."""
    parts = urlsplit(url)
    page = httpx2.get(parts._replace(fragment="").geturl(), timeout=10)
    assert page.status_code == 200, (url, page.status_code)
    assert "<html" in page.text.lower(), page.text[:200]
    assert parts.fragment.startswith("/?"), url
    return {k: v[0] for k, v in parse_qs(parts.fragment[2:], strict_parsing=True).items()}


def carried_range(params: dict[str, str]) -> tuple[float, float]:
    end_text = params["g0.end_input"]
    end = datetime.fromisoformat(end_text.replace("Z", "+00:00"))
    end = end if end.tzinfo else end.replace(tzinfo=UTC)  # vmui reads a zone-less end as UTC
    start = end - parse_duration(params["g0.range_input"])
    assert params["g0.relative_time"] == "none"
    return start.timestamp(), end.timestamp()


def run_logsql(base: str, params: dict[str, str]) -> list[dict[str, str]]:
    start, end = carried_range(params)
    return logsql(base, params["query"], start=f"{start:.0f}", end=f"{end:.0f}")


@pytest.fixture(scope="module")
def metric_service(native_stack: Stack) -> str:
    service = f"links-{uuid.uuid4().hex[:8]}"
    em = emitter(native_stack.settings.otlp_http_url, service)
    em.meter.create_counter("link.checks").add(7)
    em.flush()
    em.shutdown()
    wait_for(
        lambda: promql_instant(
            native_stack.settings.vm_url, f'link_checks_total{{service_name="{service}"}}'
        ),
        timeout=60,
        interval=0.5,
    )
    return service


async def test_query_logs_link(small: Small, native_stack: Stack) -> None:
    r = await ok(
        "query_logs",
        {"query": "severity_text:ERROR | stats count() n", "service": small.service, "since": "1h"},
    )
    params = opened(r["links"]["logs"])
    assert params["query"].startswith(f'"service.name":="{small.service}" (severity_text:ERROR)')
    direct = run_logsql(native_stack.settings.vl_url, params)
    assert [row["n"] for row in direct] == [r["rows"][0]["attributes"]["n"]] == [str(small.errors)]
    lines = await ok("query_logs", {"query": "failed", "service": small.service, "since": "1h"})
    direct = run_logsql(native_stack.settings.vl_url, opened(lines["links"]["logs"]))
    assert sorted(d["_msg"] for d in direct) == sorted(x["message"] for x in lines["rows"])
    assert len(direct) == small.errors
    empty = await ok("query_logs", {"query": "no-such-words-xyz", "service": small.service})
    assert empty["links"] == {}  # nothing to open


async def test_query_metrics_link(metric_service: str, native_stack: Stack) -> None:
    query = f'sum(link_checks_total{{service_name="{metric_service}"}})'
    args = {"query": query, "since": "10m", "step": "30s"}
    # a range step that lies after the only sample is computed once it is 1 s in the past
    for _ in range(120):
        r = await ok("query_metrics", args)
        if r["series"]:
            break
        await anyio.sleep(0.5)
    params = opened(r["links"]["vmui"])
    assert params["g0.expr"] == query and params["g0.step_input"] == "30s"
    start, end = carried_range(params)
    asked = [
        datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        for t in r["window"].split(" .. ")
    ]
    assert start <= asked[0] < start + 1 and end - 1 < asked[1] <= end  # whole seconds outwards
    data = httpx2.get(
        f"{native_stack.settings.vm_url}/api/v1/query",
        params={"query": params["g0.expr"], "time": end},
        timeout=10,
    ).json()["data"]["result"]
    assert [float(d["value"][1]) for d in data] == [r["series"][0]["values"][-1][1]] == [7.0]
    instant = await ok("query_metrics", {"query": query})
    assert opened(instant["links"]["vmui"]) == {"g0.expr": query}


async def test_trace_links(small: Small, native_stack: Stack) -> None:
    found = await ok(
        "search_traces", {"service": small.service, "errors_only": True, "since": "1h"}
    )
    spans_q = opened(found["links"]["spans"])
    direct = run_logsql(native_stack.settings.vt_url, spans_q)
    assert {row["trace_id"] for row in direct} == {t["trace_id"] for t in found["traces"]}
    trace = await ok("correlate_trace", {"trace_id": small.error_trace_id})
    assert set(trace["links"]) == {"spans", "logs"}  # no Grafana configured here
    spans = run_logsql(native_stack.settings.vt_url, opened(trace["links"]["spans"]))
    assert len(spans) == trace["span_count"]
    logs = run_logsql(native_stack.settings.vl_url, opened(trace["links"]["logs"]))
    assert len(logs) == trace["log_count"] >= 1


async def test_links_stay_small(small: Small) -> None:
    r = await ok("correlate_trace", {"trace_id": small.error_trace_id})
    chars = sum(len(url) for url in r["links"].values())
    print(f"\ncorrelate_trace links: {chars} chars ~ {chars // 4} tokens")
    assert chars // 4 < 150
