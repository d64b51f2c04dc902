"""agent_sessions: the coding agent's own sessions (Claude Code, Codex), counted by the stores.

Every figure is a LogsQL `stats` over the client's own events (VictoriaLogs), over the spans of
the traces those events name (VictoriaTraces: the children that continued a session's trace),
or PromQL over its metrics (VictoriaMetrics: active time); nothing is sampled or counted here.
Names per client live in `agent_clients` (read back from the real CLIs); a figure a client
does not export is left out with a note, never shown as a zero.
"""

from __future__ import annotations

import json
from collections import defaultdict

from obs_mcp.core.agent_clients import CLIENTS, AgentClient
from obs_mcp.core.agent_timeline import event_timeline, span_timeline
from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.fields import SERVICE, STATUS_ERROR
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import AgentSession, AgentSessionsResult, ChildService, McpUse, ToolUse
from obs_mcp.queries import (
    check_name,
    logsql_exact,
    logsql_field,
    logsql_in,
    promql_label_value,
)
from obs_mcp.timeparse import Window, parse_store_time, resolve_window, rfc3339

MAX_LIMIT = 50
MAX_TOOL_ROWS = 1000  # (session, tool) rows of one answer
MAX_TRACES = 500  # trace ids read per answer
MAX_TRACE_IDS_SHOWN = 5
MAX_TIMELINE_ROWS = 2000  # rows read to build one session's timeline
SOURCE = (
    "LogsQL stats over the clients' own events (VictoriaLogs), over the spans of the traces "
    "those events name (VictoriaTraces) and PromQL over their metrics: exact, not sampled"
)


def _q(field: str) -> str:
    return logsql_field(field)


def _base(client: AgentClient, sessions: list[str] | None = None) -> str:
    parts = [logsql_in("service.name", list(client.services)), f"{_q(client.session)}:*"]
    if sessions is not None:
        parts.append(logsql_in(client.session, sessions))
    return " ".join(parts)


def _event(name: str) -> str:
    return logsql_exact("event.name", name)


def _summary_query(client: AgentClient, limit: int, session_id: str | None) -> str:
    s = _q(client.session)
    token_rows = " ".join(p for p in (_event(client.token_event), client.token_filter) if p)
    stats = [
        "min(_time) first",
        "max(_time) last",
        f"count() if ({_event(client.prompt)}) prompts",
        f"count() if ({_event(client.api_request)}) api_calls",
        f"count() if ({client.api_error}) api_errors",
        *(f"sum({_q(f)}) if ({token_rows}) tok_{kind}" for kind, f in client.tokens.items()),
        f"uniq_values({_q(client.model)}) limit 5 models",
        "uniq_values(service.name) limit 1 service",
    ]
    if client.cost:
        stats.append(f"sum({_q(client.cost)}) if ({_event(client.api_request)}) cost")
    if client.subagent:  # rows without the field (the main thread's) are not counted
        stats.append(f"count_uniq({_q(client.subagent)}) subagents")
    where = _base(client, [session_id] if session_id else None)
    return f"{where} | stats by ({s}) {', '.join(stats)} | sort by (last desc) | limit {limit + 1}"


def _count_query(client: AgentClient) -> str:
    return f"{_base(client)} | stats count_uniq({_q(client.session)}) n"


def _tools_query(client: AgentClient, ids: list[str]) -> str:
    ok = logsql_in(client.decision, list(client.accepted))
    decision, result = _event(client.tool_decision), _event(client.tool_result)
    return (
        f"{_base(client, ids)} {logsql_in('event.name', [client.tool_decision, client.tool_result])}"
        f" | stats by ({_q(client.session)}, {_q(client.tool)}) "
        f"count() if ({result}) calls, "
        f"count() if ({result} {logsql_exact(client.success, 'false')}) failed, "
        f"count() if ({decision} {ok}) accepted, count() if ({decision} -{ok}) rejected "
        f"| sort by (calls desc) | limit {MAX_TOOL_ROWS + 1}"
    )


def _mcp_query(client: AgentClient, ids: list[str]) -> str:
    assert client.mcp_tool is not None
    return (
        f"{_base(client, ids)} {_event(client.tool_result)} "
        f"{logsql_exact(client.tool, client.mcp_tool)} "
        "| unpack_json from tool_parameters fields (mcp_server_name, mcp_tool_name) "
        f"| stats by ({_q(client.session)}, mcp_server_name, mcp_tool_name) count() calls, "
        f"count() if ({logsql_exact(client.success, 'false')}) failed "
        f"| sort by (calls desc) | limit {MAX_TOOL_ROWS + 1}"
    )


def _traces_query(client: AgentClient, ids: list[str]) -> str:
    return (
        f"{_base(client, ids)} trace_id:* | stats by ({_q(client.session)}, trace_id) "
        f"min(_time) first | sort by (first) | limit {MAX_TRACES + 1}"
    )


def _spans_query(trace_ids: list[str]) -> str:
    return (
        f"{logsql_in('trace_id', trace_ids)} | stats by (trace_id, {_q(SERVICE)}) count() spans, "
        f"count() if (status_code:={STATUS_ERROR}) errors"
    )


