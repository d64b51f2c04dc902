"""Node commands: `@opentelemetry/auto-instrumentations-node` where the project has it.

Found from the working directory upward (and from the script's directory), it is loaded
with `--require .../register` through NODE_OPTIONS, so `node`, `npm start` and `npx` all
start instrumented. Where it is missing, one sentence says how to add it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "@opentelemetry/auto-instrumentations-node"
ADD = (
    f"Node: {PACKAGE} is not installed here, so only the output becomes logs; add it with "
    f"`npm install --save-dev @opentelemetry/api {PACKAGE}` and run again"
)


def find(start_dirs: list[Path]) -> Path | None:
    for start in start_dirs:
        for folder in (start, *start.parents):
            candidate = folder / "node_modules" / PACKAGE
            if (candidate / "package.json").is_file():
                return candidate
    return None


def plan(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """(env additions, what to tell the user)."""
    starts = [cwd]
    starts += [(cwd / a).resolve().parent for a in argv[1:] if (cwd / a).is_file()][:1]
    package = find(starts)
    if package is None:
        return {}, ADD
    register = package / "build" / "src" / "register.js"
    target = str(register) if register.is_file() else f"{PACKAGE}/register"
    options = " ".join(filter(None, [env.get("NODE_OPTIONS", ""), f'--require "{target}"']))
    extra = {"NODE_OPTIONS": options, "OTEL_NODE_RESOURCE_DETECTORS": "env,host,os,process"}
    return extra, f"Node: instrumented with {package} (NODE_OPTIONS --require {target})"
