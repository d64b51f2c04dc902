"""Deep links without a stack: every query survives the URL fragment byte for byte, the time
range reads back as the window, credentials never reach a link (tests/test_deep_links.py
opens them on a running stack)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from obs_mcp.config import Settings
from obs_mcp.core import links
from obs_mcp.timeparse import Window

NASTY = [
    'severity_text:ERROR "a b" | stats count() n',
    '_msg:~"time(d)?out" & # % + ? / = ; \' ` \\ \n tab\there',
    'service.name:="shöp ☕" 100%',
    'sum by (le) (rate(x_bucket{a=~"b|c",d!="#"}[5m]))',
]
WINDOW = Window(
    datetime(2026, 11, 21, 23, 14, 34, 250_000, tzinfo=UTC),
    datetime(2026, 11, 21, 23, 29, 34, 750_000, tzinfo=UTC),
)


def settings(**env: str) -> Settings:
    base = {
        "VM_URL": "http://127.0.0.1:8428",
        "VL_URL": "http://127.0.0.1:9428",
        "VT_URL": "http://127.0.0.1:10428",
    }
    return Settings.from_env({**base, **env})


def fragment(url: str) -> dict[str, str]:
    """What vmui reads: the query string after `#/?`, each key once."""
    hash_part = urlsplit(url).fragment
    assert hash_part.startswith("/?"), url
    parsed = parse_qs(hash_part[2:], keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values()), parsed
    return {k: v[0] for k, v in parsed.items()}


@pytest.mark.parametrize("query", NASTY)
def test_logs_and_spans_links_carry_the_query_exactly(query: str) -> None:
    s = settings()
    for url, base in (
        (links.logs_link(s, query, WINDOW), "http://127.0.0.1:9428/select/vmui/"),
        (links.spans_link(s, query, WINDOW), "http://127.0.0.1:10428/select/vmui/"),
    ):
        assert url.startswith(base + "#/?"), url
        assert " " not in url and "\n" not in url
        params = fragment(url)
        assert params["query"] == query
        assert params["g0.relative_time"] == "none"
        # the window, whole seconds outwards: 23:14:34 .. 23:29:35
        assert params["g0.end_input"] == "2026-11-21T23:29:35Z"
        assert params["g0.range_input"] == "15m1s"


@pytest.mark.parametrize("query", NASTY)
def test_metrics_link_carries_the_query_exactly(query: str) -> None:
    url = links.metrics_link(settings(), query, WINDOW, step_s=30)
    assert url.startswith("http://127.0.0.1:8428/vmui/#/?")
    params = fragment(url)
    assert params["g0.expr"] == query
    assert params["g0.end_input"] == "2026-11-21T23:29:35"  # vmui reads it as UTC
    assert (params["g0.range_input"], params["g0.step_input"]) == ("15m1s", "30s")
    instant = fragment(links.metrics_link(settings(), query, None))
    assert instant == {"g0.expr": query}


def test_credentials_and_vmselect_paths() -> None:
    s = settings(
        VM_URL="https://user:s3cret@vm.example:8481/select/0/prometheus/",
        VL_URL="http://admin:pw@logs.example/",
    )
    vm = links.metrics_link(s, "up", None)
    assert vm.startswith("https://vm.example:8481/select/0/vmui/#/?"), vm
    vl = links.logs_link(s, "*", WINDOW)
    assert vl.startswith("http://logs.example/select/vmui/#/?"), vl
    assert "s3cret" not in vm + vl and "pw@" not in vl


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1s"), (59, "59s"), (60, "1m"), (900.4, "15m1s"), (5400, "1h30m"), (90061, "1d1h1m1s")],
)
def test_duration(seconds: float, text: str) -> None:
    assert links.duration(seconds) == text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("*", "F"),
        ("", "F"),
        ("error", "F (error)"),
        ("a or b", "F (a or b)"),
        ("a | stats count() n", "F (a) | stats count() n"),
        ("* | stats by (x) count()", "F | stats by (x) count()"),
        ('_msg:"a|b" | limit 3', 'F (_msg:"a|b") | limit 3'),
        ("'x|y' or `p|q`", "F ('x|y' or `p|q`)"),
        ('"esc \\" |" x', 'F ("esc \\" |" x)'),
        ("span_id:in(x | fields parent_span_id) | limit 1", "F (span_id:in(x | fields parent_span_id)) | limit 1"),
    ],
)  # fmt: skip
def test_with_filter_keeps_pipes_after_the_filter(query: str, expected: str) -> None:
    assert links.with_filter(query, "F") == expected


def test_trace_links_and_grafana() -> None:
    trace_id = "de9b8a7cf0f6402582d3d5cdab8164ea"
    plain = links.trace_links(settings(), trace_id, WINDOW, logs=False)
    assert set(plain) == {"spans"}
    assert fragment(plain["spans"])["query"] == f'"trace_id":="{trace_id}"'
    full = links.trace_links(
        settings(OBS_MCP_GRAFANA_URL="http://127.0.0.1:3000/"), trace_id, WINDOW, logs=True
    )
    assert set(full) == {"spans", "logs", "trace"}
    grafana = urlsplit(full["trace"])
    assert (grafana.netloc, grafana.path) == ("127.0.0.1:3000", "/explore")
    params = {k: v[0] for k, v in parse_qs(grafana.query, strict_parsing=True).items()}
    assert (params["schemaVersion"], params["orgId"]) == ("1", "1")
    (pane,) = json.loads(params["panes"]).values()
    assert pane["datasource"] == "victoriatraces"
    (query,) = pane["queries"]
    assert query["query"] == trace_id
    assert query["datasource"] == {"type": "jaeger", "uid": "victoriatraces"}
    start_ms, end_ms = int(pane["range"]["from"]), int(pane["range"]["to"])
    assert start_ms <= WINDOW.start.timestamp() * 1000 and end_ms >= WINDOW.end.timestamp() * 1000
    assert (
        end_ms - start_ms
        < (WINDOW.end - WINDOW.start + timedelta(seconds=1)).total_seconds() * 1000
    )