async def _active_seconds(
    backends: Backends, client: AgentClient, ids: list[str], window: Window
) -> dict[str, float]:
    """Claude Code's active-time counter per session (cumulative: agent-env sets it)."""
    if client.name != "claude-code" or not ids:
        return {}
    pattern = "|".join(_regex_escape(i) for i in ids)
    seconds = max(1, int(window.seconds))
    query = (
        "sum by (session_id) (last_over_time(claude_code_active_time_seconds_total"
        f"{{session_id=~{promql_label_value(pattern)}}}[{seconds}s]))"
    )
    data = await backends.metrics.instant(query, window.end.timestamp())
    out: dict[str, float] = {}
    for item in data.get("result", []):
        sid = item.get("metric", {}).get("session_id")
        if sid:
            out[sid] = round(float(item["value"][1]), 3)
    return out


def _regex_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in r".^$*+?()[]{}|\\" else c for c in text)


def _int(row: dict[str, str], key: str) -> int:
    try:
        return int(float(row.get(key) or 0))
    except ValueError:
        return 0


def _session(client: AgentClient, row: dict[str, str]) -> AgentSession:
    first, last = parse_store_time(row["first"]), parse_store_time(row["last"])
    models = _json_list(row.get("models"))
    service = (_json_list(row.get("service")) or [client.services[0]])[0]
    cost = round(float(row["cost"]), 9) if client.cost and row.get("cost") else None
    notes = list(client.notes)
    return AgentSession(
        session_id=row[client.session],
        client=client.name,
        service=service,
        models=models,
        start=rfc3339(first),
        end=rfc3339(last),
        duration_s=round((last - first).total_seconds(), 3),
        prompts=_int(row, "prompts"),
        api_calls=_int(row, "api_calls"),
        api_errors=_int(row, "api_errors"),
        tokens={kind: _int(row, f"tok_{kind}") for kind in client.tokens},
        cost_usd=cost,
        subagents=_int(row, "subagents") if client.subagent else None,
        notes=notes,
    )


def _json_list(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(v) for v in value if v] if isinstance(value, list) else []


async def agent_sessions(
    backends: Backends,
    session_id: str | None = None,
    client: str | None = None,
    since: str | None = "1d",
    start: str | None = None,
    end: str | None = None,
    limit: int = 10,
) -> AgentSessionsResult:
    window = resolve_window(since, start, end, default_since="1d")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1..{MAX_LIMIT}")
    if client is not None and client not in CLIENTS:
        raise InvalidArgument(f"client {client!r} is unknown: choose one of {', '.join(CLIENTS)}")
    if session_id is not None:
        check_name(session_id, "session_id")
    clients = [CLIENTS[client]] if client else list(CLIENTS.values())
    found = await gather_all(
        *(lambda c=c: _sessions_of(backends, c, window, limit, session_id) for c in clients)
    )
    total = sum(n for _, n in found)
    sessions = sorted((s for rows, _ in found for s in rows), key=lambda s: s.end, reverse=True)[
        :limit
    ]
    by_client: dict[str, list[AgentSession]] = defaultdict(list)
    for s in sessions:
        by_client[s.client].append(s)
    await gather_all(
        *(
            lambda c=CLIENTS[name], group=group: _details(backends, c, group, window, session_id)
            for name, group in by_client.items()
        )
    )
    result = AgentSessionsResult(
        returned=len(sessions),
        truncated=total > len(sessions),
        window=window.describe(),
        total_sessions=total,
        sessions=sessions,
        source=SOURCE,
    )
    if not sessions:
        result.hint = _empty_hint(clients, session_id, window)
    elif result.truncated:
        result.hint = f"{total} sessions; newest {len(sessions)} shown: raise limit or narrow since"
    return result


async def _sessions_of(
    backends: Backends, client: AgentClient, window: Window, limit: int, session_id: str | None
) -> tuple[list[AgentSession], int]:
    rows, counted = await gather_all(
        lambda: backends.logs.query(_summary_query(client, limit, session_id), window),
        lambda: backends.logs.query(_count_query(client), window),
    )
    sessions = [_session(client, r) for r in rows if r.get(client.session)]
    total = _int(counted[0], "n") if counted else 0
    return sessions, len(sessions) if session_id else total


