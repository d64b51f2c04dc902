"""Reading and atomically replacing a client's config file."""

from __future__ import annotations

import os
from pathlib import Path

from obs_mcp.agents.spec import AgentConfigError


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AgentConfigError(f"cannot read {path}: {exc}") from exc


def write_atomic(path: Path, text: str) -> None:
    """Atomic replace that keeps the file's mode (~/.claude.json is 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    tmp = path.with_name(f".{path.name}.obs-mcp.tmp")
    tmp.write_text(text, encoding="utf-8")
    if mode is not None:
        os.chmod(tmp, mode)
    tmp.replace(path)
