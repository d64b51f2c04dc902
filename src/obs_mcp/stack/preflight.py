"""Why a component cannot start, in one sentence: checked before starting it, and read from
its log when it exits anyway (a Go panic about a lock or a bind becomes the same sentence)."""

from __future__ import annotations

import re
from pathlib import Path

from obs_mcp.stack import procs
from obs_mcp.stack.errors import StackError
from obs_mcp.stack.holders import lock_holder, port_holder
from obs_mcp.stack.specs import ProcessSpec

GONE = "a process that has exited since"
_LOCK_PANIC = re.compile(r'cannot acquire lock on file "([^"]+)"')
_BIND_ERROR = re.compile(r"listen tcp\d?\s+([\w.:\[\]-]+):(\d+): bind: address already in use")


def port_taken(title: str, host: str, port: int, holder: str) -> str:
    return (
        f"{title}: port {host}:{port} is already in use by {holder}. "
        "Stop it, or choose other ports (OBS_MCP_PORT_* env vars)."
    )


def dir_locked(title: str, data_dir: Path, holder: str) -> str:
    return (
        f"{title}: its data dir {data_dir} is locked by {holder}: another store process "
        "still runs on it (one left from an earlier start, or another stack on the same "
        "dir). Stop that process, or give this stack its own state dir "
        "(--state-dir or OBS_MCP_STATE_DIR)."
    )


def check_can_start(spec: ProcessSpec, host: str) -> None:
    """Raise StackError naming who holds a port or the data dir this component needs."""
    for port in spec.ports:
        if not procs.port_is_free(host, port):
            raise StackError(port_taken(spec.title, host, port, port_holder(port) or GONE))
    holder = lock_holder(spec.data_dir) if spec.data_dir and spec.locks_data_dir else None
    if holder and spec.data_dir:
        raise StackError(dir_locked(spec.title, spec.data_dir, holder))


def explain_exit(spec: ProcessSpec, host: str, log_text: str) -> str | None:
    """The sentence for a start that died on a taken lock or port, or None for other causes."""
    if lock := _LOCK_PANIC.search(log_text):
        data_dir = Path(lock.group(1)).parent
        return dir_locked(spec.title, data_dir, lock_holder(data_dir) or GONE)
    if bind := _BIND_ERROR.search(log_text):
        port = int(bind.group(2))
        return port_taken(spec.title, host, port, port_holder(port) or GONE)
    return None
