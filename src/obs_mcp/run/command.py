"""What kind of program a command starts: Python (and which interpreter), Node, or other.

Decided from the executable itself: its name, or the interpreter its `#!` line names
(console scripts like `uvicorn`, `flask`, `pytest` are Python scripts with such a line).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Literal

Kind = Literal["python", "node", "other"]
PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
NODE = {"node", "nodejs", "npm", "npx", "pnpm", "yarn"}
# uv's and pip's console scripts for long interpreter paths: a sh trampoline.
TRAMPOLINE = re.compile(rb"^'''exec' '?\"?([^'\" ]+)")


@dataclass(frozen=True)
class Command:
    argv: list[str]
    kind: Kind
    executable: str | None  # the resolved argv[0]; None: not found
    interpreter: str | None = None  # a Python command's interpreter


def _shebang(path: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return []
    if not head.startswith(b"#!"):
        return []
    lines = head.split(b"\n")
    words = lines[0][2:].decode(errors="replace").split()
    trampoline = len(lines) > 1 and words and os.path.basename(words[0]) == "sh"
    if trampoline and (match := TRAMPOLINE.match(lines[1])):
        return [match.group(1).decode(errors="replace")]
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    return words


def classify(argv: list[str], path: str | None) -> Command:
    exe = shutil.which(argv[0], path=path)
    if exe is None:
        return Command(argv, "other", None)
    name = os.path.basename(exe)
    if PYTHON.match(name):
        return Command(argv, "python", exe, exe)
    if name in NODE:
        return Command(argv, "node", exe)
    interp = _shebang(exe)
    if interp:
        first = interp[0]
        base = os.path.basename(first)
        if PYTHON.match(base):
            resolved = first if os.path.isabs(first) else shutil.which(first, path=path)
            return Command(argv, "python", exe, resolved)
        if base in NODE:
            return Command(argv, "node", exe)
    return Command(argv, "other", exe)
