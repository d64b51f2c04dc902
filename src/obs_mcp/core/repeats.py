"""N+1 detection: which operations of a service make the same outgoing call again and again
inside one request, counted by the store over every span of the window (no sampling).

A repeat is a group of CLIENT/PRODUCER spans of one name under one parent span (one handler
run): `SELECT items` issued 25 times by one `GET /cart` is a group of 25.
"""

from __future__ import annotations

from obs_mcp.core.backends import Backends
from obs_mcp.core.fields import SERVICE
from obs_mcp.models import RepeatedCalls
from obs_mcp.queries import logsql_exact, logsql_in
from obs_mcp.timeparse import Window

REPEAT_MIN = 3  # the same call this many times under one parent counts as a repeat
MAX_ROWS = 10
OUTGOING = ("3", "4")  # SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER


async def repeated_calls(backends: Backends, service: str, window: Window) -> list[RepeatedCalls]:
    """(parent operation, call) pairs that repeat, with the distribution of calls per parent."""
    own = logsql_exact(SERVICE, service)
    groups = (
        f"{own} {logsql_in('kind', list(OUTGOING))} "
        f"| stats by (parent_span_id, name) count() n | filter n:>={REPEAT_MIN}"
    )
    parents = (
        f"{own} span_id:in({groups} | fields parent_span_id) "
        "| fields span_id, name | rename span_id as parent_span_id, name as parent_name"
    )
    query = (
        f"{groups} | join by (parent_span_id) ({parents}) inner "
        "| stats by (parent_name, name) count() parents, min(n) lo, max(n) hi, sum(n) calls "
        f"| sort by (calls desc) | limit {MAX_ROWS}"
    )
    rows = await backends.traces.query(query, window)
    return [
        RepeatedCalls(
            operation=row.get("parent_name", ""),
            call=row.get("name", ""),
            parents=int(row.get("parents") or 0),
            calls_min=int(row.get("lo") or 0),
            calls_mean=round(int(row.get("calls") or 0) / max(1, int(row.get("parents") or 0)), 2),
            calls_max=int(row.get("hi") or 0),
            calls=int(row.get("calls") or 0),
        )
        for row in rows
    ]
