"""Codex's config.toml: one `[mcp_servers.NAME]` table changes, through tomlkit, nothing else.

tomlkit keeps comments, key order and layout, so only the items whose value changes are
re-rendered; a new table goes at the end of the file, laid out as `codex mcp add` writes it.
Inline tables and dotted keys are refused (the user edits them by hand) rather than guessed at,
and every edit is read back with tomllib before it is written.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.items
from tomlkit.container import OutOfOrderTableProxy

from obs_mcp.agents.entries import action_for, merge
from obs_mcp.agents.files import read_text, write_atomic
from obs_mcp.agents.spec import AgentConfigError, InstallResult

_TableLike = tomlkit.items.Table | OutOfOrderTableProxy
_Tables = tomlkit.items.Table | tomlkit.items.InlineTable


class TomlLayoutError(ValueError):
    """The table exists in a form this editor does not rewrite (inline table, dotted keys)."""


def install_toml_entry(
    path: Path, parent: str, name: str, ours: dict[str, Any], dry_run: bool
) -> InstallResult:
    """Set `[parent.name]` to `ours` merged into what is there (the user's extra keys stay)."""
    text = read_text(path)
    created = text is None
    text = text or ""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"{path} is not valid TOML ({exc}); not editing it") from exc
    servers = doc.get(parent, {})
    existing = servers.get(name) if isinstance(servers, dict) else None
    entry = merge(existing, ours)
    block = render_table(parent, name, entry)
    action = action_for(created, existing, entry)
    result = InstallResult("", "", path, action, block.rstrip("\n"))
    if action == "unchanged" or dry_run:
        return result
    expected = copy.deepcopy(doc)
    expected.setdefault(parent, {})[name] = entry
    try:
        new_text = set_table(text, parent, name, entry)
        ok = tomllib.loads(new_text) == expected
    except (TomlLayoutError, tomllib.TOMLDecodeError):
        ok = False
    if not ok:  # e.g. the server is defined inline or by dotted keys: never guess
        raise AgentConfigError(
            f"{path}: could not replace [{parent}.{name}] without touching anything "
            f"else; edit it by hand to:\n{block}"
        )
    write_atomic(path, new_text)
    result.written = True
    return result


def set_table(text: str, parent: str, name: str, values: Mapping[str, Any]) -> str:
    """`text` with table `[parent.name]` holding exactly `values`; appended when absent."""
    if text and not text.endswith("\n"):
        text += "\n"
    doc = tomlkit.parse(text)
    group = doc.get(parent)
    if group is not None and not isinstance(group, _TableLike):
        raise TomlLayoutError(f"{parent} is not a [table]")
    current = group.get(name) if group is not None else None
    if current is None:
        if doc.body:
            doc.add(tomlkit.nl())
        holder = tomlkit.table(is_super_table=True)
        holder.append(name, _new_table(values))
        doc.append(parent, holder)  # a later [parent.*] section when parent already exists
    elif isinstance(current, tomlkit.items.Table) and not current.is_super_table():
        _sync(current, values)
    else:
        raise TomlLayoutError(f"{parent}.{name} is not a [table]")
    return doc.as_string()


def render_table(parent: str, name: str, values: Mapping[str, Any]) -> str:
    """The table alone, as `codex mcp add` lays it out (plain keys, then `[a.b.c]` sub-tables)."""
    doc = tomlkit.document()
    holder = tomlkit.table(is_super_table=True)
    holder.append(name, _new_table(values))
    doc.append(parent, holder)
    return doc.as_string()


def inline_value(value: Any) -> str:
    """One TOML value as text, dicts as inline tables (`{ a = 1 }`), for printed snippets."""
    return _inline(value).as_string()


def _inline(value: Any) -> tomlkit.items.Item:
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, inner in value.items():
            table.append(key, _inline(inner))
        return table
    item: tomlkit.items.Item = tomlkit.item(value)
    return item


def _new_table(values: Mapping[str, Any]) -> tomlkit.items.Table:
    table = tomlkit.table()
    for key, value in values.items():
        table.append(key, _new_table(value) if isinstance(value, Mapping) else value)
    return table


def _sync(
    table: tomlkit.items.Table | tomlkit.items.InlineTable, values: Mapping[str, Any]
) -> None:
    """Make `table` hold `values`, re-rendering only the items whose value differs."""
    for key in [k for k in table if k not in values]:
        del table[key]
    for key, value in values.items():
        item = table.get(key)
        if isinstance(value, Mapping) and isinstance(item, _Tables):
            _sync(item, value)  # [a.b.env] stays a table, env = { ... } stays inline
        elif isinstance(value, Mapping):
            table[key] = _new_table(value)
        elif item is None or _plain(item) != value:
            table[key] = value


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item
