"""Small process helpers: is a pid ours, stop it (or its whole session) with a grace period."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import time
from pathlib import Path

from obs_mcp.stack.holders import describe_pid

PR_SET_PDEATHSIG = 1


def pid_alive(pid: int, expect_in_cmdline: str | None = None) -> bool:
    """True if pid runs and (when given) its command line mentions our binary.

    The cmdline check keeps a recycled pid from being mistaken for (or killed as) ours.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return expect_in_cmdline is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False  # exited, waiting to be reaped by its parent
    return expect_in_cmdline is None or expect_in_cmdline.encode() in raw


def terminate(pid: int, expect_in_cmdline: str | None, grace_seconds: float = 10.0) -> str:
    """SIGTERM, wait up to the grace period, then SIGKILL. Returns how it ended."""
    if not pid_alive(pid, expect_in_cmdline):
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid, expect_in_cmdline):
            return "stopped"
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if not pid_alive(pid, expect_in_cmdline):
            break
        time.sleep(0.05)
    return "killed"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, session id, start time in clock ticks since boot) from /proc/<pid>/stat."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return rest[0], int(rest[3]), int(rest[19])


def start_ticks(pid: int) -> int | None:
    """When pid started: with the pid, names one process for its whole life (exec included)."""
    stat = _stat(pid)
    return stat[2] if stat else None


def is_ours(pid: int, ticks: int) -> bool:
    """pid still runs and is the process we started (not a later one that got its number)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == ticks


def session_members(sid: int) -> list[int]:
    """Live pids of a session: what a wrapper script and the children it started leave."""
    members = []
    for proc in Path("/proc").iterdir():
        stat = _stat(int(proc.name)) if proc.name.isdigit() else None
        if stat is not None and stat[1] == sid and stat[0] not in ("Z", "X"):
            members.append(int(proc.name))
    return members


def _signal_all(pids: list[int], sig: int) -> list[int]:
    """Send sig to each pid; return those we may not signal."""
    refused = []
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            refused.append(pid)
    return refused


def _wait_gone(sid: int, leader: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        _reap(leader)
        left = session_members(sid)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def stop_session(pid: int, ticks: int, grace_seconds: float = 10.0) -> str:
    """Stop a process started with start_new_session=True and everything left in its session.

    A store started through a wrapper that execs or forks the binary keeps our session, so
    signalling the session (not one pid) stops it; the start time guards against a pid that
    was reused after ours exited. Returns how it ended, in words.
    """
    leader = _stat(pid)
    if leader is not None and leader[2] != ticks and leader[0] not in ("Z", "X"):
        return f"not stopped: {describe_pid(pid)} is another program now; ours exited"
    members = session_members(pid)
    if not members:
        _reap(pid)
        return f"not running (pid {pid} had exited)"
    if refused := _signal_all(members, signal.SIGTERM):
        return f"not stopped: no permission to signal {describe_pid(refused[0])}"
    extra = [m for m in members if m != pid]
    left = _wait_gone(pid, pid, grace_seconds)
    how = "stopped"
    if left:
        _signal_all(left, signal.SIGKILL)
        left = _wait_gone(pid, pid, 5.0)
        how = f"killed (still running {grace_seconds:g}s after SIGTERM)"
    if left:
        return f"still running after SIGKILL: {describe_pid(left[0])}"
    if extra:
        names = ", ".join(f"pid {m}" for m in extra[:5])
        how += f", with {len(extra)} more process(es) of its session ({names})"
    return how


def _reap(pid: int) -> None:
    """Collect a child we started ourselves so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def die_with_parent() -> None:
    """In a forked child (Linux): get SIGTERM when the parent dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20, since: int = 0) -> str:
    """The last lines of a log, from byte offset `since` on (the current run's part)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(since, size - 64 * 1024))
            data = handle.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total
