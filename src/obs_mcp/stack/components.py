"""The four programs of the stack, where their binaries come from, and where they are cached."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from obs_mcp.stack.versions import pinned_versions

BinarySource = Literal["env", "path", "cache"]


@dataclass(frozen=True)
class GoRecipe:
    """How to build a binary from a Go module: `module/package` at the pinned version.

    `also_require` pins further modules (module, versions.env key) in the throwaway
    main module, for dependencies the module proxy serves only at other versions.
    """

    module: str
    version_key: str
    package: str
    also_require: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Component:
    key: str
    title: str
    binary: str
    version_key: str
    path_names: tuple[str, ...]
    recipe: GoRecipe | None  # None: built by the collector builder

    @property
    def env_var(self) -> str:
        return f"OBS_MCP_{self.key.upper()}_BIN"

    @property
    def version(self) -> str:
        return pinned_versions()[self.version_key]

    @property
    def build_version(self) -> str:
        return pinned_versions()[self.recipe.version_key] if self.recipe else self.version


VM = "github.com/VictoriaMetrics/VictoriaMetrics"
VL = "github.com/VictoriaMetrics/VictoriaLogs"
VT = "github.com/VictoriaMetrics/VictoriaTraces"

VICTORIAMETRICS = Component(
    key="victoriametrics",
    title="VictoriaMetrics",
    binary="victoria-metrics",
    version_key="VICTORIAMETRICS_VERSION",
    path_names=("victoria-metrics", "victoria-metrics-prod"),
    recipe=GoRecipe(VM, "VICTORIAMETRICS_VERSION", "app/victoria-metrics"),
)
VICTORIALOGS = Component(
    key="victorialogs",
    title="VictoriaLogs",
    binary="victoria-logs",
    version_key="VICTORIALOGS_VERSION",
    path_names=("victoria-logs", "victoria-logs-prod"),
    recipe=GoRecipe(VL, "VICTORIALOGS_VERSION", "app/victoria-logs"),
)
VICTORIATRACES = Component(
    key="victoriatraces",
    title="VictoriaTraces",
    binary="victoria-traces",
    version_key="VICTORIATRACES_VERSION",
    path_names=("victoria-traces", "victoria-traces-prod"),
    recipe=GoRecipe(
        VT,
        "VICTORIATRACES_VERSION",
        "app/victoria-traces",
        also_require=((VL, "VICTORIALOGS_VERSION"), (VM, "VICTORIAMETRICS_VERSION")),
    ),
)
COLLECTOR = Component(
    key="collector",
    title="OpenTelemetry Collector",
    binary="otelcol-obs-mcp",
    version_key="OTELCOL_VERSION",
    path_names=("otelcol-obs-mcp", "otelcol", "otelcol-contrib"),
    recipe=None,
)

COMPONENTS: tuple[Component, ...] = (VICTORIAMETRICS, VICTORIALOGS, VICTORIATRACES, COLLECTOR)


def cache_dir() -> Path:
    """Per-user cache for built binaries; never inside the repo, so clones share one build."""
    if explicit := os.environ.get("OBS_MCP_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "obs-mcp"


def cached_binary(component: Component) -> Path:
    return cache_dir() / "bin" / f"{component.binary}-{component.build_version}" / component.binary


@dataclass(frozen=True)
class ResolvedBinary:
    path: Path
    source: BinarySource


def resolve_binary(component: Component) -> ResolvedBinary | None:
    """Env var first, then PATH, then our cache: a user's own binaries are used as they are."""
    if explicit := os.environ.get(component.env_var):
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"{component.env_var}={explicit} is not an executable file")
        return ResolvedBinary(path, "env")
    for name in component.path_names:
        if found := shutil.which(name):
            return ResolvedBinary(Path(found), "path")
    cached = cached_binary(component)
    if cached.is_file() and os.access(cached, os.X_OK):
        return ResolvedBinary(cached, "cache")
    return None
