"""The pinned version set and the collector's files, read from obs-mcp's package data.

`src/obs_mcp/stack/data/` holds links to the repository's `versions.env` and `collector/`
files, which compose reads too: one source of truth. A wheel carries copies of them, so
an installed obs-mcp (`uv tool install`, `uvx`, `pip install`) runs its stack anywhere.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path


def data_file(*parts: str) -> Path:
    """A file of the package data, as a real path (the collector opens its config itself)."""
    resource = files("obs_mcp.stack").joinpath("data", *parts)
    path = Path(str(resource)).resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"obs-mcp's package data {'/'.join(parts)} is missing at {path}: reinstall obs-mcp "
            "(from a checkout: `make setup`)"
        )
    return path


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
    return parse_env_file(data_file("versions.env").read_text())


def collector_config_path() -> Path:
    return data_file("collector", "config.yaml")


def scrape_config_path() -> Path:
    """VictoriaMetrics' scrape of the stack's own metrics (targets come from the environment)."""
    return data_file("collector", "scrape.yaml")


def builder_manifest_path() -> Path:
    return data_file("collector", "builder-config.yaml")
