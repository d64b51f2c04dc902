"""Unit tests of the analysis helpers: message templates, code locations, the verdict rules,
window resolution, collector metrics parsing and schema slimming (no stack needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from obs_mcp.core.compare import resolve_sides, two_proportion_z, verdict
from obs_mcp.core.fields import exception_columns, last_exception, span_events
from obs_mcp.core.health import parse_collector_metrics
from obs_mcp.core.names import closest
from obs_mcp.core.signatures import code_location, message_template, stack_location
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import SideStats
from obs_mcp.schema_slim import slim


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("card 1234 declined", "card <num> declined"),
        ("order 3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b not found", "order <uuid> not found"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736 missing", "trace <hex> missing"),
        ("KeyError: 'usd'", "KeyError: <str>"),
        ('field "email" invalid', "field <str> invalid"),
        ("can't reach 'db-1'", "can't reach <str>"),
        ("GET https://api.example.com/v1/x?id=9 failed", "GET <url> failed"),
        ("mail to bob.smith+x@example.co.uk bounced", "mail to <email> bounced"),
        ("took 12.5 ms (limit 10)", "took <num> ms (limit <num>)"),
        ("decade facade accepted", "decade facade accepted"),  # hex-ish words stay
        ("  many   spaces\nand lines ", "many spaces and lines"),
    ],
)
def test_message_template(message: str, template: str) -> None:
    assert message_template(message) == template


def test_messages_differing_in_ids_share_a_template() -> None:
    a = message_template("user 17 order 0x1f2e3d4c5b failed at 2026-01-02")
    b = message_template("user 9001 order 0xdeadbeef01 failed at 2027-11-30")
    assert a == b == "user <num> order <hex> failed at <num>-<num>-<num>"


def test_stack_location_python_java_js() -> None:
    py = (
        "Traceback (most recent call last):\n"
        '  File "/app/main.py", line 10, in handler\n    charge()\n'
        '  File "/app/pricing.py", line 73, in compute_charge\n    rates[c]\n'
        "KeyError: 'usd'\n"
    )
    assert stack_location(py) == "/app/pricing.py:73 in compute_charge"
    java = "java.lang.IllegalStateException: x\n\tat com.shop.Pay.charge(Pay.java:42)\n\tat a.B.c(B.java:1)"
    assert stack_location(java) == "Pay.java:42 in com.shop.Pay.charge"
    js = "Error: x\n    at charge (/app/pay.js:12:5)\n    at main (/app/index.js:3:1)"
    assert stack_location(js) == "/app/pay.js:12 in charge"
    assert stack_location("ValueError: card 1234 declined\n") is None


def test_code_location_from_attributes() -> None:
    new = {"span_attr:code.function.name": "f", "span_attr:code.file.path": "/a.py",
           "span_attr:code.line.number": "7"}  # fmt: skip
    assert code_location(new) == "/a.py:7 in f"
    old = {"span_attr:code.function": "g", "span_attr:code.filepath": "/b.py"}
    assert code_location(old) == "/b.py in g"
    assert code_location({"span_attr:code.function": "h"}) == "in h"
    assert code_location({}) is None


def side(requests: int, errors: int, p95: float | None = 20.0) -> SideStats:
    return SideStats(requests=requests, errors=errors, error_rate=errors / requests if requests else 0,
                     per_s=1.0, p50_ms=10.0, p95_ms=p95, p99_ms=p95)  # fmt: skip


def test_two_proportion_z() -> None:
    assert two_proportion_z(37, 200, 0, 200) == pytest.approx(-6.385, abs=0.001)
    assert two_proportion_z(0, 100, 0, 100) == 0.0
    assert two_proportion_z(1, 0, 0, 10) is None


def test_verdict_rules() -> None:
    assert verdict(side(200, 37), side(200, 0))[0] == "improved"
    assert verdict(side(200, 0), side(200, 37))[0] == "regressed"
    assert verdict(side(19, 10), side(200, 0))[0] == "insufficient_data"
    assert verdict(side(200, 10), side(200, 12))[0] == "unchanged"  # |z| < 2
    assert verdict(side(200, 0, 20.0), side(200, 0, 23.0))[0] == "unchanged"  # +15% < 20%
    assert verdict(side(200, 0, 20.0), side(200, 0, 30.0))[0] == "regressed"  # +50%
    assert verdict(side(25, 0, 20.0), side(25, 0, 30.0))[0] == "unchanged"  # < 30 samples
    assert verdict(side(200, 37, 20.0), side(200, 0, 40.0))[0] == "mixed"
    assert verdict(side(200, 0, 0.2), side(200, 0, 0.5))[0] == "unchanged"  # < 1 ms


def test_resolve_sides() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    base, cur = resolve_sides("2026-01-02T10:00:00Z", "2026-01-02T11:00:00Z", None, None,
                              None, None, now)  # fmt: skip
    assert (cur.window.start, cur.window.end) == (base.window.end, now)
    base, cur = resolve_sides(None, None, None, None, "r1", "r2", now)
    assert base.run == "r1" and base.window.seconds == 86400 and cur.window.end == now
    with pytest.raises(InvalidArgument, match="baseline_end"):
        resolve_sides("2026-01-02T10:00:00Z", None, None, None, None, None, now)
    with pytest.raises(InvalidArgument, match="current_start"):
        resolve_sides(None, None, None, None, "r1", None, now)


def test_parse_collector_metrics() -> None:
    text = """# HELP x
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 10
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 5
otelcol_receiver_refused_log_records{receiver="otlp"} 2
otelcol_exporter_sent_metric_points{exporter="a"} 7
otelcol_exporter_send_failed_spans{exporter="b"} 1
otelcol_exporter_queue_size{data_type="logs"} 3
otelcol_exporter_queue_size{data_type="traces"} 4
"""
    h = parse_collector_metrics(text, "u")
    assert h.accepted == {"traces": 15} and h.refused == {"logs": 2}
    assert h.sent == {"metrics": 7} and h.send_failed == {"traces": 1} and h.queue_size == 7


def test_closest_names() -> None:
    assert closest("chekout", ["checkout", "payments", "Checkout-v2"])[0] == "checkout"
    assert closest("SHOP", ["shop"]) == ["shop"]
    assert closest("shopp", ["payments", "shop"]) == ["shop"]
    assert closest("zzz", ["shop"]) == []


def test_slim_keeps_meaning() -> None:
    schema = {
        "title": "R", "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "p95": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None,
                    "title": "P95", "description": "ms"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/X"}},
        },
        "required": ["title"], "$defs": {"X": {"type": "object"}},
    }  # fmt: skip
    assert slim(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "p95": {"description": "ms", "type": ["number", "null"]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/X"}},
        },
        "required": ["title"], "$defs": {"X": {"type": "object"}},
    }  # fmt: skip
    out = slim(schema, output=True)
    assert "required" not in out and "$defs" not in out
    # output: names and types only (answers carry no nulls; nested models read in the answer)
    assert out["properties"]["items"] == {"type": "array"}
    assert out["properties"]["p95"] == {"type": "number"}


def test_exception_events_in_both_layouts() -> None:
    """Releases (and vt-compat) name event i `event:<field>:<i>`; pre-release builds of
    VictoriaTraces `event:<i>:<field>`: the last exception event is read from either."""
    released = {
        "event:event_name:0": "log",
        "event:event_attr:message:0": "retrying",
        "event:event_name:1": "exception",
        "event:event_attr:exception.type:1": "KeyError",
        "event:event_attr:exception.message:1": "'usd'",
        "event:event_attr:exception.stacktrace:1": "Traceback ...",
        "span_attr:http.route": "/api/charge",
    }
    pre_release = {
        "event:0:event_name": "log",
        "event:1:event_name": "exception",
        "event:1:event_attr:exception.type": "KeyError",
        "event:1:event_attr:exception.message": "'usd'",
        "event:1:event_attr:exception.stacktrace": "Traceback ...",
    }
    for row in (released, pre_release):
        assert last_exception(row) == ("KeyError", "'usd'", "Traceback ...")
        assert span_events(row)[0]["event_name"] == "log"
    assert last_exception({"event:event_name:0": "log"}) == (None, None, None)
    columns = exception_columns("type")
    assert "event:event_attr:exception.type:*" in " ".join(columns)
    assert any("event:7:event_attr:exception.type" in c for c in columns)
    assert not any("stacktrace" in c for c in columns)
