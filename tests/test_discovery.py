"""list_fields on known telemetry: exactly the keys emitted, with the store's exact counts.

Spans and logs are built by hand (tests/otlp_direct.py) and sent through the real collector;
every expected key, hit count and value is computed from that plan, not read from a store.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest

from obs_mcp.stack.runner import Stack
from tests.answers import call, ok, text_of
from tests.known_telemetry import MS, OBS_MCP, process_env, wait_for_count
from tests.otlp_direct import (
    CLIENT,
    INTERNAL,
    SERVER,
    LogSpec,
    SpanSpec,
    new_id,
    send_logs,
    send_spans,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]

TICKS = 1100  # past the 1000 distinct values list_fields counts exactly
LONG = "SELECT items.id, items.name FROM items WHERE items.id = ? -- " + "x" * 1500


@dataclass
class Plan:
    service: str
    span_attrs: list[dict[str, str | int]] = field(default_factory=list)
    resource: dict[str, str] = field(default_factory=dict)
    log_attrs: list[dict[str, str | int]] = field(default_factory=list)

    def span_hits(self) -> dict[str, int]:
        """Reference: every span attribute (plain name) and resource attribute (prefixed),
        the service itself left out; hits = spans carrying it."""
        hits = Counter(key for attrs in self.span_attrs for key in attrs)
        spans = len(self.span_attrs)
        return {**dict(hits), **{f"resource_attr:{k}": spans for k in self.resource}}

    def values(self, key: str, rows: list[dict[str, str | int]]) -> dict[str, int]:
        return dict(Counter(str(r[key]) for r in rows if key in r))


@pytest.fixture(scope="module")
def plan(native_stack: Stack) -> Plan:
    s = native_stack.settings
    p = Plan(service=f"fields-{uuid.uuid4().hex[:10]}", resource={"deployment.environment": "test"})
    now = time.time_ns()
    specs: list[SpanSpec] = []
    for i in range(12):
        trace = new_id(16)
        attrs: dict[str, str | int] = {
            "http.route": "/items",
            "http.response.status_code": 500 if i < 3 else 200,
            "item.id": f"item-{i}",
        }
        root = SpanSpec(
            p.service, "GET /items", trace, now - 50 * MS, now, SERVER, attributes=attrs
        )
        db = {"db.system": "sqlite", "db.statement": ("a " if i < 8 else "b ") + LONG}
        child = SpanSpec(
            p.service, "SELECT", trace, now - 40 * MS, now - 10 * MS, CLIENT, root.span_id,
            attributes=db,
        )  # fmt: skip
        specs += [root, child]
    for i in range(4):
        attrs = {"cache.hit": "true" if i else "false"}
        specs.append(
            SpanSpec(p.service, "cache", new_id(16), now - MS, now, INTERNAL, attributes=attrs)
        )
    for i in range(TICKS):
        specs.append(
            SpanSpec(
                p.service, "tick", new_id(16), now - MS, now, INTERNAL, attributes={"tick.id": i}
            )
        )
    p.span_attrs = [dict(spec.attributes) for spec in specs]
    logs: list[LogSpec] = []
    for i in range(20):
        linked = i < 10
        logs.append(
            LogSpec(
                p.service, now, f"line {i}", "ERROR" if i < 4 else "INFO",
                trace_id=specs[0].trace_id if linked else b"",
                span_id=specs[0].span_id if linked else b"",
                attributes={"user.tier": "gold" if i < 5 else "free"},
            )
        )  # fmt: skip
    # What VictoriaLogs stores of an OTLP record besides its attributes: severity (text and
    # number), trace/span ids when set, and the scope (its version "unknown" when unset).
    p.log_attrs = [
        {
            **log.attributes,
            "severity_text": log.severity,
            "severity_number": {"INFO": 9, "ERROR": 17}[log.severity],
            "scope.name": "obs-mcp-tests.direct",
            "scope.version": "unknown",
            **({"trace_id": log.trace_id.hex(), "span_id": log.span_id.hex()} if log.trace_id else {}),
        }
        for log in logs
    ]  # fmt: skip
    send_spans(s.otlp_http_url, specs, resource=p.resource)
    send_logs(s.otlp_http_url, logs)
    wait_for_count(s.vt_url, f'"resource_attr:service.name":="{p.service}"', len(specs))
    wait_for_count(s.vl_url, f'"service.name":="{p.service}"', len(logs))
    return p


def by_key(field_set: dict[str, object]) -> dict[str, dict[str, object]]:
    keys = field_set["keys"]
    assert isinstance(keys, list)
    return {k["key"]: k for k in keys}


async def test_span_keys_exactly_as_emitted(plan: Plan) -> None:
    r = await ok("list_fields", {"service": plan.service, "keys": 200, "values": 20})
    spans = r["spans"]
    assert spans["rows"] == len(plan.span_attrs) == 24 + 4 + TICKS
    expected = plan.span_hits()
    got = by_key(spans)
    assert {k: v["hits"] for k, v in got.items()} == expected
    assert spans["keys_omitted"] == 0
    hits = [k["hits"] for k in spans["keys"]]
    assert hits == sorted(hits, reverse=True)  # most rows first
    for key in ("http.route", "http.response.status_code", "db.system", "cache.hit",
                "resource_attr:deployment.environment"):  # fmt: skip
        values = plan.values(key.removeprefix("resource_attr:"), plan.span_attrs)
        if key.startswith("resource_attr:"):
            values = {"test": len(plan.span_attrs)}
        assert got[key]["values"] == values, key
        assert got[key]["distinct"] == len(values) and got[key]["values_omitted"] == 0
    # db.statement: values longer than facets tracks, counted by a `top` of its own; clipped
    statement = got["db.statement"]
    assert statement["distinct"] == 2
    shown = {v[:2]: n for v, n in statement["values"].items()}
    assert shown == {"a ": 8, "b ": 4}
    assert all(v.startswith(v[:2] + LONG[:70]) and "…(+" in v for v in statement["values"])
    # every row its own value, but all 12 fit in values=20: listed
    assert got["item.id"]["values"] == {f"item-{i}": 1 for i in range(12)}
    tick = got["tick.id"]
    assert (tick["hits"], tick["distinct"], tick["distinct_capped"], tick["values"]) == (
        TICKS,
        1000,
        True,
        {},
    )


async def test_log_keys_exactly_as_emitted(plan: Plan) -> None:
    r = await ok("list_fields", {"service": plan.service, "signal": "logs", "values": 20})
    assert r["spans"] is None
    logs = r["logs"]
    assert logs["rows"] == 20
    got = by_key(logs)
    expected = Counter(key for attrs in plan.log_attrs for key in attrs)
    assert {k: v["hits"] for k, v in got.items()} == dict(expected)
    for key in ("user.tier", "severity_text", "severity_number", "scope.name"):
        assert got[key]["values"] == plan.values(key, plan.log_attrs), key
    # one trace id on 10 lines: a category here, not an id
    assert got["trace_id"]["values"] == plan.values("trace_id", plan.log_attrs)


async def test_bounds_and_wire_form(plan: Plan) -> None:
    result = await call("list_fields", {"service": plan.service, "keys": 2, "values": 1})
    assert not result.is_error, text_of(result)
    wire = json.loads(text_of(result))
    spans = wire["spans"]
    assert [k["key"] for k in spans["keys"]] == ["resource_attr:deployment.environment", "tick.id"]
    assert spans["keys_omitted"] == len(plan.span_hits()) - 2
    assert "raise keys" in wire["hint"]
    status = (await ok("list_fields", {"service": plan.service, "values": 1}))["spans"]
    code = by_key(status)["http.response.status_code"]
    assert (code["values"], code["values_omitted"]) == ({"200": 9}, 1)
    # ids: every row its own value and more of them than asked -> counted, not listed
    item = by_key(status)["item.id"]
    assert (item["hits"], item["distinct"], item["values"], item["values_omitted"]) == (
        12,
        12,
        {},
        12,
    )
    assert "distinct_capped" not in json.dumps(wire["logs"])  # false flags stay off the wire
    default = await call("list_fields", {"service": plan.service})
    chars = len(text_of(default))
    print(f"\nlist_fields default answer: {chars} chars ~ {chars // 4} tokens")
    assert chars // 4 < 2500


async def test_unknown_service_names_the_close_one(plan: Plan) -> None:
    r = await ok("list_fields", {"service": plan.service[:-1]})
    assert r["spans"]["rows"] == 0 and r["logs"]["rows"] == 0
    assert f"Did you mean: {plan.service}" in r["hint"]
    bad = await call("list_fields", {"service": plan.service, "keys": 0})
    assert bad.is_error


# Every tool that takes a service name, called with a one-letter slip: the answer leads with
# the closest existing name (issue 11: not only the 20 busiest services).
MISTYPED_CALLS: dict[str, dict[str, object]] = {
    "error_rate": {"since": "1h"},
    "search_traces": {"since": "1h"},
    "query_logs": {"query": "*", "since": "1h"},
    "top_errors": {"since": "1h"},
    "service_overview": {"since": "1h"},
    "compare_runs": {"baseline_run": "run-a", "current_run": "run-b"},
    "wait_for_data": {"timeout": 1},
}


@pytest.mark.parametrize("tool", sorted(MISTYPED_CALLS))
async def test_every_tool_names_the_close_service(plan: Plan, tool: str) -> None:
    r = await ok(tool, {"service": plan.service[:-1], **MISTYPED_CALLS[tool]})
    hints = " ".join(r["hints"]) if "hints" in r else r["hint"]
    assert hints and f"did you mean: {plan.service}" in hints.lower(), (tool, hints)


def test_cli_fields_json_matches_the_tool(plan: Plan, native_stack: Stack) -> None:
    done = subprocess.run(
        [OBS_MCP, "fields", plan.service, "--signal", "spans", "--keys", "3", "--json"],
        env=process_env(native_stack), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [k["key"] for k in answer["spans"]["keys"]] == [
        "resource_attr:deployment.environment", "tick.id", "db.statement",
    ]  # fmt: skip
    missing = subprocess.run(
        [OBS_MCP, "fields", "no-such-service-xyz"], env=process_env(native_stack),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1, missing.stderr
