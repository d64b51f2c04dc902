"""agent_sessions with the real pinned CLIs, offline: Claude Code and Codex, each with its model
API faked on loopback, run one shell command that starts tests/agent_child.py; their own
telemetry goes to a real test stack. Every expected figure follows from the fake API's script
(fixed usage, one tool call); waits end as soon as the stores hold the figures (deadline only).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from obs_mcp.agents import claude_code_telemetry_env, codex_telemetry_toml
from obs_mcp.core.agent_sessions import agent_sessions
from obs_mcp.core.correlate import correlate_trace
from obs_mcp.models import (
    AgentSession,
    AgentSessionsResult,
    ChildService,
    CorrelatedTrace,
    ToolUse,
)
from obs_mcp.stack.runner import Stack, StackSettings
from tests import fake_openai
from tests.agent_clis import CLAUDE_RUN_ENV, OBS_MCP, on_stack, run_cli
from tests.fake_anthropic import INPUT_TOKENS, OUTPUT_TOKENS, Script, fake_anthropic
from tests.known_telemetry import logsql
from tests.waiting import wait_for, wait_for_value

CHILD = Path(__file__).with_name("agent_child.py")
DEADLINE_S = 90  # a bound, not the proof: each wait returns once its figures are there
MODEL = "claude-sonnet-4-5"


def _claude_env(
    env: dict[str, str], settings: StackSettings, api_url: str, traces: bool = True
) -> dict[str, str]:
    """Claude Code as `agent-env` sets it up, talking to the fake model API at `api_url`."""
    return {
        **env,
        **claude_code_telemetry_env(settings, traces=traces),
        **CLAUDE_RUN_ENV,
        "ANTHROPIC_BASE_URL": api_url,
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key",
    }


def _claude_runs_bash(project: Path, run_env: dict[str, str], prompt: str) -> str:
    return run_cli(
        project, run_env, "claude", "-p", prompt, "--model", MODEL, "--allowedTools", "Bash"
    )


def _sessions(settings: StackSettings, session_id: str, client: str) -> AgentSessionsResult:
    return on_stack(settings, lambda b: agent_sessions(b, session_id, client, since="1h"))


def _correlated(settings: StackSettings, trace_id: str) -> CorrelatedTrace:
    return on_stack(settings, lambda b: correlate_trace(b, trace_id, since="1h"))


def _child_command(settings: StackSettings, out: Path, service: str) -> str:
    args = [sys.executable, str(CHILD), str(out), service]
    return f"OBS_CHILD_OTLP={settings.otlp_http_url} {shlex.join(args)}"


def _figures(s: AgentSession, ordered: bool = True) -> dict[str, Any]:
    """What must be exact, and what grows as exports land (so a wait can end on it)."""
    timeline = [(n.depth, n.kind, n.name) for n in s.timeline]
    return {
        "prompts": s.prompts,
        "api_calls": s.api_calls,
        "api_errors": s.api_errors,
        "tokens": s.tokens,
        "tool_calls": s.tool_calls,
        "children": s.children,
        "traces": s.traces,
        "timeline": timeline if ordered else sorted(timeline),
    }


def _one(result: AgentSessionsResult) -> AgentSession:
    assert result.returned == 1, result
    return result.sessions[0]


def _wait_figures(
    settings: StackSettings,
    session_id: str,
    client: str,
    expected: dict[str, Any],
    ordered: bool = True,
) -> AgentSession:
    """The session once its figures are the expected ones (they only grow as data lands)."""
    wait_for_value(
        lambda: _figures(_one(_sessions(settings, session_id, client)), ordered),
        expected,
        timeout=DEADLINE_S,
        interval=0.5,
    )
    return _one(_sessions(settings, session_id, client))


@pytest.mark.slow
@pytest.mark.stack
def test_claude_code_session_with_its_child_in_one_trace(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack, tmp_path: Path
) -> None:
    """Claude Code runs one Bash command whose child emits a span: the session has exact
    counts, and the child's span sits under the Bash tool call in the session's one trace."""
    project, env = agent_env
    settings = native_stack.settings
    child_service = f"agent-child-{uuid.uuid4().hex[:8]}"
    seen_file = tmp_path / "child.json"
    command = _child_command(settings, seen_file, child_service)
    script = Script("Bash", {"command": command, "description": "child"}, calls=1, pause=0.0)
    with fake_anthropic(script) as api:
        run_env = _claude_env(env, settings, api.url)  # agent-env's defaults: traces + propagation
        out = _claude_runs_bash(project, run_env, "run the child")
    assert "done" in out
    assert [(c.replied_with_tool_use, c.tool_results) for c in api.calls] == [(True, 0), (False, 1)]
    seen = json.loads(seen_file.read_text())
    session_id = seen["CLAUDE_CODE_SESSION_ID"]
    _, trace_id, parent_span, _ = seen["TRACEPARENT"].split("-")
    assert seen["span"].split("-")[0] == trace_id  # the child continued the inherited trace

    expected = {
        "prompts": 1,
        "api_calls": 2,
        "api_errors": 0,
        "tokens": {
            "input": 2 * INPUT_TOKENS,
            "output": 2 * OUTPUT_TOKENS,
            "cache_read": 0,
            "cache_creation": 0,
        },
        "tool_calls": [ToolUse(tool="Bash", calls=1, failed=0, accepted=1, rejected=0)],
        "children": [ChildService(service=child_service, traces=1, spans=1, errors=0)],
        "traces": 1,
        "timeline": [
            (0, "prompt", "claude_code.interaction"),
            (1, "api_call", MODEL),
            (1, "tool_call", "Bash"),
            (2, "step", "claude_code.tool.blocked_on_user"),
            (2, "step", "claude_code.tool.execution"),
            (3, "child", "child-work"),
            (1, "api_call", MODEL),
        ],
    }
    session = _wait_figures(settings, session_id, "claude-code", expected)
    assert (session.client, session.service, session.models) == (
        "claude-code",
        "claude-code",
        [MODEL],
    )
    assert session.trace_ids == [trace_id]
    assert session.subagents == 0  # counted for Claude Code, and it started none
    events = logsql(settings.vl_url, f'"session.id":="{session_id}" event.name:=api_request')
    assert session.cost_usd == pytest.approx(sum(float(e["cost_usd"]) for e in events), rel=1e-9)
    child = next(n for n in session.timeline if n.kind == "child")
    execution = next(n for n in session.timeline if n.name == "claude_code.tool.execution")
    assert (child.service, child.trace_id) == (child_service, trace_id)
    assert execution.span_id == parent_span  # TRACEPARENT named the tool's execution span
    assert seen["span"].split("-")[1] == child.span_id
    # correlate_trace renders the same tree: the child under the tool's execution span
    tree_spans = {n.span_id: n for n in _correlated(settings, trace_id).spans}
    assert tree_spans[child.span_id].parent_span_id == execution.span_id
    assert tree_spans[child.span_id].depth == child.depth

    # the CLI gives the same figures (`--json`: the tool's answer), and the tree for a human;
    # only the figures the wait established are compared (a late event may move `end`)
    store_env = {**settings.store_env(), "PATH": env["PATH"], "HOME": env["HOME"]}
    cli = subprocess.run(
        [*OBS_MCP, "sessions", session_id, "--since", "1h", "--json"],
        env=store_env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert _figures(_one(AgentSessionsResult.model_validate_json(cli.stdout))) == expected
    print(cli.stdout)  # shown with -s or on failure: the real answer
    tree = subprocess.run(
        [*OBS_MCP, "sessions", session_id, "--since", "1h"],
        env={**store_env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=60,
        check=True,
    ).stdout  # fmt: skip
    print(tree)
    assert f"      child {child_service}: child-work" in tree


@pytest.mark.slow
@pytest.mark.stack
def test_codex_session_counts_and_its_child_not_linked(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack, tmp_path: Path
) -> None:
    """`codex exec` runs one command whose child emits a span: the session has exact counts,
    and the child's span is in a trace of its own, since Codex 0.171 passes no TRACEPARENT."""
    project, env = agent_env
    settings = native_stack.settings
    child_service = f"agent-child-{uuid.uuid4().hex[:8]}"
    seen_file = tmp_path / "child.json"
    codex_home = Path(env["HOME"]) / ".codex"
    codex_home.mkdir()
    with fake_openai.fake_responses(_child_command(settings, seen_file, child_service)) as api:
        (codex_home / "config.toml").write_text(
            fake_openai.codex_provider_toml(api) + "\n" + codex_telemetry_toml(settings) + "\n"
        )
        out = run_cli(
            project, {**env, "CODEX_HOME": str(codex_home)}, "codex", "exec",
            "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
            "run the child",
        )  # fmt: skip
    assert "done" in out
    assert api.calls == [("exec_command", 0), ("", 1)], (api.calls, api.other)
    seen = json.loads(seen_file.read_text())
    assert "TRACEPARENT" not in seen, seen  # the fact this test shows
    session_id = seen["CODEX_THREAD_ID"]

    tokens = {"input": 2 * fake_openai.INPUT_TOKENS, "output": 2 * fake_openai.OUTPUT_TOKENS}
    expected = {
        "prompts": 1,
        "api_calls": 2,
        "api_errors": 0,
        "tokens": {**tokens, "cache_read": 0, "reasoning": 0},
        "tool_calls": [ToolUse(tool="exec_command", calls=1, failed=0, accepted=1, rejected=0)],
        "children": [],  # its traces hold only Codex's own spans
        "traces": 2,  # the thread's start-up (conversation_starts) and its one turn
        "timeline": [
            (0, "prompt", "codex.user_prompt"),
            (1, "api_call", "gpt-5.1-codex"),
            (1, "event", "exec_command"),
            (1, "tool_call", "exec_command"),
            (1, "api_call", "gpt-5.1-codex"),
        ],
    }
    session = _wait_figures(settings, session_id, "codex", expected)
    assert (session.client, session.service, session.models) == (
        "codex",
        "codex_exec",
        ["gpt-5.1-codex"],
    )
    assert session.cost_usd is None and any("no cost" in n for n in session.notes)
    assert session.subagents is None  # Codex exports no sub-agent ids: absent, not 0
    child_trace, child_span = seen["span"].split("-")
    spans = logsql(settings.vt_url, f'trace_id:="{child_trace}"')
    assert [(s["span_id"], s.get("parent_span_id", "")) for s in spans] == [(child_span, "")]


