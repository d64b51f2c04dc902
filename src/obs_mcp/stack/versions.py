"""The pinned version set, read from the one file compose reads too (versions.env)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_MARKER = "versions.env"


def project_root() -> Path:
    """The checkout that holds versions.env and collector/ (obs-mcp runs from its source tree)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / _MARKER).is_file() and (parent / "collector").is_dir():
            return parent
    raise FileNotFoundError(
        f"cannot find {_MARKER} above {Path(__file__).resolve()}: run obs-mcp from its checkout"
    )


def parse_env_file(text: str) -> dict[str, str]:
    """Parse KEY=VALUE lines (no quoting, '#' comments) the way compose's .env does."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"versions.env: not KEY=VALUE: {raw!r}")
        values[key.strip()] = value.strip()
    return values


@cache
def pinned_versions() -> dict[str, str]:
    return parse_env_file((project_root() / _MARKER).read_text())


def collector_config_path() -> Path:
    return project_root() / "collector" / "config.yaml"


def scrape_config_path() -> Path:
    """VictoriaMetrics' scrape of the stack's own metrics (targets from the environment)."""
    return project_root() / "collector" / "scrape.yaml"


def builder_manifest_path() -> Path:
    return project_root() / "collector" / "builder-config.yaml"
