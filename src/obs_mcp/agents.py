"""Register obs-mcp in coding agents' own config files, and the settings for their own telemetry.

Each client keeps MCP servers in its own format (Claude Code: JSON `mcpServers`; Codex: TOML
`[mcp_servers.NAME]`; OpenCode: JSON `mcp` with `environment`). Edits are targeted: only the one
entry changes, everything else in the file (other servers, keys, TOML comments) stays, and a
second run writes nothing. Formats were checked against the real CLIs (Claude Code 2.1.197,
Codex 0.169.0, opencode 1.18.33).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from obs_mcp.stack.runner import StackSettings

CLIENTS = ("claude-code", "codex", "opencode")
TELEMETRY_CLIENTS = ("claude-code", "codex")
SCOPES = ("project", "user")
Scope = Literal["project", "user"]
Action = Literal["created", "added", "updated", "unchanged"]
OPENCODE_SCHEMA = "https://opencode.ai/config.json"


class AgentConfigError(RuntimeError):
    """A config file could not be edited safely; the message says what to do instead."""


@dataclass(frozen=True)
class ServerSpec:
    """The stdio server as every client must start it."""

    name: str
    command: str
    args: tuple[str, ...]
    env: Mapping[str, str]


def server_spec(name: str = "obs", settings: StackSettings | None = None) -> ServerSpec:
    """This interpreter (absolute, so the venv with obs_mcp is used) + the stack's store URLs."""
    s = settings or StackSettings()
    env = {
        "VL_URL": s.vl_url,
        "VM_URL": s.vm_url,
        "VT_URL": s.vt_url,
        "OBS_MCP_COLLECTOR_METRICS_URL": s.collector_metrics_url,
    }
    return ServerSpec(name, str(Path(sys.executable).absolute()), ("-m", "obs_mcp"), env)


@dataclass
class InstallResult:
    client: str
    scope: str
    path: Path
    action: Action
    snippet: str  # the entry in the file's own format
    written: bool = False
    notes: list[str] = field(default_factory=list)


# ---- where each client keeps its config -------------------------------------------------------


def _home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def config_path(client: str, scope: Scope, cwd: Path, env: Mapping[str, str]) -> Path:
    """The file the real CLI reads for this scope (same env overrides the CLI honours)."""
    if client == "claude-code":
        if scope == "project":
            return cwd / ".mcp.json"
        # `claude mcp add --scope user` writes $CLAUDE_CONFIG_DIR/.claude.json or ~/.claude.json.
        base = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else _home(env)
        return base / ".claude.json"
    if client == "codex":
        if scope == "project":
            return cwd / ".codex" / "config.toml"
        return _codex_home(env) / "config.toml"
    if client == "opencode":
        if scope == "project":
            return _opencode_file(cwd)
        xdg = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
        return _opencode_file(Path(xdg) / "opencode")
    raise AgentConfigError(f"unknown client {client!r}: choose one of {', '.join(CLIENTS)}")


def _codex_home(env: Mapping[str, str]) -> Path:
    return Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else _home(env) / ".codex"


def _opencode_file(directory: Path) -> Path:
    """opencode.json, unless only an opencode.jsonc exists that is plain JSON (opencode creates
    one like that): OpenCode loads both and the .jsonc wins, so editing it keeps one truth."""
    plain, jsonc = directory / "opencode.json", directory / "opencode.jsonc"
    if not plain.exists() and jsonc.exists():
        try:
            json.loads(jsonc.read_text() or "{}")
        except ValueError:
            return plain
        return jsonc
    return plain


# ---- entries in each format -------------------------------------------------------------------


def claude_entry(spec: ServerSpec) -> dict[str, Any]:
    return {
        "type": "stdio",
        "command": spec.command,
        "args": list(spec.args),
        "env": dict(spec.env),
    }


def codex_entry(spec: ServerSpec) -> dict[str, Any]:
    return {"command": spec.command, "args": list(spec.args), "env": dict(spec.env)}


def opencode_entry(spec: ServerSpec) -> dict[str, Any]:
    return {
        "type": "local",
        "command": [spec.command, *spec.args],
        "environment": dict(spec.env),  # OpenCode ignores a key named `env`
        "enabled": True,
    }


