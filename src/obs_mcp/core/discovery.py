"""list_fields: the attribute keys a service's spans and logs carry, with their top values.

So that `search_traces(tags=...)` and LogsQL filters use keys and values that exist instead
of guesses. Every count is the store's own and exact over all rows of the window:
`field_names` names the keys, `count(key)` gives the rows with a value, the `facets`
endpoint the top values with their hits, `count_uniq` the number of distinct values.
`facets` leaves out a key with a value longer than it tracks; such a key's top values come
from a `top` pipe of its own. `field_values` is not used: it ranks nothing (its hits are
zeroed once its limit is hit). Keys with a `*` are skipped: LogsQL reads it as a wildcard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from obs_mcp.clients.logsql import Hits, LogsQLClient
from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather, gather_all
from obs_mcp.core.fields import LOG_SERVICE, RESOURCE_ATTR, SERVICE, SPAN_ATTR, clip
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.errors import InvalidArgument, StoreError
from obs_mcp.models import FieldInfo, FieldSet, FieldsResult
from obs_mcp.queries import check_name, logsql_exact, logsql_field
from obs_mcp.timeparse import Window, resolve_window

Signal = Literal["spans", "logs", "both"]
MAX_KEYS = 200
MAX_VALUES = 20
DISTINCT_CAP = 1000  # facets' own default: past it a key holds ids, not categories
MAX_COUNTED = 500  # keys counted exactly (most present first); the rest are only "left out"
FACET_VALUE_BYTES = 1024
VALUE_CHARS = 80
TIME_FIELD = "_time"  # every row has it: its hits are the row count


@dataclass(frozen=True)
class _Source:
    """One store's rows of the service, and how its field names read in the answer."""

    client: LogsQLClient
    selector: str
    shown_as: Callable[[str], str | None]  # store field -> key as tools take it (None: skip)


def span_key(field: str) -> str | None:
    """`span_attr:http.route` -> `http.route` (what search_traces(tags=) takes); resource
    attributes keep their prefix (tags= passes it through); span intrinsics are skipped."""
    if field.startswith(SPAN_ATTR):
        return field[len(SPAN_ATTR) :]
    if field.startswith(RESOURCE_ATTR) and field != SERVICE:
        return field
    return None


def log_key(field: str) -> str | None:
    """Every log field but the store's own (`_time`, `_msg`, `_stream`) and the service."""
    return None if field.startswith("_") or field == LOG_SERVICE else field


async def _per_field(source: _Source, window: Window, fields: list[str], call: str) -> list[int]:
    """One stats query, one `call` per field (`count({f})`, `count_uniq({f}) limit N`)."""
    if not fields:
        return []
    parts = [call.format(f=logsql_field(f)) + f" s{i}" for i, f in enumerate(fields)]
    rows = await source.client.query(f"{source.selector} | stats {', '.join(parts)}", window)
    row = rows[0] if rows else {}
    return [int(row.get(f"s{i}") or 0) for i in range(len(fields))]


async def _top(source: _Source, field: str, window: Window, n: int) -> Hits:
    quoted = logsql_field(field)
    rows = await source.client.query(
        f"{source.selector} {quoted}:* | top {n} by ({quoted})", window
    )
    return [(r[field], int(r.get("hits") or 0)) for r in rows if r.get(field)]


def _info(key: str, hits: int, distinct: int, top: Hits, n: int) -> FieldInfo:
    capped = distinct > DISTINCT_CAP
    distinct = min(distinct, DISTINCT_CAP)
    ids = capped or (distinct == hits and distinct > n)  # every row its own value: an id
    listed = [] if ids else top[:n]
    values: dict[str, int] = {}
    for value, count in listed:
        shown = clip(value, VALUE_CHARS)  # two long values may clip alike: add them up
        values[shown] = values.get(shown, 0) + count
    return FieldInfo(
        key=key,
        hits=hits,
        distinct=distinct,
        distinct_capped=capped,
        values=values,
        values_omitted=max(0, distinct - len(listed)),
    )