@pytest.mark.slow
@pytest.mark.stack
def test_codex_exec_started_by_claude_code_nests_under_its_bash_call(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack, tmp_path: Path
) -> None:
    """The seed's picture: Claude Code's Bash runs `codex exec`; Codex continues the inherited
    TRACEPARENT, so its spans are children of that tool call in Claude Code's session, and
    the Codex session is listed on its own. Codex hands the same TRACEPARENT on unchanged to
    the command it runs, so that grandchild sits beside Codex under the Bash call, not under
    a Codex span."""
    project, env = agent_env
    settings = native_stack.settings
    seen_file = tmp_path / "child.json"
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    child_service = f"agent-child-{uuid.uuid4().hex[:8]}"
    with fake_openai.fake_responses(_child_command(settings, seen_file, child_service)) as openai:
        (codex_home / "config.toml").write_text(
            fake_openai.codex_provider_toml(openai) + "\n" + codex_telemetry_toml(settings) + "\n"
        )
        codex = shlex.join(
            ["codex", "exec", "--skip-git-repo-check",
             "--dangerously-bypass-approvals-and-sandbox", "run the child"]
        )  # fmt: skip
        command = f"CODEX_HOME={shlex.quote(str(codex_home))} {codex} </dev/null"
        script = Script("Bash", {"command": command, "description": "codex"}, calls=1, pause=0.0)
        with fake_anthropic(script) as anthropic:
            _claude_runs_bash(project, _claude_env(env, settings, anthropic.url), "run codex")
    assert openai.calls == [("exec_command", 0), ("", 1)], (openai.calls, openai.other)
    seen = json.loads(seen_file.read_text())
    codex_session, claude_session = seen["CODEX_THREAD_ID"], seen["CLAUDE_CODE_SESSION_ID"]

    def codex_figures() -> dict[str, Any]:
        return _figures(_one(_sessions(settings, codex_session, "codex")))

    codex_done = wait_for_value(
        lambda: {k: v for k, v in codex_figures().items() if k in ("api_calls", "tool_calls")},
        {"api_calls": 2, "tool_calls": [ToolUse(tool="exec_command", calls=1, accepted=1)]},
        timeout=DEADLINE_S,
        interval=0.5,
    )
    assert codex_done
    claude = wait_for_value(
        lambda: [(n.depth, n.kind, n.service) for n in
                 _one(_sessions(settings, claude_session, "claude-code")).timeline][:6],
        [(0, "prompt", "claude-code"), (1, "api_call", "claude-code"),
         (1, "tool_call", "claude-code"), (2, "step", "claude-code"),
         (2, "step", "claude-code"), (3, "child", "codex_exec")],
        timeout=DEADLINE_S,
        interval=0.5,
    )  # fmt: skip
    assert claude
    session = _one(_sessions(settings, claude_session, "claude-code"))
    (trace_id,) = session.trace_ids
    codex_spans = logsql(
        settings.vt_url, f'trace_id:="{trace_id}" "resource_attr:service.name":="codex_exec"'
    )
    assert session.children == [
        ChildService(service="codex_exec", traces=1, spans=len(codex_spans), errors=0),
        ChildService(service=child_service, traces=1, spans=1, errors=0),
    ]
    execution = next(n for n in session.timeline if n.name == "claude_code.tool.execution")
    assert seen["TRACEPARENT"].split("-")[2] == execution.span_id  # Claude Code's, unchanged
    codex_roots = [s for s in codex_spans if s.get("parent_span_id") == execution.span_id]
    assert len(codex_roots) >= 1, codex_spans[:3]  # Codex continued the Bash call's trace
    codex_view = _one(_sessions(settings, codex_session, "codex"))
    assert trace_id in codex_view.trace_ids  # the same trace, seen from Codex's side


