"""What a Python app's own environment holds, asked of the app's interpreter itself.

Run as `python -c <this source> [KIT]` by `obs-mcp run` (stdlib only, any Python >= 3.8).
Prints one JSON object: the interpreter's tag and version, the distributions the app can
import (without the kit), and, when KIT holds opentelemetry-instrumentation, which
instrumentations upstream's bootstrap table names for those distributions (the same table
`opentelemetry-bootstrap` reads) and which of them the kit already has.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from typing import Any


def _dists(paths: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=paths):
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name and name not in found:
            found[name] = dist.version
    return found


def _needed(kit: str, app: dict[str, str]) -> dict[str, Any]:
    sys.path.insert(0, kit)
    try:
        from opentelemetry.instrumentation.bootstrap_gen import (
            default_instrumentations,
            libraries,
        )
        from packaging.requirements import Requirement
    except ImportError as exc:
        return {"kit_ready": False, "kit_error": str(exc)}
    wanted: dict[str, str] = {}
    for entry in libraries:
        lib = Requirement(entry["library"])
        version = app.get(lib.name.lower().replace("_", "-"))
        if version is not None and lib.specifier.contains(version, prereleases=True):
            wanted[entry["instrumentation"]] = f"{lib.name} {version}"
    for req in default_instrumentations:
        wanted.setdefault(req, "")
    in_kit = _dists([kit])
    missing = [r for r in wanted if Requirement(r).name.lower() not in in_kit]
    return {"kit_ready": True, "instrumentations": wanted, "missing": missing}


def main(argv: list[str]) -> None:
    kit = argv[1] if len(argv) > 1 else ""
    paths = [p for p in sys.path if p and p != kit]
    app = _dists(paths)
    out: dict[str, Any] = {
        "tag": sys.implementation.cache_tag,
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "machine": platform.machine(),
        "executable": sys.executable,
        "dists": app,
    }
    if kit:
        out.update(_needed(kit, app))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
