"""One printed line -> one log record: severity from level words or a JSON `level`, a JSON
line's fields as attributes, its trace/span ids (if it carries them) as the record's.

Plain lines: a level word in capitals (`ERROR`, `WARNING:root:...`, `[INFO]`), or a
logfmt `level=warn`, near the start of the line; else stdout lines are INFO and stderr
lines carry no severity (tools print progress, prompts and errors there alike).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

AttrValue = str | int | float | bool
# OTLP severity numbers: the first of each range.
LEVELS = {
    "TRACE": ("TRACE", 1), "DEBUG": ("DEBUG", 5), "INFO": ("INFO", 9), "NOTICE": ("INFO", 10),
    "WARN": ("WARN", 13), "WARNING": ("WARN", 13), "ERROR": ("ERROR", 17), "ERR": ("ERROR", 17),
    "CRITICAL": ("FATAL", 21), "FATAL": ("FATAL", 21), "PANIC": ("FATAL", 21),
    "ALERT": ("FATAL", 22), "EMERG": ("FATAL", 23),
}  # fmt: skip
LEVEL_WORD = re.compile(
    r"(?<![A-Za-z])(" + "|".join(k for k in LEVELS if k != "ERR") + r")(?![A-Za-z])"
)
LOGFMT = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+)", re.IGNORECASE)
LOOK_CHARS = 64  # a level word further in is text, not the line's level
MESSAGE_KEYS = ("msg", "message", "_msg", "event", "text")
LEVEL_KEYS = ("level", "severity", "levelname", "lvl", "log.level", "severity_text", "loglevel")
HEX32, HEX16 = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")
MAX_ATTRS = 64


@dataclass
class Line:
    body: str
    stream: str  # "stdout" | "stderr"
    severity_text: str = ""
    severity_number: int = 0
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""


def level_of(word: str) -> tuple[str, int] | None:
    return LEVELS.get(word.strip().upper())


def _pino_level(value: int) -> tuple[str, int] | None:
    """pino/bunyan numeric levels: 10 trace ... 60 fatal."""
    names = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}
    return LEVELS.get(names.get(value, ""))


def _flat(value: object) -> AttrValue:
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def _json_line(text: str, stream: str) -> Line | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    line = Line(body=text, stream=stream)
    message = next((data[k] for k in MESSAGE_KEYS if isinstance(data.get(k), str)), None)
    used = {k for k in MESSAGE_KEYS if data.get(k) is message} if message is not None else set()
    if message is not None:
        line.body = message
    for key in LEVEL_KEYS:
        raw = data.get(key)
        level = _pino_level(raw) if isinstance(raw, int) else level_of(str(raw or ""))
        if level:
            line.severity_text, line.severity_number = level
            used.add(key)
            break
    for key, id_re, name in (("trace_id", HEX32, "trace_id"), ("span_id", HEX16, "span_id")):
        for candidate in (key, key.replace("_", ""), key.replace("_id", "Id")):
            value = data.get(candidate)
            if isinstance(value, str) and id_re.match(value.lower()):
                setattr(line, name, value.lower())
                used.add(candidate)
                break
    for key, value in data.items():
        if key not in used and value is not None and len(line.attributes) < MAX_ATTRS:
            line.attributes[str(key)] = _flat(value)
    return line


def parse(text: str, stream: str) -> Line:
    stripped = text.strip()
    if stripped.startswith("{") and (line := _json_line(stripped, stream)):
        return line
    line = Line(body=text, stream=stream)
    head = text[:LOOK_CHARS]
    level = None
    if match := LOGFMT.search(head):
        level = level_of(match.group(1))
    if level is None and (match := LEVEL_WORD.search(head)):
        level = LEVELS[match.group(1)]
    if level is None and stream == "stdout":
        level = LEVELS["INFO"]
    if level:
        line.severity_text, line.severity_number = level
    return line
