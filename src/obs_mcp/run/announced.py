"""Lines the child's SDK already exported as log records, so they are not sent twice.

The child's bootstrap writes the text of each record it exports *and* prints to a pipe,
before the app's handler prints it; a line that contains such a text is then skipped (once
per announcement). Written before printed means: when the printed line arrives here, its
announcement is already in the pipe, so one non-blocking read under the lock sees it.
Announcements expire after KEEP_S and at most KEEP of them are held.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections import deque

KEEP = 2000
KEEP_S = 30.0


class Announced:
    def __init__(self) -> None:
        self._read, self.write_fd = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self.write_fd, False)  # the child never blocks on a full pipe
        st = os.fstat(self.write_fd)
        self.env = {"OBS_MCP_RUN_LOGGED_FD": str(self.write_fd),
                    "OBS_MCP_RUN_LOGGED_ID": f"{st.st_dev}:{st.st_ino}"}  # fmt: skip
        self.skipped = 0
        self._texts: deque[tuple[float, str]] = deque(maxlen=KEEP)
        self._partial = b""
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._drain, daemon=True, name="run-announced")
        self._thread.start()

    def child_started(self) -> None:
        """Our copy of the write end goes: the pipe ends when the child's does."""
        os.close(self.write_fd)

    def _pull(self) -> bool:
        """Read what is there (lock held); False at end of pipe."""
        while True:
            try:
                chunk = os.read(self._read, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            *texts, self._partial = (self._partial + chunk).split(b"\n")
            now = time.monotonic()
            self._texts.extend((now, t.decode(errors="replace").strip()) for t in texts)

    def _drain(self) -> None:
        while not self._closed:
            ready, _, _ = select.select([self._read], [], [], 0.5)
            if ready:
                with self._lock:
                    if not self._pull():
                        return

    def consume(self, line: str) -> bool:
        """True when the line is an exported record's: it is then not sent again."""
        with self._lock:
            self._pull()
            cutoff = time.monotonic() - KEEP_S
            while self._texts and self._texts[0][0] < cutoff:
                self._texts.popleft()
            for index, (_, text) in enumerate(self._texts):
                if text and text in line:
                    del self._texts[index]
                    self.skipped += 1
                    return True
        return False

    def close(self) -> None:
        self._closed = True
        self._thread.join(1.0)
        os.close(self._read)
