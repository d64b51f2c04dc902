"""`obs-mcp stack install`: build each pinned binary from its Go module, once per version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from obs_mcp.stack.components import (
    COLLECTOR,
    COMPONENTS,
    VICTORIATRACES,
    Component,
    GoRecipe,
    ResolvedBinary,
    cache_dir,
    cached_binary,
    resolve_binary,
)
from obs_mcp.stack.versions import builder_manifest_path, pinned_versions

Reporter = Callable[[str], None]

GO_MISSING = """\
Go is not installed (needed once, to build the stack's binaries from their Go modules).
Do one of:
  - install Go >= 1.26 (https://go.dev/dl or your package manager), then
    run `obs-mcp stack install` again;
  - run the stack with Docker instead, from a checkout of the obs-mcp repository:
    `docker compose -f compose/docker-compose.yml up -d`;
  - put victoria-metrics, victoria-logs, victoria-traces and an otelcol binary on PATH, or name
    them with OBS_MCP_VICTORIAMETRICS_BIN, OBS_MCP_VICTORIALOGS_BIN, OBS_MCP_VICTORIATRACES_BIN,
    OBS_MCP_COLLECTOR_BIN."""


class InstallError(RuntimeError):
    """A component could not be built; the message says which and what to do."""


@dataclass
class InstallResult:
    component: Component
    binary: ResolvedBinary | None
    built: bool
    note: str = ""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def go_executable() -> str:
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        raise InstallError(GO_MISSING)
    return go


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    return env


def _run_with_progress(cmd: list[str], cwd: Path, label: str, report: Reporter) -> str:
    """Run a Go command, reporting download counts and elapsed time instead of raw noise."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_build_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    downloads = 0
    last_report = started
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("go: downloading"):
            downloads += 1
        now = time.monotonic()
        if now - last_report >= 10:
            report(f"  {label}: {downloads} modules fetched, {now - started:.0f}s elapsed ...")
            last_report = now
    rc = proc.wait()
    output = "\n".join(lines)
    if rc != 0:
        tail = "\n".join([ln for ln in lines if not ln.startswith("go: downloading")][-15:])
        raise InstallError(f"{label}: `{' '.join(cmd[:3])} ...` failed (exit {rc}):\n{tail}")
    return output


def build_go_binary(component: Component, recipe: GoRecipe, report: Reporter) -> Path:
    """Build `module/package` in a throwaway main module that requires the pinned version.

    A main module of our own (rather than `go install pkg@v`) lets us pin dependency
    versions the proxy serves, and skips the version-list lookup some proxies refuse.
    """
    versions = pinned_versions()
    go = go_executable()
    target = cached_binary(component)
    target.parent.mkdir(parents=True, exist_ok=True)
    version = versions[recipe.version_key]
    with tempfile.TemporaryDirectory(prefix=f"obs-mcp-build-{component.binary}-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [go, "mod", "init", f"obsmcp.local/build/{component.binary}"],
            cwd=work, env=_build_env(), check=True, capture_output=True,
        )  # fmt: skip
        requires = [f"-require={recipe.module}@{version}"] + [
            f"-require={module}@{versions[key]}" for module, key in recipe.also_require
        ]
        subprocess.run([go, "mod", "edit", *requires], cwd=work, check=True, capture_output=True)
        ldflags = (
            "-s -w -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version="
            f"{component.binary}-{version}"
        )
        out = target.with_suffix(".tmp")
        cmd = [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(out)]
        _run_with_progress(
            [*cmd, f"{recipe.module}/{recipe.package}"], work, component.binary, report
        )
        out.replace(target)
    return target


def _render_manifest(output_dir: Path) -> str:
    versions = pinned_versions()
    text = builder_manifest_path().read_text()
    for key in ("OTELCOL_VERSION", "OTELCOL_STABLE_VERSION"):
        text = text.replace("${" + key + "}", versions[key])
    return text.replace("output_path: ./build", f"output_path: {output_dir}")


def build_collector(report: Reporter) -> Path:
    """Build the minimal collector with the official builder (ocb), itself cached per version."""
    go = go_executable()
    version = pinned_versions()["OTELCOL_VERSION"]
    tools = cache_dir() / "tools" / f"ocb-{version}"
    builder = tools / "builder"
    if not builder.is_file():
        report(f"  ocb v{version}: installing the collector builder ...")
        tools.mkdir(parents=True, exist_ok=True)
        env = _build_env() | {"GOBIN": str(tools), "GOFLAGS": "-buildvcs=false"}
        proc = subprocess.run(
            [go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{version}"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InstallError(f"installing ocb v{version} failed:\n{proc.stderr[-2000:]}")
    target = cached_binary(COLLECTOR)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="obs-mcp-build-otelcol-") as tmp:
        work = Path(tmp)
        (work / "manifest.yaml").write_text(_render_manifest(work / "build"))
        _run_with_progress(
            [str(builder), "--config", "manifest.yaml"], work, COLLECTOR.binary, report
        )
        (work / "build" / COLLECTOR.binary).replace(target)
    return target


def install_component(component: Component, report: Reporter = _stderr) -> InstallResult:
    existing = resolve_binary(component)
    if existing is not None:
        return InstallResult(component, existing, built=False, note=f"using {existing.source}")
    started = time.monotonic()
    report(f"{component.title} {component.build_version}: building from source (once) ...")
    if component.recipe is None:
        path = build_collector(report)
    else:
        path = build_go_binary(component, component.recipe, report)
    took = time.monotonic() - started
    report(f"{component.title}: built in {took:.0f}s -> {path}")
    return InstallResult(component, ResolvedBinary(path, "cache"), built=True)


def install_all(report: Reporter = _stderr) -> list[InstallResult]:
    """Install every component; VictoriaTraces may fall back to vt-compat (see vtcompat.py)."""
    results: list[InstallResult] = []
    for index, component in enumerate(COMPONENTS, start=1):
        report(f"[{index}/{len(COMPONENTS)}] {component.title}")
        try:
            results.append(install_component(component, report))
        except InstallError as exc:
            if component is not VICTORIATRACES:
                raise
            report(
                "  VictoriaTraces could not be built here; native mode will run vt-compat "
                "(VictoriaLogs + an OTLP trace adapter with VictoriaTraces' LogsQL schema).\n"
                f"  reason: {_first_cause(str(exc))}"
            )
            results.append(InstallResult(component, None, built=False, note="vt-compat"))
    return results


def _first_cause(message: str) -> str:
    """The line of a Go error that says why (e.g. the proxy's 403), not the whole dump."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for line in lines:
        if "403" in line or "404" in line or "not found" in line or "cannot" in line:
            return line[:300]
    return lines[-1][:300] if lines else message