@pytest.mark.slow
@pytest.mark.stack
def test_claude_code_without_traces_says_children_are_not_knowable(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack, tmp_path: Path
) -> None:
    """`agent-env --no-traces`: no spans and no TRACEPARENT, so the answer leaves `children`
    out with a note instead of showing none, and the timeline comes from the events."""
    project, env = agent_env
    settings = native_stack.settings
    seen_file = tmp_path / "child.json"
    command = _child_command(settings, seen_file, f"agent-child-{uuid.uuid4().hex[:8]}")
    script = Script("Bash", {"command": command, "description": "child"}, calls=1, pause=0.0)
    with fake_anthropic(script) as api:
        run_env = _claude_env(env, settings, api.url, traces=False)
        _claude_runs_bash(project, run_env, "run the child")
    seen = json.loads(seen_file.read_text())
    assert "TRACEPARENT" not in seen, seen
    expected = {
        "prompts": 1,
        "api_calls": 2,
        "api_errors": 0,
        "tokens": {
            "input": 2 * INPUT_TOKENS,
            "output": 2 * OUTPUT_TOKENS,
            "cache_read": 0,
            "cache_creation": 0,
        },
        "tool_calls": [ToolUse(tool="Bash", calls=1, failed=0, accepted=1, rejected=0)],
        "children": None,
        "traces": 0,
        # the events in time order; Claude Code may log the model call that asked for the tool
        # before or after the tool's decision, so the order is checked apart from the set
        "timeline": sorted(
            [
                (0, "prompt", "user_prompt"),
                (1, "api_call", MODEL),
                (1, "event", "Bash"),
                (1, "tool_call", "Bash"),
                (1, "api_call", MODEL),
            ]
        ),
    }
    session = _wait_figures(
        settings, seen["CLAUDE_CODE_SESSION_ID"], "claude-code", expected, ordered=False
    )
    timeline = [(n.depth, n.kind, n.name) for n in session.timeline]
    assert timeline[0] == (0, "prompt", "user_prompt") and timeline[-1][1] == "api_call"
    assert [n.time for n in session.timeline] == sorted(n.time for n in session.timeline)
    assert any("children are not knowable" in n for n in session.notes), session.notes


