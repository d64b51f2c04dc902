"""vt-compat: VictoriaTraces' OTLP ingest and LogsQL API over a plain VictoriaLogs.

Used in native mode only where VictoriaTraces cannot be built (the Go module proxy on
this machine kind refuses the VictoriaTraces module). Spans are written as rows with
exactly VictoriaTraces' field names (`trace_id`, `span_id`, `parent_span_id`, `name`,
`kind`, `status_code`, `duration` in ns, `resource_attr:*`, `span_attr:*`, `event:*`,
`link:*`; stream fields `resource_attr:service.name` + `name`; `_time` = span end), and
every `/select/logsql/*` request is passed to the VictoriaLogs behind it unchanged. So
the same LogsQL that obs-mcp sends to a real VictoriaTraces works here; so is
`/internal/force_flush` (GET or POST, `authKey`), which the span store checks against the
stack's key and answers by making the spans it buffers searchable, as VictoriaTraces does.
The Jaeger API is not provided (obs-mcp does not use it).

The collector only gets its 200 once the backend accepted the rows, so its retry queue
covers a backend restart as it does for the real store. A batch the backend refuses (a
4xx: it will refuse it again) is answered 400, which the collector drops and counts
(OTLP/HTTP: non-retryable) instead of retrying it forever ahead of every later batch; an
unreachable or failing backend (5xx) is answered 503, which the collector retries.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from typing import Any

import httpx2
import uvicorn
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

STREAM_FIELDS = "resource_attr:service.name,name"
TENANT_HEADERS = ("accountid", "projectid")
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}
_RETRYABLE_4XX = {408, 429}  # OTLP/HTTP: the client may retry these
log = logging.getLogger("obs_mcp.vtcompat")


class RejectionLog:
    """Log each rejected batch, at most `per_minute` lines a minute (the rest are counted)."""

    def __init__(self, per_minute: int = 5) -> None:
        self.per_minute = per_minute
        self.window_start = float("-inf")
        self.logged = 0
        self.suppressed = 0

    def record(self, status: int, detail: str, rows: list[dict[str, str]]) -> None:
        now = time.monotonic()
        if now - self.window_start >= 60:
            if self.suppressed:
                log.warning("%d more rejected batches in the last minute", self.suppressed)
            self.window_start, self.logged, self.suppressed = now, 0, 0
        if self.logged >= self.per_minute:
            self.suppressed += 1
            return
        self.logged += 1
        services = sorted({row.get("resource_attr:service.name", "-") for row in rows})
        log.warning(
            "span store refused a batch of %d spans (services: %s; first span: %s) with %d, "
            "answered 400 so the collector drops it: %s",
            len(rows),
            ", ".join(services[:5]) + (" ..." if len(services) > 5 else ""),
            rows[0].get("name", "-") if rows else "-",
            status,
            detail[:500],
        )


def render_value(value: AnyValue) -> Any:
    """A native Python value for an OTLP AnyValue (kvlists are flattened by the caller)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return [render_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: render_value(kv.value) for kv in value.kvlist_value.values}
    return None


def _as_field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text.removesuffix(".0")
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    text = str(value)
    return text if text else "-"


def flatten(prefix: str, attrs: Iterable[KeyValue], suffix: str = "") -> Iterator[tuple[str, str]]:
    """Yield `prefix+key+suffix` fields; nested kvlists become dotted keys (as VT does)."""
    for kv in attrs:
        kind = kv.value.WhichOneof("value")
        if not kv.key or kind is None:
            continue
        if kind == "string_value":  # the common case, without the generic path's overhead
            yield f"{prefix}{kv.key}{suffix}", kv.value.string_value or "-"
        else:
            yield from _flatten_one(prefix, kv.key, render_value(kv.value), suffix)


