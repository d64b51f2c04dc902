"""What a binary says about itself (`--version`, the flags in `--help`), asked once per build.

The stack runs whatever binaries a user points it at (env var, PATH, our cache), so the
version shown and the flags passed come from the binary itself, not from versions.env.
Answers are cached per path + mtime + size: a rebuilt or replaced binary is asked again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from obs_mcp.stack.components import cache_dir

PROBE_TIMEOUT_S = 10.0
# Go and pflag usage lines: "  -search.latencyOffset duration", "      --config string", "  -h, --help"
_FLAG_LINE = re.compile(r"^\s{1,10}(?:-\w,\s+)?--?([A-Za-z][\w.\-]*)", re.MULTILINE)
# A release tag, keeping a Go pseudo-version's suffix (a master build must not pass as a release)
_VERSION = re.compile(r"v?\d+\.\d+\.\d+(?:-0\.\d{14}-[0-9a-f]{12})?")


@dataclass(frozen=True)
class BinaryFacts:
    version: str | None  # as the binary reports it; None when it reports none
    flags: frozenset[str] | None  # None: its --help could not be read, so nothing is dropped

    def knows(self, flag: str) -> bool:
        return self.flags is None or flag in self.flags


def parse_flags(help_text: str) -> frozenset[str]:
    return frozenset(_FLAG_LINE.findall(help_text))


def parse_version(version_text: str) -> str | None:
    """`victoria-logs-v1.52.2` -> v1.52.2, `otelcol-x version 0.158.0` -> 0.158.0."""
    first = next((line.strip() for line in version_text.splitlines() if line.strip()), "")
    if not first:
        return None
    match = _VERSION.search(first)
    return match.group(0) if match else first[:60]


def _ask(path: Path, flag: str) -> str | None:
    """Output of `<binary> <flag>`; None if it did not answer in time (a server that ignores it)."""
    try:
        done = subprocess.run(
            [str(path), flag],
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout + done.stderr


def _cache_file(path: Path) -> Path | None:
    try:
        st = path.stat()
    except OSError:
        return None
    key = f"{path.absolute()}\0{st.st_mtime_ns}\0{st.st_size}"
    return cache_dir() / "binfacts" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def binary_facts(path: Path) -> BinaryFacts:
    cached = _cache_file(path)
    if cached is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(cached.read_text())
            flags = data["flags"]
            return BinaryFacts(data["version"], None if flags is None else frozenset(flags))
    help_text = _ask(path, "--help")
    flags = parse_flags(help_text) if help_text else None
    version_text = _ask(path, "--version")
    facts = BinaryFacts(parse_version(version_text or ""), flags or None)
    if cached is not None and help_text is not None and version_text is not None:
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".tmp{os.getpid()}")
            payload = {
                "binary": str(path),
                "version": facts.version,
                "flags": None if facts.flags is None else sorted(facts.flags),
            }
            tmp.write_text(json.dumps(payload))
            tmp.replace(cached)
    return facts
