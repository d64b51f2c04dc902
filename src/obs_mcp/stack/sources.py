"""Telemetry from apps that send no OTLP: log files the collector tails, `/metrics` endpoints
VictoriaMetrics scrapes, each named with its service, in one small TOML file.

    # sources.toml
    [[file]]
    path = "/var/log/shop/app.log"      # a file or a glob; plain or JSON lines
    service = "shop"

    [[scrape]]
    target = "127.0.0.1:9100"           # host:port serving Prometheus text
    service = "shop"
    path = "/metrics"                   # default

Native mode reads `OBS_MCP_SOURCES` or `<state dir>/sources.toml` at `obs-mcp stack up`;
compose gets the same file rendered by `obs-mcp stack sources --compose DIR` (see
sources_compose.py). Files go through the collector's filelog receiver (offsets kept by the
file_storage extension, so a collector restart neither re-sends nor loses lines); scrape
targets through VictoriaMetrics' own scraper (a file_sd file it re-reads every 5 s), labelled
`service_name` like OTLP metrics.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from obs_mcp.stack.errors import StackError

SCRAPE_JOB = "apps"
OFFSETS_EXTENSION = "file_storage/sources"
_TARGET = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")
# Level words of plain lines (`2026-12-02 12:00:01 ERROR payment failed`), the first one wins.
LEVEL_WORDS = (
    r"(?i)\b(?P<level>trace|debug|info|notice|warn|warning|error|err|fatal|critical|panic)\b"
)
SEVERITY_MAPPING = {
    "trace": ["trace", "TRACE"],
    "debug": ["debug", "DEBUG"],
    "info": ["info", "INFO", "notice", "NOTICE"],
    "warn": ["warn", "WARN", "warning", "WARNING"],
    "error": ["error", "ERROR", "err", "ERR"],
    "fatal": ["fatal", "FATAL", "critical", "CRITICAL", "panic", "PANIC"],
}


class FileSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="absolute path of a log file, or a glob")
    service: str

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not Path(value).is_absolute():
            raise ValueError(f"{value!r}: use an absolute path (the collector has its own cwd)")
        return value


class ScrapeSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field(description="host:port serving Prometheus text")
    service: str
    path: str = "/metrics"

    @field_validator("target")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not _TARGET.match(value):
            raise ValueError(f"{value!r}: write host:port (no scheme, no path)")
        return value

    @field_validator("path")
    @classmethod
    def _rooted(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r}: a URL path starts with '/'")
        return value


class Sources(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    files: list[FileSource] = Field(default_factory=list, alias="file")
    scrape: list[ScrapeSource] = Field(default_factory=list)

    @field_validator("files", "scrape")
    @classmethod
    def _named(cls, items: list[Any]) -> list[Any]:
        for item in items:
            if not item.service.strip() or len(item.service) > 256:
                raise ValueError("service: 1..256 characters")
        return items


def sources_path(state_dir: Path) -> Path:
    return Path(os.environ.get("OBS_MCP_SOURCES") or state_dir / "sources.toml")


def load_sources(path: Path) -> Sources:
    """The sources file, validated; none configured when it does not exist."""
    if not path.exists():
        return Sources()
    try:
        return Sources.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise StackError(f"sources file {path}: {exc}") from None


def filelog_receivers(sources: Sources, path_of: dict[str, str] | None = None) -> dict[str, Any]:
    """One filelog receiver per file source; `path_of` maps host paths to where the collector
    sees them (compose mounts)."""
    receivers: dict[str, Any] = {}
    for index, source in enumerate(sources.files):
        receivers[f"file_log/source{index}"] = {
            "include": [(path_of or {}).get(source.path, source.path)],
            "start_at": "beginning",
            "storage": OFFSETS_EXTENSION,
            "include_file_path": True,
            "include_file_name": False,
            "resource": {"service.name": source.service},
            "operators": _line_operators(),
        }
    return receivers


def _line_operators() -> list[dict[str, Any]]:
    """JSON lines: fields become attributes, `msg`/`message` the body, `level` the severity.
    Plain lines: the first level word is the severity. A line matching neither is kept."""
    return [
        {
            "type": "json_parser",
            "if": 'body matches "^\\\\s*\\\\{"',
            "parse_to": "attributes",
            "on_error": "send_quiet",
        },
        {"type": "move", "if": "attributes.msg != nil", "from": "attributes.msg", "to": "body"},
        {
            "type": "move",
            "if": "attributes.message != nil",
            "from": "attributes.message",
            "to": "body",
        },
        {
            "type": "regex_parser",
            "if": "attributes.level == nil",
            "regex": LEVEL_WORDS,
            "parse_to": "attributes",
            "on_error": "send_quiet",
        },
        {
            "type": "severity_parser",
            "if": "attributes.level != nil",
            "parse_from": "attributes.level",
            "mapping": SEVERITY_MAPPING,
            "overwrite_text": True,  # "error", "ERR", "Error" all read ERROR
            "on_error": "send_quiet",
        },
    ]


def collector_fragment(
    sources: Sources, offsets_dir: str, path_of: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """A second collector config, merged over collector/config.yaml (maps merge, lists are
    replaced: so the logs pipeline's receivers are listed whole). None without file sources."""
    receivers = filelog_receivers(sources, path_of)
    if not receivers:
        return None
    return {
        "extensions": {
            OFFSETS_EXTENSION: {"directory": offsets_dir, "create_directory": True},
        },
        "receivers": receivers,
        "service": {
            "extensions": [OFFSETS_EXTENSION],
            "pipelines": {"logs": {"receivers": ["otlp", *receivers]}},
        },
    }


def scrape_targets(sources: Sources) -> list[dict[str, Any]]:
    """Prometheus file_sd target groups: VictoriaMetrics re-reads them while running."""
    return [
        {
            "targets": [source.target],
            # instance: the target as written, also where compose reaches it another way
            "labels": {
                "service_name": source.service,
                "instance": source.target,
                "__metrics_path__": source.path,
            },
        }
        for source in sources.scrape
    ]


def write_json(path: Path, value: Any) -> Path:
    """Written whole, then renamed: a reader (VictoriaMetrics' file_sd) never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".tmp")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)
    return path


COLLECTOR_CONFIG = "collector.json"
SCRAPE_TARGETS = "scrape-targets.json"


def native_fragment(sources: Sources, sources_dir: Path) -> dict[str, Any] | None:
    """The collector config native mode runs for these sources (offsets in sources_dir)."""
    return collector_fragment(sources, str((sources_dir / "offsets").absolute()))


def write_scrape_targets(sources: Sources, sources_dir: Path) -> Path:
    """VictoriaMetrics re-reads this file every 5 s: writing it applies the targets live."""
    return write_json(sources_dir / SCRAPE_TARGETS, scrape_targets(sources))


def render_native(state_dir: Path, sources_dir: Path) -> Sources:
    """At `stack up`: the collector's sources config (only with file sources; a stale one is
    removed) and VictoriaMetrics' scrape targets (always, `[]` when none)."""
    sources = load_sources(sources_path(state_dir))
    fragment = native_fragment(sources, sources_dir)
    config = sources_dir / COLLECTOR_CONFIG
    if fragment is None:
        config.unlink(missing_ok=True)
    else:
        write_json(config, fragment)
    write_scrape_targets(sources, sources_dir)
    return sources