async def _field_set(source: _Source, window: Window, keys: int, values: int) -> FieldSet:
    names, facets = await gather_all(
        lambda: source.client.field_names(source.selector, window),
        lambda: source.client.facets(
            source.selector, window, values, DISTINCT_CAP, FACET_VALUE_BYTES
        ),
    )
    rows = next((hits for name, hits in names if name == TIME_FIELD), 0)
    # field_names counts every row of a block that has the column, empty or not: rank by
    # it, then count exactly the rows with a value (`count(field)` skips empty ones).
    named = sorted(
        (
            (key, field, hits)
            for field, hits in names
            if "*" not in field and (key := source.shown_as(field))
        ),
        key=lambda item: (-item[2], item[0]),
    )
    counted = named[:MAX_COUNTED]
    exact = await _per_field(source, window, [f for _, f, _ in counted], "count({f})")
    found = sorted(
        ((key, field, n) for (key, field, _), n in zip(counted, exact, strict=True) if n),
        key=lambda item: (-item[2], item[0]),
    )
    shown = found[:keys]
    omitted = len(found) - len(shown) + len(named) - len(counted)
    fields = [field for _, field, _ in shown]
    uniq = await _per_field(source, window, fields, f"count_uniq({{f}}) limit {DISTINCT_CAP + 1}")
    distinct = dict(zip(fields, uniq, strict=True))
    missing = [f for f in fields if f not in facets and distinct[f] <= DISTINCT_CAP]
    tops = await gather_all(*[(lambda f=f: _top(source, f, window, values)) for f in missing])
    top_of = {**facets, **dict(zip(missing, tops, strict=True))}
    infos = [
        _info(key, hits, distinct[field], top_of.get(field, []), values)
        for key, field, hits in shown
    ]
    return FieldSet(rows=rows, keys=infos, keys_omitted=omitted)


def _check(keys: int, values: int, signal: str) -> None:
    if not 1 <= keys <= MAX_KEYS:
        raise InvalidArgument(f"keys={keys}: choose 1..{MAX_KEYS}")
    if not 1 <= values <= MAX_VALUES:
        raise InvalidArgument(f"values={values}: choose 1..{MAX_VALUES}")
    if signal not in ("spans", "logs", "both"):
        raise InvalidArgument(f"signal={signal!r}: choose spans, logs or both")


async def list_fields(
    backends: Backends,
    service: str,
    since: str | None = "15m",
    start: str | None = None,
    end: str | None = None,
    signal: Signal = "both",
    keys: int = 25,
    values: int = 5,
) -> FieldsResult:
    check_name(service, "service")
    _check(keys, values, signal)
    window = resolve_window(since, start, end, default_since="15m")
    sources = {
        "spans": _Source(backends.traces, logsql_exact(SERVICE, service), span_key),
        "logs": _Source(backends.logs, logsql_exact(LOG_SERVICE, service), log_key),
    }
    wanted = list(sources) if signal == "both" else [signal]
    outcomes = await gather(
        *[(lambda s=sources[name]: _field_set(s, window, keys, values)) for name in wanted]
    )
    failures = [o for o in outcomes if isinstance(o, StoreError)]
    if len(failures) == len(outcomes):
        raise failures[0]
    sets = {name: o for name, o in zip(wanted, outcomes, strict=True) if isinstance(o, FieldSet)}
    result = FieldsResult(
        service=service,
        window=window.describe(),
        spans=sets.get("spans"),
        logs=sets.get("logs"),
        warnings=[f"{f.store} unavailable: {f}" for f in failures],
    )
    result.hint = await _hint(backends, service, window, sets)
    return result


async def _hint(
    backends: Backends, service: str, window: Window, sets: dict[str, FieldSet]
) -> str | None:
    if not any(s.rows for s in sets.values()):
        return await unknown_service_hint(
            backends, service, window, f"No spans or logs of {service!r}", logs="spans" not in sets
        )
    usage = (
        "Span keys go into search_traces(tags={key: value}) as shown (LogsQL: span_attr:<key>), "
        f"log keys into LogsQL as key:=value. Keys without values: ids or > {DISTINCT_CAP} values."
    )
    cut = [f"{name} {s.keys_omitted}" for name, s in sets.items() if s.keys_omitted]
    return usage + (f" Keys left out (fewest rows): {', '.join(cut)}; raise keys." if cut else "")
