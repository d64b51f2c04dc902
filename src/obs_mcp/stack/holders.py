"""Who holds a TCP port or a store's data-dir lock (Linux /proc), named in one sentence."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

LOCK_FILE = "flock.lock"  # VictoriaMetrics/Logs/Traces flock() this in -storageDataPath
UNSEEN = "another process (not visible to this user)"


def describe_pid(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return f"pid {pid}"
    return f"pid {pid}: {cmd[:160]}" if cmd else f"pid {pid}"


def _pid_with_fd(targets: set[str]) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(proc.name)
    return None


def port_holder(port: int) -> str | None:
    """Name the process listening on a TCP port, or None when nothing listens."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    if not inodes:
        return None
    pid = _pid_with_fd({f"socket:[{inode}]" for inode in inodes})
    return describe_pid(pid) if pid is not None else UNSEEN


def _lock_pids(path: Path) -> list[int]:
    """Pids /proc/locks names for a lock on this file (dev as hex major:minor, then inode)."""
    try:
        st = path.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    pids = []
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        with contextlib.suppress(ValueError, IndexError):
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == want and int(fields[4]) > 0:
                pids.append(int(fields[4]))
    return pids


def lock_holder(data_dir: Path) -> str | None:
    """Name the process holding a store's data-dir lock, or None when the dir is free."""
    lock = data_dir / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None  # no lock file yet: nobody has opened this dir
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        pids = _lock_pids(lock)
        if not pids:
            pid = _pid_with_fd({str(lock)})
            pids = [pid] if pid is not None else []
        return describe_pid(pids[0]) if pids else UNSEEN
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
