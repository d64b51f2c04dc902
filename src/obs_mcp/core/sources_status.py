"""Is each configured source delivering? Asked of the stores, not assumed from the config."""

from __future__ import annotations

import fnmatch
import glob
from typing import Literal

from pydantic import BaseModel

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.fields import LOG_SERVICE
from obs_mcp.queries import logsql_exact, logsql_field, promql_matcher
from obs_mcp.stack.sources import SCRAPE_JOB, FileSource, ScrapeSource, Sources
from obs_mcp.timeparse import Window, parse_store_time, resolve_window, rfc3339

FILE_PATH = "log.file.path"  # the attribute filelog's include_file_path adds


class SourceStatus(BaseModel):
    kind: Literal["file", "scrape"]
    service: str
    source: str  # the path (glob) or the scrape URL
    delivering: bool
    detail: str


async def source_statuses(backends: Backends, sources: Sources) -> list[SourceStatus]:
    window = resolve_window("1h", None, None, default_since="1h")
    checks = [lambda f=f: _file_status(backends, f, window) for f in sources.files]
    checks += [
        lambda s=s: _scrape_status(backends, s, window.end.timestamp()) for s in sources.scrape
    ]
    return list(await gather_all(*checks)) if checks else []


async def _file_status(backends: Backends, source: FileSource, window: Window) -> SourceStatus:
    matched = sorted(glob.glob(source.path))
    query = (
        f"{logsql_exact(LOG_SERVICE, source.service)} {logsql_field(FILE_PATH)}:* "
        f"| stats by ({logsql_field(FILE_PATH)}) count() lines, max(_time) newest"
    )
    rows = [
        row
        for row in await backends.logs.query(query, window)
        if fnmatch.fnmatchcase(row.get(FILE_PATH, ""), source.path)
    ]
    lines = sum(int(row.get("lines") or 0) for row in rows)
    newest = max(
        (parse_store_time(row["newest"]) for row in rows if row.get("newest")), default=None
    )
    files = f"{len(matched)} matching file{'s' if len(matched) != 1 else ''}"
    if lines:
        detail = (
            f"{files}; {lines} lines in the last hour, newest {rfc3339(newest)}"
            if newest
            else files
        )
    elif not matched:
        detail = f"no file matches {source.path} yet (the collector picks it up once it exists)"
    else:
        detail = (
            f"{files}, but no line of them arrived in the last hour: is the stack up with this "
            "sources file (file sources apply at `obs-mcp stack up`)? See `obs-mcp stack logs "
            "collector`."
        )
    return SourceStatus(
        kind="file", service=source.service, source=source.path, delivering=lines > 0, detail=detail
    )


async def _scrape_status(backends: Backends, source: ScrapeSource, at: float) -> SourceStatus:
    selector = ", ".join(
        [
            promql_matcher("job", SCRAPE_JOB),
            promql_matcher("instance", source.target),
            promql_matcher("service_name", source.service),
        ]
    )
    up, samples = await gather_all(
        lambda: backends.metrics.instant(f"last_over_time(up{{{selector}}}[1m])", at),
        lambda: backends.metrics.instant(
            f"last_over_time(scrape_samples_scraped{{{selector}}}[1m])", at
        ),
    )
    url = f"http://{source.target}{source.path}"
    up_value = _value(up)
    if up_value is None:
        detail = (
            "not scraped in the last minute: is the stack up with this sources file? "
            "(scrape targets apply within 5 s of `obs-mcp stack sources` or `stack up`)"
        )
    elif up_value < 1:
        detail = f"scraped, but {url} did not answer with Prometheus text (up=0)"
    else:
        detail = f"up; {int(_value(samples) or 0)} sample(s) per scrape, every 5 s"
    return SourceStatus(
        kind="scrape",
        service=source.service,
        source=url,
        delivering=bool(up_value and up_value >= 1),
        detail=detail,
    )


def _value(data: dict[str, object]) -> float | None:
    result = data.get("result")
    if not isinstance(result, list) or not result:
        return None
    try:
        return float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
