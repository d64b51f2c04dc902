"""`obs-mcp run`'s pure parts: line parsing, the child's env, what kind a command is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from obs_mcp.run.command import classify
from obs_mcp.run.env import TraceParent, child_env, default_service, resource_attributes
from obs_mcp.run.lines import parse


@pytest.mark.parametrize(
    ("text", "stream", "severity"),
    [
        ("ERROR:root:disk full", "stderr", "ERROR"),
        ("2026-12-02 14:00:01 [WARNING] slow", "stderr", "WARN"),
        ('ts=1 level=debug msg="x"', "stdout", "DEBUG"),
        ('INFO:     127.0.0.1:5 - "GET / HTTP/1.1" 200 OK', "stderr", "INFO"),
        ("no level here", "stdout", "INFO"),
        ("no level here", "stderr", ""),
        ("errors: 0 (lowercase words are text)", "stderr", ""),
        ("x" * 70 + " ERROR far in the line is text", "stderr", ""),
        ("CRITICAL: down", "stdout", "FATAL"),
    ],
)
def test_plain_line_severity(text: str, stream: str, severity: str) -> None:
    line = parse(text, stream)
    assert (line.severity_text, line.body) == (severity, text)


def test_json_line_fields_level_and_ids() -> None:
    line = parse(
        '{"level":"error","msg":"pay failed","order":7,"ok":false,"ctx":{"a":1},'
        '"trace_id":"0AF7651916CD43DD8448EB211C80319C","spanId":"b7ad6b7169203331"}',
        "stdout",
    )
    assert (line.body, line.severity_text, line.severity_number) == ("pay failed", "ERROR", 17)
    assert line.attributes == {"order": 7, "ok": False, "ctx": '{"a":1}'}
    assert (line.trace_id, line.span_id) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")


def test_pino_numeric_level_and_non_object_json() -> None:
    assert parse('{"level":50,"msg":"boom"}', "stdout").severity_text == "ERROR"
    assert parse("[1, 2]", "stdout").body == "[1, 2]"


def test_resource_attributes_keep_the_users_and_replace_run_id() -> None:
    merged = resource_attributes("team=core, run.id=old", {"run.id": "api-1 x"})
    assert merged == "team=core,run.id=api-1%20x"


def test_child_env_points_at_this_stack_only() -> None:
    base = {
        "PATH": "/bin",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://elsewhere",
        "OTEL_SDK_DISABLED": "true",
    }
    env = child_env(
        base, "api", "r1", "http://127.0.0.1:4318", "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in env and "OTEL_SDK_DISABLED" not in env
    assert (env["OTEL_SERVICE_NAME"], env["OTEL_EXPORTER_OTLP_ENDPOINT"]) == (
        "api",
        "http://127.0.0.1:4318",
    )
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "run.id=r1" and env["PATH"] == "/bin"


def test_default_service_skips_launchers() -> None:
    assert default_service(["./billing-worker", "--x"], "/src/shop") == "billing-worker"
    for launcher in (["python3.11", "app.py"], ["uvicorn", "app:app"], ["npm", "start"]):
        assert default_service(launcher, "/src/my shop") == "my-shop"


def test_traceparent_inherited_only_when_valid() -> None:
    good = TraceParent.inherited({"TRACEPARENT": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    assert good is not None and good.child("c" * 16) == "00-" + "a" * 32 + "-" + "c" * 16 + "-01"
    for bad in ("", "00-" + "0" * 32 + "-" + "b" * 16 + "-01", "garbage"):
        assert TraceParent.inherited({"TRACEPARENT": bad}) is None


def test_classify_by_name_and_shebang(tmp_path: Path) -> None:
    assert classify([sys.executable], None).kind == "python"
    script = tmp_path / "serve"
    script.write_text(f"#!{sys.executable}\nprint(1)\n")
    script.chmod(0o755)
    found = classify([str(script)], None)
    assert (found.kind, found.interpreter) == ("python", sys.executable)
    trampoline = tmp_path / "tool"
    trampoline.write_text(f"#!/bin/sh\n'''exec' \"{sys.executable}\" \"$0\" \"$@\"\n' '''\n")
    trampoline.chmod(0o755)
    assert classify([str(trampoline)], None).interpreter == sys.executable
    node = tmp_path / "cli.js"
    node.write_text("#!/usr/bin/env node\n")
    node.chmod(0o755)
    assert classify([str(node)], None).kind == "node"
    assert classify(["/bin/sh"], None).kind == "other"
    assert classify(["no-such-cmd-obs"], None).executable is None