def _merge(existing: Any, ours: dict[str, Any]) -> dict[str, Any]:
    """Update in place: our keys win, the user's extra keys (timeouts, extra env) stay."""
    merged: dict[str, Any] = copy.deepcopy(existing) if isinstance(existing, dict) else {}
    for key, value in ours.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# ---- install ----------------------------------------------------------------------------------


def install(
    client: str,
    scope: Scope,
    spec: ServerSpec,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> InstallResult:
    """Add or update `spec` in the client's config for `scope`; `dry_run` computes, never writes."""
    cwd = (cwd or Path.cwd()).absolute()
    env = os.environ if env is None else env
    path = config_path(client, scope, cwd, env)
    if client == "codex":
        result = _install_toml(path, spec, dry_run)
        if scope == "project":
            result.notes.extend(_codex_trust_notes(cwd, env))
        result.client, result.scope = client, scope
        return result
    if client == "claude-code":
        ours, top, fresh = claude_entry(spec), "mcpServers", {}
    else:
        ours, top, fresh = opencode_entry(spec), "mcp", {"$schema": OPENCODE_SCHEMA}
    result = _install_json(path, top, spec.name, ours, fresh, dry_run)
    result.client, result.scope = client, scope
    if client == "claude-code" and scope == "project":
        result.notes.extend(_claude_approval_notes(spec.name, cwd, env))
    if client == "opencode":
        result.notes.extend(_opencode_shadow_notes(path, spec.name))
    return result


def _install_json(
    path: Path,
    top: str,
    name: str,
    ours: dict[str, Any],
    fresh: dict[str, Any],
    dry_run: bool,
) -> InstallResult:
    text = _read(path)
    if text is None or not text.strip():
        doc: dict[str, Any] = dict(fresh)
        created = text is None
    else:
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise AgentConfigError(
                f"{path} is not plain JSON ({exc}); not editing it. Add the entry shown by "
                "--print by hand."
            ) from exc
        if not isinstance(loaded, dict):
            raise AgentConfigError(f"{path}: top level is not a JSON object; not editing it")
        doc, created = loaded, False
    servers = doc.get(top)
    if servers is not None and not isinstance(servers, dict):
        raise AgentConfigError(f"{path}: {top!r} is not an object; not editing it")
    existing = (servers or {}).get(name)
    entry = _merge(existing, ours)
    snippet = json.dumps({top: {name: entry}}, indent=2)
    action = _action(created, existing, entry)
    result = InstallResult("", "", path, action, snippet)
    if action == "unchanged" or dry_run:
        return result
    new_doc = dict(doc)
    new_doc[top] = {**(servers or {}), name: entry}
    indent = _json_indent(text or "")
    out = json.dumps(new_doc, indent=indent, ensure_ascii=False)
    _write(path, out + ("\n" if text is None or text.endswith("\n") else ""))
    result.written = True
    return result


def _action(created: bool, existing: object, entry: object) -> Action:
    if created:
        return "created"
    if existing is None:
        return "added"
    return "unchanged" if existing == entry else "updated"


def _json_indent(text: str) -> int | str:
    """Keep the file's own indentation so a changed entry is the only diff."""
    match = re.search(r"\n([ \t]+)\S", text)
    if not match:
        return 2
    lead = match.group(1)
    return lead if "\t" in lead else len(lead)


def _install_toml(path: Path, spec: ServerSpec, dry_run: bool) -> InstallResult:
    text = _read(path)
    created = text is None
    text = text or ""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"{path} is not valid TOML ({exc}); not editing it") from exc
    servers = doc.get("mcp_servers", {})
    existing = servers.get(spec.name) if isinstance(servers, dict) else None
    entry = _merge(existing, codex_entry(spec))
    block = render_toml_table(("mcp_servers", spec.name), entry)
    action = _action(created, existing, entry)
    result = InstallResult("", "", path, action, block.rstrip("\n"))
    if action == "unchanged" or dry_run:
        return result
    new_text = replace_toml_table(text, ("mcp_servers", spec.name), block)
    expected = copy.deepcopy(doc)
    expected.setdefault("mcp_servers", {})[spec.name] = entry
    try:
        ok = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:  # e.g. the server is defined inline or by dotted keys: never guess
        raise AgentConfigError(
            f"{path}: could not replace [mcp_servers.{spec.name}] without touching anything "
            f"else; edit it by hand to:\n{block}"
        )
    _write(path, new_text)
    result.written = True
    return result


