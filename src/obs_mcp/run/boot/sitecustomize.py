"""`obs-mcp run`'s bootstrap inside a Python child (this directory is put on PYTHONPATH).

Python imports `sitecustomize` at startup, so every Python process the command starts runs
this before the app: it makes obs-mcp's OpenTelemetry packages (the "kit", built for this
interpreter) importable when the app's environment has none, runs the same zero-code
initialisation as `opentelemetry-instrument`, joins an inherited TRACEPARENT, and writes
what it instrumented (the truth from inside the process, not a guess from outside) and, at
exit, how many requests it served, so `obs-mcp run` can wait for exactly those.

It runs under the app's interpreter: stdlib only, no obs_mcp import, and it never raises
(a failure is written to the status file and the app runs uninstrumented).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import signal
import sys
from typing import Any

_BOOT_DIR = os.path.dirname(os.path.abspath(__file__))
_AUTO_LOGGER = "opentelemetry.instrumentation.auto_instrumentation"


class _Notes(logging.Handler):
    """What the upstream loader says about each instrumentor, kept for the status file."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.instrumented: list[str] = []
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg == "Instrumented %s" and isinstance(args, tuple) and args:
            self.instrumented.append(str(args[0]))
        elif record.levelno >= logging.WARNING:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            self.problems.append(text)


def _write(name: str, payload: dict[str, Any]) -> None:
    folder = os.environ.get("OBS_MCP_RUN_STATUS_DIR")
    if not folder:
        return
    path = os.path.join(folder, f"{os.getpid()}.{name}.json")
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(payload, fh)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def _argv() -> list[str]:
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return list(getattr(sys, "argv", []) or [sys.executable])


def _use_kit() -> str | None:
    """Put the kit on sys.path; None when this interpreter is not the one it was built for."""
    kit = os.environ.get("OBS_MCP_RUN_KIT", "")
    tag = os.environ.get("OBS_MCP_RUN_KIT_TAG", "")
    if sys.implementation.cache_tag != tag:
        return f"the kit is for {tag}, this interpreter is {sys.implementation.cache_tag}"
    if os.environ.get("OBS_MCP_RUN_KIT_FIRST") == "1":
        # The app has OpenTelemetry packages of its own but no instrumentation: one
        # consistent set (the kit's) must win, or an SDK meets an API of another version.
        sys.path.insert(1 if sys.path and sys.path[0] == _BOOT_DIR else 0, kit)
    else:
        sys.path.append(kit)  # the app's own libraries win; the kit only fills in
    return None


