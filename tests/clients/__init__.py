"""The real MCP clients the tests drive, at the exact versions of package-lock.json.

`npm ci` installs them once into ~/.cache/obs-mcp/agent-clis/<hash of package.json +
package-lock.json>/ and every later run reuses that folder, so no test depends on what npm calls
newest on the day. The install happens in a temp folder beside it that is renamed into place
only after every CLI answered `--version`: an aborted or concurrent run never leaves a half
cache. How to bump a version: README.md in this folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFESTS = ("package.json", "package-lock.json")
# each CLI the tests run and the package that ships it; `--version` must print the lock's version
CLIS = {
    "claude": "@anthropic-ai/claude-code",
    "codex": "@openai/codex",
    "opencode": "opencode-ai",
    "mcp-inspector": "@modelcontextprotocol/inspector",
}
CACHE_ENV = "OBS_MCP_AGENT_CLIS_CACHE"  # overrides ~/.cache/obs-mcp/agent-clis
NPM_CI_TIMEOUT_S = 900


class ClientInstallError(RuntimeError):
    """npm ci failed or a CLI does not run: the message names the folder and the command."""


def lock_key() -> str:
    digest = hashlib.sha256()
    for name in MANIFESTS:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "obs-mcp" / "agent-clis"


def bin_dir(npm: str) -> Path:
    """node_modules/.bin of the cached install for this lock; installs it on first use."""
    root = cache_root()
    final = root / lock_key()
    if not final.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        _drop_abandoned(root)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=root))
        staging.chmod(0o755)  # mkdtemp's 0700 would be the cache folder's mode after the rename
        try:
            _npm_ci(npm, staging)
            _check_versions(staging / "node_modules" / ".bin")
            try:
                staging.rename(final)
            except OSError:  # a concurrent run renamed its own complete copy first
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final / "node_modules" / ".bin"


def _npm_ci(npm: str, folder: Path) -> None:
    for name in MANIFESTS:
        shutil.copy2(HERE / name, folder / name)
    # Claude Code and the Inspector declare Node >= 22 but run here on Node 20 (README.md):
    # engine-strict off keeps a user's npmrc from turning that warning into a refusal.
    argv = [npm, "ci", "--no-audit", "--no-fund", "--engine-strict=false"]
    res = subprocess.run(
        argv, cwd=folder, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT_S, check=False
    )
    if res.returncode != 0:
        raise ClientInstallError(
            f"`{' '.join(argv)}` in {folder} exited {res.returncode} (the npm registry must be "
            f"reachable for the first run):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )


def pinned_versions() -> dict[str, str]:
    """CLI name -> the exact version package-lock.json installs."""
    packages = json.loads((HERE / "package-lock.json").read_text())["packages"]
    return {cli: packages[f"node_modules/{pkg}"]["version"] for cli, pkg in CLIS.items()}


def _check_versions(bins: Path) -> None:
    """Each CLI runs (a postinstall step puts the native binaries of two of them in place)."""
    for name, version in pinned_versions().items():
        res = subprocess.run(
            [str(bins / name), "--version"], capture_output=True, text=True, timeout=60
        )
        if res.returncode != 0 or version not in res.stdout.split():
            raise ClientInstallError(
                f"{bins / name} --version printed {res.stdout.strip()!r} (exit {res.returncode}, "
                f"stderr {res.stderr.strip()[-500:]!r}); package-lock.json pins {version}"
            )


def _drop_abandoned(root: Path) -> None:
    """Staging folders of runs that died (their pid is gone); a live run's stays."""
    for staging in root.glob(".staging-*"):
        pid = staging.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