# ---- TOML: targeted text edit of one table --------------------------------------------------

_HEADER = re.compile(r"^\s*\[(\[)?\s*(?P<key>[^\[\]]*?)\s*\](?(1)\])\s*(#.*)?$")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _split_key(key: str) -> tuple[str, ...] | None:
    """`a."b.c".'d'` -> ('a', 'b.c', 'd'); None when it is not a key we can read."""
    parts: list[str] = []
    i, n = 0, len(key)
    while i < n:
        while i < n and key[i] in " \t":
            i += 1
        if i < n and key[i] in "\"'":
            quote, j = key[i], i + 1
            buf: list[str] = []
            while j < n and key[j] != quote:
                if quote == '"' and key[j] == "\\":
                    try:
                        buf.append(json.loads(f'"{key[j : j + 2]}"'))
                    except ValueError:
                        return None
                    j += 2
                    continue
                buf.append(key[j])
                j += 1
            if j >= n:
                return None
            parts.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and key[j] not in ". \t":
                j += 1
            if j == i:
                return None
            parts.append(key[i:j])
            i = j
        while i < n and key[i] in " \t":
            i += 1
        if i < n:
            if key[i] != ".":
                return None
            i += 1
    return tuple(parts)


def replace_toml_table(text: str, path: tuple[str, ...], block: str) -> str:
    """Swap the text of table `path` and its sub-tables for `block`; append when absent.

    Comments and blank lines just before the next table stay (they usually describe it)."""
    lines = text.splitlines(keepends=True)
    headers = []
    for idx, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            headers.append((idx, _split_key(match.group("key"))))
    spans: list[tuple[int, int]] = []
    for pos, (start, key) in enumerate(headers):
        if key is None or key[: len(path)] != path:
            continue
        end = headers[pos + 1][0] if pos + 1 < len(headers) else len(lines)
        while end > start + 1 and (
            not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
        ):
            end -= 1
        spans.append((start, end))
    if not spans:
        if not text.strip():
            return block
        sep = "" if text.endswith("\n") else "\n"
        return f"{text}{sep}\n{block}"
    kept = [line for i, line in enumerate(lines) if not any(s <= i < e for s, e in spans)]
    kept.insert(spans[0][0], block)  # nothing before the first span was removed
    return "".join(kept)


def _toml_key(key: str) -> str:
    return key if _BARE.match(key) else _toml_str(key)


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise AgentConfigError(f"cannot write a TOML value of type {type(value).__name__}")


def render_toml_table(path: tuple[str, ...], table: Mapping[str, Any]) -> str:
    """`[a.b]` with its plain keys first, then nested tables as `[a.b.c]` (as `codex mcp add`)."""
    header = ".".join(_toml_key(p) for p in path)
    out = [f"[{header}]\n"]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            out.append(f"{_toml_key(key)} = {_toml_value(value)}\n")
    for key, value in nested:
        out.append("\n" + render_toml_table((*path, key), value))
    return "".join(out)


# ---- hints about each client's gates ----------------------------------------------------------


def _claude_approval_notes(name: str, cwd: Path, env: Mapping[str, str]) -> list[str]:
    state = config_path("claude-code", "user", cwd, env)
    try:
        project = json.loads(state.read_text()).get("projects", {}).get(str(cwd), {})
    except (OSError, ValueError, AttributeError):
        project = {}
    if isinstance(project, dict) and name in (project.get("enabledMcpjsonServers") or []):
        return []
    return [
        f"Claude Code asks once to approve servers from .mcp.json: start `claude` here and "
        f"approve {name!r} (`claude mcp list` shows 'Pending approval' until then)."
    ]


