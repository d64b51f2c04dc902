"""The stack's force-flush key: one random secret per state dir, readable by its owner only.

Each store gets it as `-forceFlushAuthKey=file://<path>`, so it never shows in `ps`; the
tools read the same file (OBS_MCP_FORCE_FLUSH_KEY_FILE, printed by `obs-mcp stack env`).
Without a key a store's /internal/force_flush is open to every local process.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def ensure_key(path: Path) -> Path:
    """Create the key once (mode 0600); keep an existing one, so running stores still match."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        if path.read_text().strip():
            return path
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(24) + "\n")
    return path
