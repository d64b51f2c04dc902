"""`obs-mcp install` / `agent-env`: each client's format, edited in place, then read back by the
real CLIs (Claude Code, Codex, OpenCode, pinned in tests/clients) with temp homes; never the
real home."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from obs_mcp.agents import (
    AgentConfigError,
    ServerSpec,
    claude_code_telemetry_env,
    install,
    server_spec,
)
from obs_mcp.agents.tomledit import set_table
from obs_mcp.core.agent_sessions import agent_sessions
from obs_mcp.models import McpUse, ToolUse
from obs_mcp.stack.runner import Stack, StackPorts, StackSettings
from tests.agent_clis import CLAUDE_RUN_ENV, OBS_MCP, install_obs, on_stack, run_cli
from tests.fake_anthropic import (
    INPUT_TOKENS,
    OBS_TOOL,
    OUTPUT_TOKENS,
    TOOL_CALLS,
    fake_anthropic,
)
from tests.known_telemetry import logsql, promql_instant, wait_for_count
from tests.waiting import wait_for, wait_for_value

SPEC = ServerSpec("obs", "/opt/venv/bin/python", ("-m", "obs_mcp"), {"VL_URL": "http://vl:1"})
SPEC2 = ServerSpec("obs", "/new/bin/python", ("-m", "obs_mcp"), {"VL_URL": "http://vl:2"})


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project dir and an env whose HOME / XDG / CODEX_HOME all point into tmp_path."""
    project = tmp_path / "project"
    project.mkdir()
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    return project, env


# ---- Claude Code (JSON, mcpServers) ------------------------------------------------------


