"""Names that exist, for hints: an agent that mistypes `shopp` should read "did you mean: shop"."""

from __future__ import annotations

import difflib

from obs_mcp.clients.logsql import LogsQLClient
from obs_mcp.core.backends import Backends
from obs_mcp.core.fields import LOG_SERVICE, SERVICE
from obs_mcp.core.tenants import tenant_hint
from obs_mcp.queries import logsql_field
from obs_mcp.timeparse import Window

MAX_CANDIDATES = 1000
LISTED = 20


async def top_values(
    client: LogsQLClient, field: str, window: Window, n: int = LISTED
) -> list[str]:
    """The most frequent values of `field` in the window, most frequent first (rows without
    it, such as VictoriaTraces' trace-id index rows, are left out)."""
    query = (
        f"{logsql_field(field)}:* | stats by ({logsql_field(field)}) count() hits "
        f"| sort by (hits desc) | limit {n}"
    )
    return [row[field] for row in await client.query(query, window) if row.get(field)]


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """The nearest spellings, case ignored (difflib ratio >= 0.6), nearest first."""
    by_lower = {c.lower(): c for c in reversed(candidates)}  # the most frequent spelling wins
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), by_lower, n, 0.6)]


def describe_known(name: str, known: list[str], what: str = "Services") -> str:
    """`Did you mean: shop? Services then: shop, payments.` from names most frequent first."""
    suggestions = closest(name, known)
    listed = ", ".join(known[:LISTED]) or "none"
    more = f" (the {LISTED} busiest of {len(known)})" if len(known) > LISTED else ""
    guess = f"Did you mean: {', '.join(suggestions)}? " if suggestions else ""
    return f"{guess}{what} then: {listed}{more}."


async def unknown_service_hint(
    backends: Backends, service: str, window: Window, problem: str, logs: bool = False
) -> str:
    """`<problem> in <window>. Did you mean: …? Services with spans then: …` plus next steps."""
    client, field, signal = (
        (backends.logs, LOG_SERVICE, "logs") if logs else (backends.traces, SERVICE, "spans")
    )
    known = await top_values(client, field, window, n=MAX_CANDIDATES)
    if service in known:
        return f"{problem} in {window.describe()} (the service has {signal} then)."
    if not known and (tenant := await tenant_hint(client, window)):
        return f"{problem} in {window.describe()}. {tenant}"
    return (
        f"{problem} in {window.describe()}. "
        f"{describe_known(service, known, f'Services with {signal}')} "
        "Names are exact: widen `since` if the data is older, or check list_services."
    )