async def _details(
    backends: Backends,
    client: AgentClient,
    sessions: list[AgentSession],
    window: Window,
    session_id: str | None,
) -> None:
    """Tool calls, MCP calls, traces and children of these sessions (one query each)."""
    ids = [s.session_id for s in sessions]
    by_id = {s.session_id: s for s in sessions}
    mcp_query = _mcp_query(client, ids) if client.mcp_tool else None
    tools, mcp, traces, active = await gather_all(
        lambda: backends.logs.query(_tools_query(client, ids), window),
        lambda: backends.logs.query(mcp_query, window) if mcp_query else _none(),
        lambda: backends.logs.query(_traces_query(client, ids), window),
        lambda: _active_seconds(backends, client, ids, window),
    )
    for row in tools[:MAX_TOOL_ROWS]:
        session = by_id.get(row.get(client.session, ""))
        if session is not None:
            session.tool_calls.append(
                ToolUse(
                    tool=row.get(client.tool) or "?",
                    calls=_int(row, "calls"),
                    failed=_int(row, "failed"),
                    accepted=_int(row, "accepted"),
                    rejected=_int(row, "rejected"),
                )
            )
    for row in mcp[:MAX_TOOL_ROWS]:
        session = by_id.get(row.get(client.session, ""))
        if session is not None:
            session.mcp_calls.append(
                McpUse(
                    server=row.get("mcp_server_name") or "? (set OTEL_LOG_TOOL_DETAILS=1)",
                    tool=row.get("mcp_tool_name") or "?",
                    calls=_int(row, "calls"),
                    failed=_int(row, "failed"),
                )
            )
    if len(tools) > MAX_TOOL_ROWS or len(mcp) > MAX_TOOL_ROWS:
        for s in sessions:
            s.notes.append(
                f"more than {MAX_TOOL_ROWS} (session, tool) rows: fewer sessions show all"
            )
    for sid, seconds in active.items():
        if sid in by_id:
            by_id[sid].active_s = seconds
    owner: dict[str, AgentSession] = {}
    for row in traces[:MAX_TRACES]:
        session = by_id.get(row.get(client.session, ""))
        if session is not None and row.get("trace_id"):
            owner[row["trace_id"]] = session
            session.traces += 1
            if len(session.trace_ids) < MAX_TRACE_IDS_SHOWN:
                session.trace_ids.append(row["trace_id"])
    if len(traces) > MAX_TRACES:
        for s in sessions:
            s.notes.append(f"more than {MAX_TRACES} traces in this answer: children undercounted")
    await _children(backends, client, sessions, owner, window)
    if session_id is not None and sessions:
        await _timeline(backends, client, sessions[0], list(owner), window)


async def _none() -> list[dict[str, str]]:
    return []


async def _children(
    backends: Backends,
    client: AgentClient,
    sessions: list[AgentSession],
    owner: dict[str, AgentSession],
    window: Window,
) -> None:
    """Spans of other services in the sessions' traces: the processes that inherited them."""
    rows = await backends.traces.query(_spans_query(list(owner)), window) if owner else []
    spans_seen: set[str] = set()
    per: dict[tuple[str, str], ChildService] = {}
    for row in rows:
        session = owner.get(row.get("trace_id", ""))
        service = row.get(SERVICE, "")
        if session is None:
            continue
        spans_seen.add(session.session_id)
        if service in client.services:
            continue
        child = per.setdefault(
            (session.session_id, service), ChildService(service=service, traces=0, spans=0)
        )
        child.traces += 1
        child.spans += _int(row, "spans")
        child.errors += _int(row, "errors")
    for s in sessions:
        if s.session_id in spans_seen:
            s.children = sorted(
                (c for (sid, _), c in per.items() if sid == s.session_id), key=lambda c: -c.spans
            )
        else:
            s.notes.append(_no_spans_note(client))


def _no_spans_note(client: AgentClient) -> str:
    how = (
        "obs-mcp agent-env claude-code --traces"
        if client.name == "claude-code"
        else ("the [otel] trace_exporter of `obs-mcp agent-env codex`")
    )
    return f"no spans for this session's traces, so its children are not knowable: {how}"


async def _timeline(
    backends: Backends,
    client: AgentClient,
    session: AgentSession,
    trace_ids: list[str],
    window: Window,
) -> None:
    """Spans when the client's spans tell the story (Claude Code), else its events in order."""
    if client.span_session and session.children is not None and trace_ids:
        query = f"{logsql_in('trace_id', trace_ids)} | limit {MAX_TIMELINE_ROWS + 1}"
        rows = await backends.traces.query(query, window)
        session.timeline, session.timeline_omitted = span_timeline(client, rows)
        if len(rows) > MAX_TIMELINE_ROWS:
            session.notes.append(f"timeline built from the first {MAX_TIMELINE_ROWS} spans")
        return
    names = [client.prompt, client.api_request, client.tool_decision, client.tool_result]
    query = (
        f"{_base(client, [session.session_id])} {logsql_in('event.name', names)} "
        # event.sequence orders Claude Code's events within one millisecond (Codex has none)
        f'| sort by (_time, "event.sequence") | limit {MAX_TIMELINE_ROWS + 1}'
    )
    events = await backends.logs.query(query, window)
    session.timeline, session.timeline_omitted = event_timeline(client, events)


def _empty_hint(clients: list[AgentClient], session_id: str | None, window: Window) -> str:
    names = ", ".join(s for c in clients for s in c.services)
    if session_id:
        return f"no events of session {session_id!r} in {window.describe()}: widen since"
    return (
        f"no agent session events (service.name in {names}) in {window.describe()}: turn the "
        "agent's telemetry on with `obs-mcp agent-env claude-code|codex`, or widen since"
    )