def test_claude_project_fresh_then_idempotent(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    first = install("claude-code", "project", SPEC, cwd=project, env=env)
    assert (first.action, first.written, first.path) == ("created", True, project / ".mcp.json")
    doc = json.loads(first.path.read_text())
    assert doc == {
        "mcpServers": {
            "obs": {
                "type": "stdio",
                "command": "/opt/venv/bin/python",
                "args": ["-m", "obs_mcp"],
                "env": {"VL_URL": "http://vl:1"},
            }
        }
    }
    before = first.path.read_bytes()
    mtime = first.path.stat().st_mtime_ns
    again = install("claude-code", "project", SPEC, cwd=project, env=env)
    assert (again.action, again.written) == ("unchanged", False)
    assert first.path.read_bytes() == before and first.path.stat().st_mtime_ns == mtime


def test_claude_user_keeps_other_keys_and_updates_in_place(
    homes: tuple[Path, dict[str, str]],
) -> None:
    project, env = homes
    path = Path(env["HOME"]) / ".claude.json"
    path.parent.mkdir(parents=True)
    original = {
        "userID": "abc",
        "projects": {"/x": {"allowedTools": []}},
        "mcpServers": {
            "other": {"type": "stdio", "command": "other-server"},
            "obs": {"type": "stdio", "command": "/old", "args": [], "env": {"MY_TOKEN": "t"}},
        },
    }
    path.write_text(json.dumps(original, indent=2))
    path.chmod(0o600)
    result = install("claude-code", "user", SPEC, cwd=project, env=env)
    assert (result.action, result.path) == ("updated", path)
    doc = json.loads(path.read_text())
    assert doc["userID"] == "abc" and doc["projects"] == original["projects"]
    assert doc["mcpServers"]["other"] == original["mcpServers"]["other"]
    assert list(doc["mcpServers"]) == ["other", "obs"]  # order kept: updated in place
    assert doc["mcpServers"]["obs"]["command"] == "/opt/venv/bin/python"
    assert doc["mcpServers"]["obs"]["env"] == {"MY_TOKEN": "t", "VL_URL": "http://vl:1"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_claude_config_dir_is_honoured(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    env = {**env, "CLAUDE_CONFIG_DIR": str(project.parent / "ccdir")}
    result = install("claude-code", "user", SPEC, cwd=project, env=env)
    assert result.path == project.parent / "ccdir" / ".claude.json"


def test_invalid_json_is_refused_untouched(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    (project / ".mcp.json").write_text("{not json")
    with pytest.raises(AgentConfigError, match="not plain JSON"):
        install("claude-code", "project", SPEC, cwd=project, env=env)
    assert (project / ".mcp.json").read_text() == "{not json"


# ---- Codex (TOML, [mcp_servers.NAME]) ------------------------------------------------------

CODEX_EXISTING = """\
# my codex settings
model = "gpt-5"  # keep this comment

[mcp_servers.other]
command = "other"
args = ["--flag"]

[mcp_servers.obs]
command = "/old/python"
args = ["-m", "obs_mcp"]
startup_timeout_sec = 30

[mcp_servers.obs.env]
VL_URL = "http://old"
MY_TOKEN = "t"

# comment about profiles
[profiles.fast]
model = "gpt-5-mini"
"""


def test_codex_fresh_user_config_honours_codex_home(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    env = {**env, "CODEX_HOME": str(project.parent / "codexhome")}
    result = install("codex", "user", SPEC, cwd=project, env=env)
    assert result.path == project.parent / "codexhome" / "config.toml"
    assert result.path.read_text() == (
        "[mcp_servers.obs]\n"
        'command = "/opt/venv/bin/python"\n'
        'args = ["-m", "obs_mcp"]\n'
        "\n"
        "[mcp_servers.obs.env]\n"
        'VL_URL = "http://vl:1"\n'
    )
    assert install("codex", "user", SPEC, cwd=project, env=env).action == "unchanged"


def test_codex_update_in_place_keeps_rest_of_text(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    path = Path(env["HOME"]) / ".codex" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CODEX_EXISTING)
    result = install("codex", "user", SPEC2, cwd=project, env=env)
    assert result.action == "updated"
    text = path.read_text()
    head, _, _tail = CODEX_EXISTING.partition("[mcp_servers.obs]")
    assert text.startswith(head)  # comments, model, the other server: byte for byte
    assert text.endswith('# comment about profiles\n[profiles.fast]\nmodel = "gpt-5-mini"\n')
    doc = tomllib.loads(text)
    assert doc["mcp_servers"]["other"] == {"command": "other", "args": ["--flag"]}
    assert doc["mcp_servers"]["obs"] == {
        "command": "/new/bin/python",
        "args": ["-m", "obs_mcp"],
        "startup_timeout_sec": 30,  # the user's extra key stays
        "env": {"VL_URL": "http://vl:2", "MY_TOKEN": "t"},
    }
    assert text.count("[mcp_servers.obs]") == 1
    again = install("codex", "user", SPEC2, cwd=project, env=env)
    assert (again.action, path.read_text()) == ("unchanged", text)


def test_codex_appends_after_existing_text(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text('model = "o3"  # no newline at end')
    result = install("codex", "project", SPEC, cwd=project, env=env)
    assert result.action == "added"
    text = path.read_text()
    assert text.startswith('model = "o3"  # no newline at end\n\n[mcp_servers.obs]\n')
    assert tomllib.loads(text)["model"] == "o3"
    assert any("trusted" in note for note in result.notes)  # Codex needs a trusted project


def test_codex_trusted_project_has_no_note(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    user = Path(env["HOME"]) / ".codex" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(f'[projects."{project}"]\ntrust_level = "trusted"\n')
    assert install("codex", "project", SPEC, cwd=project, env=env).notes == []


def test_codex_inline_definition_is_refused(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    path = Path(env["HOME"]) / ".codex" / "config.toml"
    path.parent.mkdir(parents=True)
    original = 'mcp_servers = { obs = { command = "x" } }\n'
    path.write_text(original)
    with pytest.raises(AgentConfigError, match="by hand"):
        install("codex", "user", SPEC, cwd=project, env=env)
    assert path.read_text() == original


def test_toml_quoted_header_is_found() -> None:
    text = '[mcp_servers."my obs"]\ncommand = "a"\n\n[x]\ny = 1\n'
    out = set_table(text, "mcp_servers", "my obs", {"z": 2})
    assert tomllib.loads(out) == {"mcp_servers": {"my obs": {"z": 2}}, "x": {"y": 1}}
    assert out.startswith('[mcp_servers."my obs"]\n') and out.endswith("\n[x]\ny = 1\n")


# ---- OpenCode (JSON, mcp + environment) -----------------------------------------------------


def test_opencode_project_fresh_and_user_xdg(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    result = install("opencode", "project", SPEC, cwd=project, env=env)
    assert result.path == project / "opencode.json"
    doc = json.loads(result.path.read_text())
    assert doc == {
        "$schema": "https://opencode.ai/config.json",
        "mcp": {
            "obs": {
                "type": "local",
                "command": ["/opt/venv/bin/python", "-m", "obs_mcp"],
                "environment": {"VL_URL": "http://vl:1"},
                "enabled": True,
            }
        },
    }
    user = install("opencode", "user", SPEC, cwd=project, env=env)
    assert user.path == Path(env["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"


def test_opencode_edits_its_plain_jsonc_and_keeps_keys(homes: tuple[Path, dict[str, str]]) -> None:
    """OpenCode creates ~/.config/opencode/opencode.jsonc itself; it wins over .json, so edit it."""
    project, env = homes
    directory = Path(env["XDG_CONFIG_HOME"]) / "opencode"
    directory.mkdir(parents=True)
    jsonc = directory / "opencode.jsonc"
    jsonc.write_text(
        '{\n    "theme": "dark",\n    "mcp": {"other": {"type": "remote", "url": "http://x"}}\n}\n'
    )
    result = install("opencode", "user", SPEC, cwd=project, env=env)
    assert (result.path, result.action) == (jsonc, "added")
    doc = json.loads(jsonc.read_text())
    assert doc["theme"] == "dark" and doc["mcp"]["other"]["url"] == "http://x"
    assert doc["mcp"]["obs"]["environment"] == {"VL_URL": "http://vl:1"}
    assert jsonc.read_text().startswith('{\n    "theme"')  # the file's 4-space indent kept
    assert install("opencode", "user", SPEC, cwd=project, env=env).action == "unchanged"


def test_opencode_warns_when_commented_jsonc_shadows(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    (project / "opencode.jsonc").write_text(
        '{\n  // mine\n  "mcp": {"obs": {"type": "local",},},\n}'
    )
    result = install("opencode", "project", SPEC, cwd=project, env=env)
    assert result.path == project / "opencode.json"
    assert any("opencode.jsonc also defines mcp.obs" in note for note in result.notes)


# ---- the CLI: --print writes nothing, output names the file ---------------------------------


def _cli(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    real = {k: v for k, v in os.environ.items() if k not in ("CODEX_HOME", "CLAUDE_CONFIG_DIR")}
    full = {**real, **env, "OBS_MCP_STATE_DIR": str(cwd.parent / "no-stack")}
    return subprocess.run(
        [*OBS_MCP, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("client", ["claude-code", "codex", "opencode"])
@pytest.mark.parametrize("scope", ["project", "user"])
def test_print_writes_nothing(homes: tuple[Path, dict[str, str]], client: str, scope: str) -> None:
    project, env = homes
    before = sorted(p for p in project.parent.rglob("*"))
    res = _cli(project, env, "install", client, "--scope", scope, "--print")
    assert res.returncode == 0, res.stderr
    assert sorted(p for p in project.parent.rglob("*")) == before
    assert sys.executable in res.stdout and "obs_mcp" in res.stdout
    assert "nothing written" in res.stderr
    if client != "codex":
        json.loads(res.stdout)  # the snippet alone on stdout, pasteable
    else:
        assert tomllib.loads(res.stdout)["mcp_servers"]["obs"]["args"] == ["-m", "obs_mcp"]


def test_cli_reports_the_file_and_uses_stack_ports(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    state = project.parent / "stack-state"
    state.mkdir()
    ports = StackPorts(victoriametrics=18428, victorialogs=19428, victoriatraces=20428)
    (state / "stack.json").write_text(json.dumps({"ports": ports.__dict__, "processes": {}}))
    args = ("install", "opencode", "--state-dir", str(state))
    first = _cli(project, env, *args)
    assert first.returncode == 0, first.stderr
    assert f"created {project / 'opencode.json'}" in first.stdout
    environment = json.loads((project / "opencode.json").read_text())["mcp"]["obs"]["environment"]
    assert environment["VL_URL"] == "http://127.0.0.1:19428"
    assert environment["VM_URL"] == "http://127.0.0.1:18428"
    assert environment["VT_URL"] == "http://127.0.0.1:20428"
    second = _cli(project, env, *args)
    assert "already up to date" in second.stdout and "nothing written" in second.stdout


def test_agent_env_outputs(homes: tuple[Path, dict[str, str]]) -> None:
    project, env = homes
    cc = _cli(project, env, "agent-env", "claude-code")
    assert cc.returncode == 0
    assert "export CLAUDE_CODE_ENABLE_TELEMETRY=1" in cc.stdout
    assert "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in cc.stdout
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318" in cc.stdout
    assert "export OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative" in cc.stdout
    settings = json.loads(_cli(project, env, "agent-env", "claude-code", "--settings").stdout)
    assert settings["env"]["OTEL_LOGS_EXPORTER"] == "otlp"
    codex = tomllib.loads(_cli(project, env, "agent-env", "codex").stdout)["otel"]
    assert codex["exporter"] == {
        "otlp-http": {"endpoint": "http://127.0.0.1:4318/v1/logs", "protocol": "binary"}
    }
    assert codex["metrics_exporter"]["otlp-http"]["endpoint"].endswith("/v1/metrics")
    assert codex["trace_exporter"]["otlp-http"]["endpoint"].endswith("/v1/traces")


# ---- the real clients, at the versions tests/clients/package-lock.json pins -------------------


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["project", "user"])
def test_claude_code_lists_server_connected(
    agent_env: tuple[Path, dict[str, str]], scope: str
) -> None:
    project, env = agent_env
    install_obs(project, env, "claude-code", "--scope", scope)
    if scope == "project":  # what approving the .mcp.json server in `claude` records
        state = Path(env["HOME"]) / ".claude.json"
        doc = json.loads(state.read_text()) if state.exists() else {}
        doc.setdefault("projects", {})[str(project)] = {
            "hasTrustDialogAccepted": True,
            "enabledMcpjsonServers": ["obs"],
        }
        state.write_text(json.dumps(doc))
    out = run_cli(project, env, "claude", "mcp", "list")
    assert re.search(rf"^obs: {re.escape(sys.executable)} -m obs_mcp - ✔ Connected$", out, re.M), (
        out
    )
    got = run_cli(project, env, "claude", "mcp", "get", "obs")
    assert "Status: ✔ Connected" in got
    assert "VL_URL=http://127.0.0.1:" in got


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["project", "user"])
def test_codex_lists_server(agent_env: tuple[Path, dict[str, str]], scope: str) -> None:
    """`codex mcp list` does not connect (it shows config and `enabled`): assert what it reads."""
    project, env = agent_env
    if scope == "project":  # Codex reads .codex/config.toml only in a trusted project
        user = Path(env["HOME"]) / ".codex" / "config.toml"
        user.parent.mkdir(parents=True)
        user.write_text(f'[projects."{project}"]\ntrust_level = "trusted"\n')
    install_obs(project, env, "codex", "--scope", scope)
    servers = json.loads(run_cli(project, env, "codex", "mcp", "list", "--json", stdout_only=True))
    (obs,) = [s for s in servers if s["name"] == "obs"]
    assert obs["enabled"] is True
    assert obs["transport"]["type"] == "stdio"
    assert obs["transport"]["command"] == sys.executable
    assert obs["transport"]["args"] == ["-m", "obs_mcp"]
    assert obs["transport"]["env"]["VL_URL"].startswith("http://127.0.0.1:")
    table = run_cli(project, env, "codex", "mcp", "list")
    assert re.search(
        rf"^obs\s+{re.escape(sys.executable)}\s+-m obs_mcp\s.*\benabled\b", table, re.M
    )


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["project", "user"])
def test_opencode_lists_server_connected(
    agent_env: tuple[Path, dict[str, str]], scope: str
) -> None:
    project, env = agent_env
    install_obs(project, env, "opencode", "--scope", scope)
    out = run_cli(project, env, "opencode", "mcp", "list")
    assert re.search(r"✓ obs connected", out), out
    assert f"{sys.executable} -m obs_mcp" in out


@pytest.mark.slow
def test_reinstall_keeps_servers_the_clients_added(agent_env: tuple[Path, dict[str, str]]) -> None:
    """Entries written by the real CLIs survive our edit, and theirs still parse ours."""
    project, env = agent_env
    run_cli(project, env, "claude", "mcp", "add", "--scope", "user", "other", "--", "/bin/cat")
    run_cli(project, env, "codex", "mcp", "add", "other", "--", "/bin/cat")
    install_obs(project, env, "claude-code", "--scope", "user")
    install_obs(project, env, "codex", "--scope", "user")
    install_obs(project, env, "codex", "--scope", "user")
    claude = run_cli(project, env, "claude", "mcp", "list")
    assert "other: /bin/cat" in claude and re.search(r"^obs: .* ✔ Connected$", claude, re.M)
    codex = run_cli(project, env, "codex", "mcp", "list")
    assert re.search(r"^other\s+/bin/cat", codex, re.M) and re.search(r"^obs\s", codex, re.M)


# ---- Claude Code's own telemetry in the stack (fake model API on loopback) --------------------

TELEMETRY_DEADLINE_S = 60  # a bound, not the proof: each wait ends as soon as its figure is there


@pytest.mark.slow
@pytest.mark.stack
def test_claude_code_telemetry_reaches_stack(
    agent_env: tuple[Path, dict[str, str]], native_stack: Stack, tmp_path: Path
) -> None:
    """Real Claude Code, its model API faked on loopback, calls our MCP tool; its token metric
    and tool events land in the stack under the names AGENTS.md documents, with the exact
    figures the fake API's usage makes knowable."""
    project, env = agent_env
    settings: StackSettings = native_stack.settings
    run_id = uuid.uuid4().hex  # isolates this run's series and events in the shared stack
    stack_env = {**env, "OBS_MCP_STATE_DIR": str(settings.state_dir)}
    install_obs(project, stack_env, "claude-code", "--scope", "user")
    spec = server_spec("obs", settings)
    assert spec.env["VL_URL"] == settings.vl_url
    # Every run starts our server as on a fresh clone (no .pyc yet): the slow case, every time.
    state = Path(env["HOME"]) / ".claude.json"
    doc = json.loads(state.read_text())
    doc["mcpServers"]["obs"]["env"]["PYTHONPYCACHEPREFIX"] = str(tmp_path / "no-pyc-yet")
    state.write_text(json.dumps(doc))
    with fake_anthropic() as api:
        run_env = {
            **env,
            **claude_code_telemetry_env(settings),
            **CLAUDE_RUN_ENV,
            "OTEL_RESOURCE_ATTRIBUTES": f"obs_mcp.test_run={run_id}",
            "ANTHROPIC_BASE_URL": api.url,
            "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key",
        }
        out = run_cli(
            project,
            run_env,
            "claude",
            "-p",
            "which services exist?",
            "--model",
            "claude-sonnet-4-5",
            "--allowedTools",
            "mcp__obs__list_services",
        )
    assert "done" in out
    assert api.calls and api.calls[0].offered_tool, (
        f"Claude Code's first request did not offer {OBS_TOOL}: the obs server was not "
        f"connected (or its tools were deferred) when the turn started; calls: {api.calls}"
    )
    assert [(c.replied_with_tool_use, c.tool_results) for c in api.calls] == [
        (True, 0),
        (True, 1),
        (False, TOOL_CALLS),
    ], api.calls  # exactly: two tool calls, then the answer to their results

    def events(name: str, pipe: str = "") -> str:
        return f'service.name:="claude-code" obs_mcp.test_run:="{run_id}" event.name:={name}{pipe}'

    calls = len(api.calls)
    counts = (("api_request", calls), ("tool_decision", TOOL_CALLS), ("tool_result", TOOL_CALLS))
    for name, expected in counts:
        wait_for_count(settings.vl_url, events(name), expected, timeout=TELEMETRY_DEADLINE_S)
    mcp_call = {"mcp_server_name": "obs", "mcp_tool_name": "list_services"}
    for decision in logsql(settings.vl_url, events("tool_decision")):
        assert decision["tool_name"] == "mcp_tool"  # MCP tools are named in tool_parameters
        assert json.loads(decision["tool_parameters"]) == mcp_call
        assert (decision["decision"], decision["source"]) == ("accept", "config")
    for result in logsql(settings.vl_url, events("tool_result")):
        assert json.loads(result["tool_parameters"]) == mcp_call
        detail = {k: v for k, v in result.items() if not k.startswith(("_", "host.", "os."))}
        assert result["success"] == "true", detail  # our server answered the tool call
    per_tool = logsql(
        settings.vl_url,
        events("tool_result", " | unpack_json from tool_parameters")
        + " | stats by (mcp_tool_name) count() calls",
    )
    assert per_tool == [{"mcp_tool_name": "list_services", "calls": str(TOOL_CALLS)}]
    # agent_sessions names the same MCP calls per server + tool
    session_id = logsql(settings.vl_url, events("tool_result"))[0]["session.id"]
    (session,) = on_stack(
        settings, lambda b: agent_sessions(b, session_id, "claude-code", since="1h")
    ).sessions
    assert session.mcp_calls == [McpUse(server="obs", tool="list_services", calls=TOOL_CALLS)]
    assert session.tool_calls == [ToolUse(tool="mcp_tool", calls=TOOL_CALLS, accepted=TOOL_CALLS)]
    requests = logsql(settings.vl_url, events("api_request"))
    assert (
        sorted((r["input_tokens"], r["output_tokens"]) for r in requests)
        == [(str(INPUT_TOKENS), str(OUTPUT_TOKENS))] * calls
    )
    cost = sum(float(r["cost_usd"]) for r in requests)

    # The documented query over this run's series: exact once the exit export has landed. The
    # pause before the second tool call spans a metric export, so a delta export (Claude Code's
    # default, which agent-env overrides) would leave the first call's tokens out.
    labels = f'service_name="claude-code", obs_mcp_test_run="{run_id}"'
    expected_tokens = {
        "input": INPUT_TOKENS * calls,
        "output": OUTPUT_TOKENS * calls,
        "cacheRead": 0,
        "cacheCreation": 0,
    }

    def tokens() -> dict[str, float]:
        rows = promql_instant(
            settings.vm_url, f"sum by (type) (claude_code_token_usage_tokens_total{{{labels}}})"
        )
        return {r["metric"]["type"]: float(r["value"][1]) for r in rows}  # type: ignore[index]

    wait_for_value(tokens, expected_tokens, timeout=TELEMETRY_DEADLINE_S, interval=0.5)

    def metric_cost() -> float | None:
        rows = promql_instant(settings.vm_url, f"sum(claude_code_cost_usage_USD_total{{{labels}}})")
        return float(rows[0]["value"][1]) if rows else None  # type: ignore[index]

    assert wait_for(metric_cost, timeout=TELEMETRY_DEADLINE_S) == pytest.approx(cost, rel=1e-9)
