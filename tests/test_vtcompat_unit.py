"""vt-compat writes spans with VictoriaTraces' own field names and value formats."""

from __future__ import annotations

import gzip
import json

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from obs_mcp.stack.vtcompat import decode_request, span_rows


def _request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="pay"))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "lib", "1.2"
    span = ss.spans.add(
        trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        span_id=bytes.fromhex("b7ad6b7169203331"),
        parent_span_id=bytes.fromhex("00f067aa0ba902b7"),
        name="POST /charge",
        kind=2,
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=1_250_000_000,
    )
    span.status.code, span.status.message = 2, "boom"
    attrs = [
        ("flag", AnyValue(bool_value=True)),
        ("count", AnyValue(int_value=42)),
        ("ratio", AnyValue(double_value=0.5)),
        ("empty", AnyValue(string_value="")),
        ("list", AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))),
        (
            "nested",
            AnyValue(
                kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=1))])
            ),
        ),
    ]
    for key, value in attrs:
        span.attributes.add(key=key, value=value)
    event = span.events.add(name="exception", time_unix_nano=1_100_000_000)
    event.attributes.add(key="exception.type", value=AnyValue(string_value="KeyError"))
    return req


def test_span_row_uses_victoriatraces_names_and_formats() -> None:
    (row,) = list(span_rows(_request()))
    assert row["resource_attr:service.name"] == "pay"
    assert (row["scope_name"], row["scope_version"]) == ("lib", "1.2")
    assert row["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert row["span_id"] == "b7ad6b7169203331"
    assert row["parent_span_id"] == "00f067aa0ba902b7"
    assert (row["kind"], row["status_code"], row["status_message"]) == ("2", "2", "boom")
    assert row["duration"] == "250000000"
    assert row["_time"] == "1250000000"  # span end, unix ns
    assert row["span_attr:flag"] == "true"
    assert row["span_attr:count"] == "42"
    assert row["span_attr:ratio"] == "0.5"
    assert row["span_attr:empty"] == "-"
    assert json.loads(row["span_attr:list"]) == ["a"]
    assert row["span_attr:nested.k"] == "1"
    assert row["event:event_name:0"] == "exception"
    assert row["event:event_attr:exception.type:0"] == "KeyError"
    assert list(row)[-1] == "trace_id"  # VictoriaTraces' index reads trace_id from the end


def test_decode_accepts_gzip_protobuf_and_json_with_hex_ids() -> None:
    req = _request()
    assert (
        decode_request(gzip.compress(req.SerializeToString()), "application/x-protobuf", "gzip")
        == req
    )
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "x",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    decoded = decode_request(json.dumps(body).encode(), "application/json", "")
    (row,) = list(span_rows(decoded))
    assert row["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
