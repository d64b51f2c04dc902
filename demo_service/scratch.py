"""The demo's fixes as real code changes: patches applied to a scratch copy of the shop.

The code in `demo_service/` is simply buggy (no switch selects a corrected path), so
what an agent reads is what runs. Each fix is a unified diff in `patches/` — what
`git diff` prints — and `obs-mcp demo run` applies it to a copy, restarts the services
from that copy and measures again. The applier is strict (every context and removed
line must match at its stated line, no fuzz): a patch that no longer fits the code
fails loudly instead of half-applying. Python's standard library has no patch tool,
and `patch`/`git` are not on every fresh machine, hence these few lines.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PATCH_DIR = PACKAGE_DIR / "patches"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(RuntimeError):
    """A patch does not apply to the copy; the message names the file, hunk and line."""


@dataclass(frozen=True)
class Fix:
    """One demo bug's fix: `name` is the patch's file stem, `title` what it changes."""

    name: str
    title: str

    @property
    def patch(self) -> Path:
        return PATCH_DIR / f"{self.name}.patch"


CURRENCY_FIX = Fix("currency-case", "payments: look exchange rates up by the upper-case code")
N_PLUS_ONE_FIX = Fix("catalog-n-plus-one", "shop: read a cart's products in one catalog query")
FIXES: tuple[Fix, ...] = (CURRENCY_FIX, N_PLUS_ONE_FIX)


def scratch_copy(dest: Path) -> Path:
    """Copy `demo_service/` as shipped to `dest/demo_service`; returns `dest`, the
    directory to import the services from (their PYTHONPATH)."""
    target = dest / PACKAGE_DIR.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def fixed_copy(dest: Path, fixes: tuple[Fix, ...] = FIXES) -> Path:
    """`scratch_copy` with `fixes` applied in order; returns the import root."""
    root = scratch_copy(dest)
    for fix in fixes:
        apply_fix(root, fix)
    return root


def apply_fix(root: Path, fix: Fix) -> list[Path]:
    """Apply one fix's patch to the copy under `root`; returns the files it changed."""
    return apply_patch(root, fix.patch.read_text(), fix.patch.name)


def apply_patch(root: Path, text: str, label: str = "patch") -> list[Path]:
    """Apply a unified diff (paths `a/...` `b/...` relative to `root`) strictly.

    Every file is checked before any is written, so a failing patch changes nothing.
    """
    results: dict[Path, str] = {}
    for path, hunks in _parse(text, label):
        target = root / path
        if not target.is_file():
            raise PatchError(f"{label}: {path} not found under {root}")
        results[target] = _apply_hunks(target.read_text(), hunks, f"{label}: {path}")
    for target, content in results.items():
        target.write_text(content)
    return list(results)


def _parse(text: str, label: str) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    """[(path, [(old start line, hunk body lines)])]; text before the first `---` is prose."""
    files: list[tuple[str, list[tuple[int, list[str]]]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not (lines[i].startswith("--- ") and i + 1 < len(lines)):
            i += 1
            continue
        new = lines[i + 1]
        if not new.startswith("+++ b/"):
            raise PatchError(f"{label}: line {i + 2}: expected '+++ b/<path>', got {new!r}")
        hunks: list[tuple[int, list[str]]] = []
        files.append((new[len("+++ b/") :].split("\t")[0], hunks))
        i += 2
        while i < len(lines) and (match := _HUNK.match(lines[i])):
            old_len = int(match[2] or 1)
            new_len = int(match[4] or 1)
            body: list[str] = []
            i += 1
            while old_len or new_len:
                if i >= len(lines):
                    raise PatchError(f"{label}: hunk at line {match[1]} ends early")
                line = lines[i] or " "  # an empty context line may lose its space
                if line[0] not in " -+":
                    raise PatchError(f"{label}: line {i + 1}: not a hunk line: {line!r}")
                old_len -= line[0] in " -"
                new_len -= line[0] in " +"
                body.append(line)
                i += 1
            hunks.append((int(match[1]), body))
        if not hunks:
            raise PatchError(f"{label}: no hunks for {files[-1][0]}")
    if not files:
        raise PatchError(f"{label}: no file changes found (is it a unified diff?)")
    return files


def _apply_hunks(content: str, hunks: list[tuple[int, list[str]]], where: str) -> str:
    lines = content.splitlines()
    out: list[str] = []
    pos = 0  # index in `lines` of the next line not yet copied
    for start, body in hunks:
        at = max(start - 1, 0) if any(b[0] in " -" for b in body) else start
        if at < pos:
            raise PatchError(f"{where}: hunks overlap or are out of order at line {start}")
        out.extend(lines[pos:at])
        pos = at
        for b in body:
            if b[0] == "+":
                out.append(b[1:])
                continue
            if pos >= len(lines) or lines[pos] != b[1:]:
                found = lines[pos] if pos < len(lines) else "<end of file>"
                raise PatchError(
                    f"{where}: line {pos + 1} is {found!r}, the patch expects {b[1:]!r}: the "
                    "code changed since the patch was made (regenerate it with `git diff`)"
                )
            if b[0] == " ":
                out.append(lines[pos])
            pos += 1
    out.extend(lines[pos:])
    return "\n".join(out) + ("\n" if content.endswith("\n") or not content else "")
