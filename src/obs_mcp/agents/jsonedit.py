"""JSON configs (Claude Code, OpenCode): one entry under a top-level key changes, nothing else.

Plain JSON is rewritten with the file's own indentation; a JSONC file with comments is only read
(to warn about it), never written, since rewriting it would drop the comments.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from obs_mcp.agents.entries import action_for, merge
from obs_mcp.agents.files import read_text, write_atomic
from obs_mcp.agents.spec import AgentConfigError, InstallResult


def install_json_entry(
    path: Path,
    top: str,
    name: str,
    ours: dict[str, Any],
    fresh: dict[str, Any],
    dry_run: bool,
) -> InstallResult:
    """Set `top.name` to `ours` merged into what is there; `fresh` starts a new/empty file."""
    text = read_text(path)
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
    entry = merge(existing, ours)
    snippet = json.dumps({top: {name: entry}}, indent=2)
    action = action_for(created, existing, entry)
    result = InstallResult("", "", path, action, snippet)
    if action == "unchanged" or dry_run:
        return result
    new_doc = dict(doc)
    new_doc[top] = {**(servers or {}), name: entry}
    out = json.dumps(new_doc, indent=_indent_of(text or ""), ensure_ascii=False)
    write_atomic(path, out + ("\n" if text is None or text.endswith("\n") else ""))
    result.written = True
    return result


def _indent_of(text: str) -> int | str:
    """Keep the file's own indentation so a changed entry is the only diff."""
    match = re.search(r"\n([ \t]+)\S", text)
    if not match:
        return 2
    lead = match.group(1)
    return lead if "\t" in lead else len(lead)


def load_jsonc(text: str) -> Any:
    """Parse JSON with comments and trailing commas (OpenCode's .jsonc); ValueError if not."""
    return json.loads(_strip_jsonc(text))


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