def _flatten_one(prefix: str, key: str, value: Any, suffix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            yield from _flatten_one(prefix, f"{key}.{sub_key}", sub_value, suffix)
    elif value is not None:
        yield f"{prefix}{key}{suffix}", _as_field(value)


def span_rows(request: ExportTraceServiceRequest) -> Iterator[dict[str, str]]:
    """One VictoriaTraces-shaped row per span."""
    for resource_spans in request.resource_spans:
        resource = dict(flatten("resource_attr:", resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope: dict[str, str] = {}
            if scope_spans.scope.name:
                scope["scope_name"] = scope_spans.scope.name
            if scope_spans.scope.version:
                scope["scope_version"] = scope_spans.scope.version
            scope.update(flatten("scope_attr:", scope_spans.scope.attributes))
            for span in scope_spans.spans:
                row: dict[str, str] = {**resource, **scope}
                row["span_id"] = span.span_id.hex()
                if span.trace_state:
                    row["trace_state"] = span.trace_state
                if span.parent_span_id:
                    row["parent_span_id"] = span.parent_span_id.hex()
                if span.flags:
                    row["flags"] = str(span.flags)
                row["name"] = span.name or "-"
                if span.kind:
                    row["kind"] = str(span.kind)
                row.update(flatten("span_attr:", span.attributes))
                for count_name in ("attributes", "events", "links"):
                    count = getattr(span, f"dropped_{count_name}_count")
                    if count:
                        row[f"dropped_{count_name}_count"] = str(count)
                for i, event in enumerate(span.events):
                    row[f"event:event_time_unix_nano:{i}"] = str(event.time_unix_nano)
                    row[f"event:event_name:{i}"] = event.name or "-"
                    row.update(flatten("event:event_attr:", event.attributes, f":{i}"))
                for i, link in enumerate(span.links):
                    row[f"link:link_trace_id:{i}"] = link.trace_id.hex()
                    row[f"link:link_span_id:{i}"] = link.span_id.hex()
                    row.update(flatten("link:link_attr:", link.attributes, f":{i}"))
                if span.status.message:
                    row["status_message"] = span.status.message
                if span.status.code:
                    row["status_code"] = str(span.status.code)
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if start and end:
                    row["duration"] = str(end - start)
                if start:
                    row["start_time_unix_nano"] = str(start)
                if end:
                    row["end_time_unix_nano"] = str(end)
                row["_time"] = str(end or start)  # VictoriaLogs reads unix nanoseconds as is
                row["_msg"] = "-"
                row["trace_id"] = span.trace_id.hex()
                yield row


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON parser expects base64 for bytes."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                out[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def decode_request(body: bytes, content_type: str, encoding: str) -> ExportTraceServiceRequest:
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    message = ExportTraceServiceRequest()
    if "json" in content_type:
        ParseDict(_hex_ids_to_base64(json.loads(body)), message, ignore_unknown_fields=True)
    else:
        message.ParseFromString(body)
    return message


def create_app(backend: str, timeout: float = 30.0, insert_backend: str | None = None) -> Starlette:
    """`backend` answers the selects; rows go to `insert_backend` (default: the same one).
    Two URLs put vt-compat in front of a VictoriaLogs cluster: vlselect and vlinsert."""
    client = httpx2.AsyncClient(base_url=backend, timeout=timeout)
    inserter = (
        httpx2.AsyncClient(base_url=insert_backend, timeout=timeout) if insert_backend else client
    )
    rejections = RejectionLog()

    async def ingest(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/x-protobuf")
        try:
            message = decode_request(
                await request.body(), content_type, request.headers.get("content-encoding", "")
            )
        except Exception as exc:
            return Response(f"cannot decode OTLP traces: {exc}", status_code=400)
        rows = list(span_rows(message))
        lines = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        if lines:
            tenant = {k: v for k, v in request.headers.items() if k.lower() in TENANT_HEADERS}
            try:
                answer = await inserter.post(
                    "/insert/jsonline",
                    params={"_stream_fields": STREAM_FIELDS, "_time_field": "_time"},
                    content=lines.encode(),
                    headers=tenant,
                )
            except httpx2.HTTPError as exc:
                return Response(f"span store unreachable: {exc}", status_code=503)
            if 400 <= answer.status_code < 500 and answer.status_code not in _RETRYABLE_4XX:
                detail = answer.text.strip()
                rejections.record(answer.status_code, detail, rows)
                return Response(
                    f"span store refused the batch ({answer.status_code}): {detail[:500]}",
                    status_code=400,
                )
            if answer.status_code != 200:
                return Response(answer.content, status_code=503)
        if "json" in content_type:
            return Response("{}", media_type="application/json")
        body = ExportTraceServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")

    async def passthrough(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = client.build_request(
            request.method,
            request.url.path,
            params=list(request.query_params.multi_items()),
            headers=headers,
            content=await request.body(),
        )
        try:
            answer = await client.send(upstream, stream=True)
        except httpx2.HTTPError as exc:
            return Response(f"span store unreachable: {exc}", status_code=502)
        passed = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in _HOP_HEADERS | {"content-encoding"}
        }
        return StreamingResponse(
            answer.aiter_bytes(),
            status_code=answer.status_code,
            headers=passed,
            background=None,
        )

    methods = ["GET", "POST"]
    routes = [
        Route("/insert/opentelemetry/v1/traces", ingest, methods=["POST"]),
        Route("/{path:path}", passthrough, methods=methods),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for each in {id(c): c for c in (client, inserter)}.values():
                await stack.enter_async_context(each)
            yield

    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:10428")
    parser.add_argument("--backend", default="http://127.0.0.1:10429")
    parser.add_argument("--insert-backend", default=None, help="vlinsert of a cluster")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    host, _, port = args.listen.rpartition(":")
    app = create_app(args.backend, insert_backend=args.insert_backend)
    uvicorn.run(app, host=host, port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