def _join_parent_trace() -> bool:
    """Spans that would start a trace of their own join the inherited TRACEPARENT instead
    (a test run's client calls, a script's work), except the requests a server receives:
    those stay one trace per request, as they are without obs-mcp. Attaching the context
    for the whole process would turn every request of a server into a child of the run."""
    parent = os.environ.get("TRACEPARENT")
    if not parent:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.trace import Tracer
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": parent, "tracestate": os.environ.get("TRACESTATE", "")}
    inherited = TraceContextTextMapPropagator().extract(carrier)
    if not trace.get_current_span(inherited).get_span_context().is_valid:
        return False
    original = Tracer.start_span

    def start_span(
        self: Any, name: str, context: Any = None, kind: Any = SpanKind.INTERNAL, *args: Any,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        receives = kind in (SpanKind.SERVER, SpanKind.CONSUMER)
        if not receives and not trace.get_current_span(context).get_span_context().is_valid:
            context = inherited
        return original(self, name, context, kind, *args, **kwargs)

    Tracer.start_span = start_span  # type: ignore[method-assign]
    return True


def _count_requests() -> Any:
    """Counts the requests this process serves, as the query core defines them: server or
    consumer spans without a parent in this process. None when the SDK is not the tracer."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import SpanKind

    class EntrySpans(SpanProcessor):
        count = 0

        def on_end(self, span: Any) -> None:
            if span.kind in (SpanKind.SERVER, SpanKind.CONSUMER) and (
                span.parent is None or span.parent.is_remote
            ):
                self.count += 1

    add = getattr(trace.get_tracer_provider(), "add_span_processor", None)
    if add is None:
        return None
    counter = EntrySpans()
    add(counter)
    return counter


def _exit_on_sigterm() -> None:
    """A SIGTERM'd app exits through atexit, so its SDK still flushes what it recorded."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, stop)


def _announcer() -> Any:
    """The pipe to `obs-mcp run` for "this record's line is the SDK's too" (or None).

    A record the SDK exports and the app also prints would arrive twice: as the SDK's
    record (with trace ids) and as the printed line. The text of such a record is written
    here just before the app's handlers print it, so `obs-mcp run` skips that line. The fd
    is checked against the pipe's identity: a grandchild that did not inherit it must not
    write into whatever file now has that number."""
    try:
        fd = int(os.environ.get("OBS_MCP_RUN_LOGGED_FD", ""))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return None
    if f"{st.st_dev}:{st.st_ino}" != os.environ.get("OBS_MCP_RUN_LOGGED_ID"):
        return None
    formatter = logging.Formatter()

    def announce(logger: logging.Logger, record: logging.LogRecord) -> None:
        if not _printed(logger, record):
            return
        lines = record.getMessage().splitlines()
        if record.exc_info:
            lines += formatter.formatException(record.exc_info).splitlines()
        text = "\n".join(ln[:500] for ln in lines[:100] if ln.strip()) + "\n"
        with contextlib.suppress(OSError):  # full or gone: the line is then sent twice
            os.write(fd, text.encode("utf-8", "replace"))

    return announce


def _printed(logger: logging.Logger, record: logging.LogRecord) -> bool:
    """Whether a console handler on the record's way prints it (stdout or stderr)."""
    found = False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            found = True
            stream = getattr(handler, "stream", None)
            if record.levelno >= handler.level and stream in (sys.stdout, sys.stderr):
                return True
        if not current.propagate:
            break
        current = current.parent
    last = logging.lastResort
    return not found and last is not None and record.levelno >= last.level


def _hand_records_aside() -> None:
    """Upstream puts the OTel log handler on the root logger before the app configures
    logging. That changes what the app prints: `logging.basicConfig()` becomes a no-op and
    libraries that add a console handler only when root has none (werkzeug) stay silent.
    So the handler leaves root and sees every record just before the app's own handlers do
    (records of loggers that do not propagate included): console output stays as it was."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if type(h).__module__.startswith("opentelemetry")]
    if not ours:
        return
    for handler in ours:
        root.removeHandler(handler)
    original = logging.Logger.callHandlers
    announce = _announcer()

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        exported = False
        for handler in ours:
            if record.levelno >= handler.level:
                handler.handle(record)
                exported = True
        if exported and announce is not None:
            announce(self, record)
        original(self, record)

    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]


def _instrument() -> dict[str, Any]:
    status: dict[str, Any] = {"pid": os.getpid(), "argv": _argv(), "python": sys.version.split()[0]}
    status["mode"] = os.environ.get("OBS_MCP_RUN_PY_MODE", "kit")
    if status["mode"] == "kit":
        refused = _use_kit()
        if refused:
            status["error"] = refused
            return status
    notes = _Notes()
    auto = logging.getLogger(_AUTO_LOGGER)
    saved = (auto.level, auto.propagate)
    auto.addHandler(notes)
    auto.setLevel(logging.DEBUG)
    auto.propagate = False
    try:
        from opentelemetry.instrumentation.auto_instrumentation import initialize

        initialize()
    except Exception as exc:
        status["error"] = f"{type(exc).__name__}: {exc}"
        return status
    finally:
        auto.removeHandler(notes)
        auto.setLevel(saved[0])
        auto.propagate = saved[1]
    status["instrumented"] = sorted(set(notes.instrumented))
    status["problems"] = notes.problems[:20]
    try:
        _hand_records_aside()
        status["joined_trace"] = _join_parent_trace()
        counter = _count_requests()
        _exit_on_sigterm()
    except Exception as exc:
        status["problems"].append(f"{type(exc).__name__}: {exc}")
        return status
    if counter is not None:
        atexit.register(lambda: _write("exit", {"entry_spans": counter.count}))
    return status


def _chain() -> None:
    """Run the sitecustomize this one shadows (some Python builds ship their own)."""
    rest = [p for p in sys.path if os.path.abspath(p or ".") != _BOOT_DIR]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def _main() -> None:
    try:
        status = _instrument()
    except Exception as exc:  # never break the app: report and run it as it is
        status = {"pid": os.getpid(), "argv": _argv(), "error": f"{type(exc).__name__}: {exc}"}
    _write("start", status)
    try:
        _chain()
    except Exception as exc:
        _write("chain", {"error": f"the shadowed sitecustomize failed: {exc}"})


_main()