def _codex_trust_notes(cwd: Path, env: Mapping[str, str]) -> list[str]:
    """Codex reads a project's .codex/config.toml only for a trusted project (checked on 0.169)."""
    user = _codex_home(env) / "config.toml"
    try:
        projects = tomllib.loads(user.read_text()).get("projects", {})
    except (OSError, tomllib.TOMLDecodeError):
        projects = {}
    for folder in (cwd, *cwd.parents):
        entry = projects.get(str(folder)) if isinstance(projects, dict) else None
        if isinstance(entry, dict) and entry.get("trust_level") == "trusted":
            return []
    return [
        f"Codex loads .codex/config.toml only in trusted projects; {cwd} is not trusted in "
        f"{user}. Start `codex` here and trust the folder, or use --scope user."
    ]


def _strip_jsonc(text: str) -> str:
    """Comments and trailing commas out, strings untouched: enough to read a .jsonc."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def _opencode_shadow_notes(path: Path, name: str) -> list[str]:
    """OpenCode merges opencode.json and opencode.jsonc, the .jsonc winning (checked on 1.18)."""
    other = path.with_suffix(".jsonc") if path.suffix == ".json" else None
    if other is None or not other.exists():
        return []
    try:
        doc = json.loads(_strip_jsonc(other.read_text()))
    except (OSError, ValueError):
        return [f"{other} exists and could not be read; OpenCode lets it override {path.name}."]
    if isinstance(doc, dict) and isinstance(doc.get("mcp"), dict) and name in doc["mcp"]:
        return [f"{other} also defines mcp.{name} and OpenCode lets it win: remove it there."]
    return []


# ---- file io ------------------------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AgentConfigError(f"cannot read {path}: {exc}") from exc


def _write(path: Path, text: str) -> None:
    """Atomic replace that keeps the file's mode (~/.claude.json is 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    tmp = path.with_name(f".{path.name}.obs-mcp.tmp")
    tmp.write_text(text, encoding="utf-8")
    if mode is not None:
        os.chmod(tmp, mode)
    tmp.replace(path)


# ---- the agents' own telemetry --------------------------------------------------------------


def claude_code_telemetry_env(settings: StackSettings, traces: bool = False) -> dict[str, str]:
    """Env that makes Claude Code export its own metrics and events over OTLP/HTTP to the stack."""
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": settings.otlp_http_url,
        "OTEL_METRIC_EXPORT_INTERVAL": "10000",
        "OTEL_LOGS_EXPORT_INTERVAL": "5000",
        # tool_result events then name the MCP server/tool and parameters (local stack only)
        "OTEL_LOG_TOOL_DETAILS": "1",
    }
    if traces:
        env["CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"] = "1"
        env["OTEL_TRACES_EXPORTER"] = "otlp"
    return env


def claude_code_telemetry_text(settings: StackSettings, *, as_settings: bool, traces: bool) -> str:
    env = claude_code_telemetry_env(settings, traces)
    if as_settings:
        return json.dumps({"env": env}, indent=2)
    lines = [
        f"# Claude Code -> obs-mcp stack (OTLP/HTTP {settings.otlp_http_url}).",
        "# Put these in your shell profile, or the same keys in the `env` block of",
        "# ~/.claude/settings.json (`obs-mcp agent-env claude-code --settings`).",
        *(f"export {key}={value}" for key, value in env.items()),
    ]
    return "\n".join(lines)


def codex_telemetry_toml(settings: StackSettings) -> str:
    """Codex's `[otel]` table: one OTLP/HTTP exporter per signal (full /v1/... URLs)."""
    base = settings.otlp_http_url

    def exporter(signal: str) -> str:
        return _toml_value({"otlp-http": {"endpoint": f"{base}/v1/{signal}", "protocol": "binary"}})

    return "\n".join(
        [
            "# Codex -> obs-mcp stack: add to ~/.codex/config.toml ($CODEX_HOME/config.toml);",
            "# a file holds one [otel] table.",
            "[otel]",
            'environment = "dev"',
            "log_user_prompt = false",
            f"exporter = {exporter('logs')}",
            f"metrics_exporter = {exporter('metrics')}",
            f"trace_exporter = {exporter('traces')}",
        ]
    )