@pytest.mark.slow
@pytest.mark.stack
def test_claude_code_failed_model_call_counts_as_api_error(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack
) -> None:
    """The model API refuses every request (HTTP 400): the session has one api_error (Claude
    Code sent the request 3 times but logs one api_error event per failed call), no
    successful API call and no tokens."""
    project, env = agent_env
    settings = native_stack.settings
    run_id = uuid.uuid4().hex
    with fake_anthropic(Script(reject=400)) as api:
        run_env = {
            **_claude_env(env, settings, api.url),
            "OTEL_RESOURCE_ATTRIBUTES": f"obs_mcp.test_run={run_id}",
        }
        res = subprocess.run(
            ["claude", "-p", "hello", "--model", MODEL],
            cwd=project, env=run_env, capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert res.returncode != 0 and api.calls, (res.returncode, res.stdout)
    prompt = f'obs_mcp.test_run:="{run_id}" event.name:=user_prompt'
    session_id = wait_for(lambda: logsql(settings.vl_url, prompt), timeout=DEADLINE_S)[0][
        "session.id"
    ]
    keys = ("prompts", "api_calls", "api_errors", "tokens", "tool_calls")
    tokens = {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
    wait_for_value(
        lambda: {
            k: v
            for k, v in _figures(_one(_sessions(settings, session_id, "claude-code"))).items()
            if k in keys
        },
        {
            "prompts": 1,
            "api_calls": 0,
            "api_errors": 1,
            "tokens": tokens,
            "tool_calls": [],
        },
        timeout=DEADLINE_S,
        interval=0.5,
    )
    (error,) = logsql(settings.vl_url, f'"session.id":="{session_id}" event.name:=api_error')
    assert (error["status_code"], error["model"]) == ("400", MODEL)


SUBAGENT_MARKER = "obs-mcp-subagent-7f3a"


@pytest.mark.slow
@pytest.mark.stack
def test_claude_code_subagent_counts_and_nests_under_its_agent_call(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack
) -> None:
    """The model starts one sub-agent (Claude Code's `Agent` tool, in the foreground), which
    answers at once: the session counts 1 sub-agent, its model call among the session's 3,
    and the sub-agent's model call sits under the Agent call in the session's one trace."""
    project, env = agent_env
    settings = native_stack.settings
    agent_input = {
        "description": "probe",
        "prompt": f"{SUBAGENT_MARKER}: reply done",
        "subagent_type": "general-purpose",
        "run_in_background": False,  # the default is background: then a second "prompt" comes
    }
    script = Script("Agent", agent_input, calls=1, pause=0.0, subagent=SUBAGENT_MARKER)
    with fake_anthropic(script) as api:
        run_env = _claude_env(env, settings, api.url)
        out = run_cli(
            project, run_env, "claude", "-p", "start a sub-agent", "--model", MODEL,
            "--allowedTools", "Agent", "--output-format", "json", stdout_only=True,
        )  # fmt: skip
    assert [(c.subagent, c.replied_with_tool_use) for c in api.calls] == [
        (False, True),
        (True, False),
        (False, False),
    ], api.calls
    session_id = json.loads(out)["session_id"]

    def figures() -> dict[str, Any]:
        return {"subagents": _one(_sessions(settings, session_id, "claude-code")).subagents}

    expected = {
        "prompts": 1,
        "api_calls": 3,  # the sub-agent's own model call is the session's too
        "api_errors": 0,
        "tokens": {"input": 3 * INPUT_TOKENS, "output": 3 * OUTPUT_TOKENS, "cache_read": 0,
                   "cache_creation": 0},
        "tool_calls": [ToolUse(tool="Agent", calls=1, failed=0, accepted=1, rejected=0)],
        "children": [],
        "traces": 1,
        # the sub-agent's model call under the Agent call's execution step, in the one trace
        "timeline": [
            (0, "prompt", "claude_code.interaction"),
            (1, "api_call", MODEL),
            (1, "tool_call", "Agent"),
            (2, "step", "claude_code.tool.blocked_on_user"),
            (2, "step", "claude_code.tool.execution"),
            (3, "api_call", MODEL),
            (1, "api_call", MODEL),
        ],
    }  # fmt: skip
    _wait_figures(settings, session_id, "claude-code", expected)
    assert figures() == {"subagents": 1}
    sub_events = logsql(
        settings.vl_url, f'"session.id":="{session_id}" event.name:=api_request agent_id:*'
    )
    assert len(sub_events) == 1 and sub_events[0]["query_source"].startswith("agent:"), sub_events
