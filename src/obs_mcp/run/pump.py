"""Run the child with its output passed through unchanged, each line also handed on.

Bytes are copied to our stdout/stderr as they come (prompts and progress bars without a
newline show at once); lines are cut out separately for the log records. Signals sent to
`obs-mcp run` reach the child; a Ctrl-C at a terminal already reaches the whole process
group, so it is not sent twice. The exit status is the child's, as a shell reports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import BinaryIO

MAX_LINE = 64 * 1024  # a longer "line" is cut into records of this size
DRAIN_S = 2.0  # after exit: how long a grandchild may still hold the pipes open
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

OnLine = Callable[[str, str], None]  # (text, "stdout" | "stderr")


def _copy(src: BinaryIO, dst: BinaryIO, stream: str, on_line: OnLine) -> None:
    partial = b""
    fd = src.fileno()
    while chunk := os.read(fd, 65536):
        try:
            dst.write(chunk)
            dst.flush()
        except (OSError, ValueError):
            pass  # our own output closed (a pipe to `head`): keep recording
        partial += chunk
        *lines, partial = partial.split(b"\n")
        for raw in lines:
            on_line(raw.rstrip(b"\r").decode(errors="replace"), stream)
        while len(partial) > MAX_LINE:
            on_line(partial[:MAX_LINE].decode(errors="replace"), stream)
            partial = partial[MAX_LINE:]
    if partial:
        on_line(partial.rstrip(b"\r").decode(errors="replace"), stream)


def _terminal_sent_it(signum: int) -> bool:
    """A terminal delivers Ctrl-C/Ctrl-\\ to the foreground group, the child included."""
    if signum not in (signal.SIGINT, signal.SIGQUIT):
        return False
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class Child:
    """One started command; `wait()` returns its exit status once its output is drained."""

    def __init__(
        self, argv: list[str], env: dict[str, str], on_line: OnLine, pass_fds: tuple[int, ...] = ()
    ) -> None:
        self.started = time.time()
        self.signals: list[int] = []
        self.undrained = False
        # Caught before the spawn, not after: a shell starts a background command with SIGINT
        # and SIGQUIT ignored, an ignored signal stays ignored across exec, and the child
        # would then shrug off a forwarded Ctrl-C. A caught one is reset to the default there.
        self._previous = {s: signal.signal(s, self._forward) for s in FORWARDED}
        try:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds
            )
        except BaseException:
            self._restore()
            raise
        for signum in self.signals:  # arrived while it was being started
            self._send(signum)
        self._threads = [
            threading.Thread(
                target=_copy, args=(pipe, out, name, on_line), daemon=True, name=f"pump-{name}"
            )
            for pipe, out, name in (
                (self.proc.stdout, sys.stdout.buffer, "stdout"),
                (self.proc.stderr, sys.stderr.buffer, "stderr"),
            )
        ]
        for thread in self._threads:
            thread.start()

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)
        if hasattr(self, "proc"):  # else sent once it is started
            self._send(signum)

    def _send(self, signum: int) -> None:
        if not _terminal_sent_it(signum) and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def wait(self) -> int:
        try:
            code = self.proc.wait()
        finally:
            self._restore()
        deadline = time.monotonic() + DRAIN_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.undrained = any(t.is_alive() for t in self._threads)
        return exit_status(code)
