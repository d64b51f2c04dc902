"""Answer size: tokens of correlate_trace vs the raw store JSON for the same trace; tools/list."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from tests.foreign_shapes import emit_two_instrumentations, emit_wide_trace
from tests.otel_emit import Emitter, emitter

from benchmarks.common import TOKEN_METHOD, Table, server_params, tokens
from obs_mcp.stack.runner import Stack

SERVICES = ("frontend", "checkout", "payments", "inventory", "shipping")
FANOUT = 10
ERROR_EVERY = 50  # one span in 50 fails (with an exception event and an ERROR log)
TOKEN_BUDGET = 10_000  # the goal for every 2,000-span shape (the default budget is 8k)


@dataclass
class EmittedTrace:
    trace_id: str
    spans: int
    logs: int
    root_span_id: str
    error_span_ids: set[str]


def emit_trace(emitters: list[Emitter], n_spans: int, tag: str) -> EmittedTrace:
    """A tree of n_spans spans (fan-out 10, services rotating by depth), one log per span."""
    spans: list[tuple[trace.Span, Emitter]] = []
    parents: list[tuple[trace.Span, int]] = []
    errors: set[str] = set()
    logs = 0
    for index in range(n_spans):
        parent, depth = parents[(index - 1) // FANOUT] if index else (None, -1)
        em = emitters[(depth + 1) % len(emitters)]
        ctx = trace.set_span_in_context(parent) if parent is not None else None
        kind = SpanKind.SERVER if index == 0 or depth == 0 else SpanKind.INTERNAL
        span = em.tracer.start_span(
            f"GET /api/{tag}/{index % 7}" if kind == SpanKind.SERVER else f"step {index % 13}",
            context=ctx,
            kind=kind,
            attributes={
                "http.request.method": "GET",
                "url.path": f"/api/{tag}/{index}",
                "http.response.status_code": 200,
                "db.system": "postgresql",
            },
        )
        with trace.use_span(span, end_on_exit=False):
            em.logger.info("handling step %d of %s", index, tag)
            logs += 1
            if index % ERROR_EVERY == 7:
                span.record_exception(TimeoutError(f"upstream timeout in step {index}"))
                span.set_status(Status(StatusCode.ERROR, "upstream timeout"))
                em.logger.error("step %d failed: upstream timeout", index)
                logs += 1
                errors.add(format(span.get_span_context().span_id, "016x"))
        spans.append((span, em))
        parents.append((span, depth + 1))
    for span, _em in reversed(spans):
        span.end()
    for em in emitters:
        em.tracer_provider.force_flush()
        em.logger_provider.force_flush()
    root = spans[0][0].get_span_context()
    return EmittedTrace(
        format(root.trace_id, "032x"), n_spans, logs, format(root.span_id, "016x"), errors
    )


def raw_rows(stack: Stack, trace_id: str) -> tuple[str, str]:
    """What a shell correlate script prints: all span rows + all log rows of the trace."""
    s = stack.settings
    query = f'trace_id:="{trace_id}"'
    spans = httpx2.get(
        f"{s.vt_url}/select/logsql/query",
        params={"query": query, "disable_latency_offset": "true"},
        timeout=60,
    ).text
    logs = httpx2.get(f"{s.vl_url}/select/logsql/query", params={"query": query}, timeout=60).text
    return spans, logs


def wait_stored(stack: Stack, t: EmittedTrace, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        spans, logs = raw_rows(stack, t.trace_id)
        if len(spans.splitlines()) >= t.spans and len(logs.splitlines()) >= t.logs:
            return
        time.sleep(0.3)
    raise RuntimeError(f"trace {t.trace_id} not fully stored within {limit_s}s")


def dominant_fields(answer: dict[str, Any], top: int = 4) -> str:
    """Which fields carry the characters of the answer (spans' fields, then top level)."""
    sizes: Counter[str] = Counter()
    for key, value in answer.items():
        if key != "spans":
            sizes[key] += len(json.dumps(value))
    for span in answer.get("spans", []):
        for key, value in span.items():
            sizes[f"spans[].{key}"] += len(json.dumps(value)) + len(key) + 4
    total = sum(sizes.values()) or 1
    return ", ".join(f"{k} {v * 100 / total:.0f}%" for k, v in sizes.most_common(top))


def _foreign(stack: Stack) -> list[tuple[str, EmittedTrace]]:
    """Shapes this project did not design: a batch job's 2,000 short-named spans, the same
    with long attributes, and one request with an N+1 of 25 identical DB calls."""
    url = stack.settings.otlp_http_url
    out: list[tuple[str, EmittedTrace]] = []
    for label, long_attributes in (
        ("2,000 spans, short names", False),
        ("2,000 spans, long attributes", True),
    ):
        wide = emit_wide_trace(url, long_attributes=long_attributes)
        out.append(
            (
                label,
                EmittedTrace(
                    wide.trace_id, wide.span_count, 0, wide.root_span_id, set(wide.error_span_ids)
                ),
            )
        )
    two = emit_two_instrumentations(url, requests=3)
    out.append(
        ("N+1: 25 SELECTs under one handler", EmittedTrace(two.n_plus_one_trace, 30, 0, "", set()))
    )
    return out


async def measure(stack: Stack, sizes: tuple[int, ...] = (20, 200, 2000)) -> tuple[Table, str]:
    """Returns the table and a service with fresh logs and server spans (for later sections)."""
    emitters = [emitter(stack.settings.otlp_http_url, name) for name in SERVICES]
    emitted = [(f"{n} spans, fan-out {FANOUT}", emit_trace(emitters, n, f"t{n}")) for n in sizes]
    for em in emitters:
        em.shutdown()
    emitted += _foreign(stack)
    for _, t in emitted:
        wait_stored(stack, t)
    table = Table(
        "3. Answer size: correlate_trace vs raw store JSON (same trace)",
        [
            "trace",
            "spans",
            "logs",
            "error spans",
            "raw JSON tokens (spans + logs)",
            "correlate_trace tokens",
            "ratio",
            "rows shown / in repeat rows / omitted",
            "root + all errors kept",
            f"<= {TOKEN_BUDGET // 1000}k tokens",
            "largest fields (share of compact JSON)",
        ],
    )
    async with Client(server_params(stack), read_timeout_seconds=120) as client:
        for label, t in emitted:
            span_json, log_json = raw_rows(stack, t.trace_id)
            raw_tokens = tokens(span_json) + tokens(log_json)
            result = await client.call_tool("correlate_trace", {"trace_id": t.trace_id})
            text = "".join(getattr(block, "text", "") for block in result.content)
            answer = json.loads(text)
            shown = {span["span_id"] for span in answer["spans"]}
            root_ok = not t.root_span_id or any(
                s["span_id"] == t.root_span_id and s["depth"] == 0 for s in answer["spans"]
            )
            kept = root_ok and t.error_span_ids <= shown
            in_repeats = sum(s["repeat"]["count"] - 1 for s in answer["spans"] if "repeat" in s)
            omitted = sum(g["count"] for g in answer.get("omitted", []))
            counts_ok = len(shown) + in_repeats + omitted == answer["span_count"] == t.spans
            answer_tokens = tokens(text)
            table.add(
                label,
                t.spans,
                t.logs,
                len(t.error_span_ids),
                f"{raw_tokens:,}",
                f"{answer_tokens:,}",
                f"{raw_tokens / answer_tokens:.0f}x smaller",
                f"{len(shown)} / {in_repeats} / {omitted}"
                + ("" if counts_ok else " (counts inconsistent!)"),
                "yes" if kept else "NO",
                "yes" if answer_tokens <= TOKEN_BUDGET else "NO",
                dominant_fields(answer),
            )
        listed = await client.list_tools()
        tools_json = json.dumps(
            [
                tool.model_dump(mode="json", by_alias=True, exclude_none=True)
                for tool in listed.tools
            ]
        )
        instructions = client.instructions or ""
    table.notes += [
        TOKEN_METHOD + ".",
        "The fan-out traces are emitted with the OpenTelemetry SDK over OTLP (tests/otel_emit.py):"
        f" 5 services, fan-out {FANOUT}, 1 span in {ERROR_EVERY} an error with an exception "
        "event; one log line per span plus an ERROR line per error span. The other three are "
        "built as OTLP protobuf (tests/foreign_shapes.py): a batch job of 2,000 spans with "
        "short names (5 errors), the same with ~1.5 KB of attributes per span, and a request "
        "whose handler runs 25 identical SELECTs.",
        "Raw JSON = every VictoriaTraces LogsQL row for the trace_id + every VictoriaLogs row "
        "for it (what a shell correlate script prints). correlate_trace = the tool's text "
        "content as an MCP client receives it, with the default budget (max_tokens=8000): "
        "compact JSON without nulls; the same object also goes out as structuredContent (not "
        "counted). Rows: spans shown as rows / spans a repeat row stands for / spans "
        "summarised under `omitted` (they add up to the trace's spans).",
        f"tools/list: {len(listed.tools)} tools, {tokens(tools_json):,} tokens "
        f"(+ server instructions {tokens(instructions):,} tokens, sent once at initialize).",
    ]
    return table, SERVICES[1]
