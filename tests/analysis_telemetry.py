"""Known telemetry for the analysis tools (compare_runs, top_errors): every expected figure is
derived from the emission plan here, never read back from the stores."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.known_telemetry import MS, _root, current, hex_trace, wait_for_count
from tests.otel_emit import Emitter, emitter

SVC = '"resource_attr:service.name"'
GET, POST = "GET /api/items", "POST /api/order"


# ---- compare_runs: a before/after pair ---------------------------------------------------------
@dataclass
class Side:
    run: str
    start_ns: int  # first span start
    end_ns: int  # last span end
    requests: int
    errors: int
    ops: dict[str, tuple[int, int]]  # operation -> (requests, errors)


@dataclass
class Pair:
    service: str
    baseline: Side
    current: Side


def _emit_side(
    em: Emitter, run: str, base_ns: int, gets: int, posts: int, post_errors: int
) -> Side:
    """gets GET (10 ms), posts POST (20 ms ok, 100 ms when failing), one every 500 ms."""
    plan = [(GET, 10.0, False)] * gets + [(POST, 20.0, False)] * (posts - post_errors)
    plan += [(POST, 100.0, True)] * post_errors
    end_ns = base_ns
    tracer = em.tracer
    for index, (op, ms, failed) in enumerate(plan):
        start = base_ns + index * 500 * MS
        span = _root(tracer, op, SpanKind.SERVER, start)
        span.set_attribute("run.id", run)
        if failed:
            order = uuid.uuid4().hex
            span.record_exception(ValueError(f"card {4000 + index} declined for order {order}"))
            span.set_status(Status(StatusCode.ERROR, "declined"))
        end_ns = max(end_ns, start + int(ms * MS))
        span.end(end_time=start + int(ms * MS))
    return Side(run, base_ns, end_ns, len(plan), post_errors,
                {GET: (gets, 0), POST: (posts, post_errors)})  # fmt: skip


def emit_pair(
    otlp_http_url: str,
    vt_url: str,
    prefix: str,
    requests: tuple[int, int],
    errors: tuple[int, int],
) -> Pair:
    """Baseline then current (100 s apart), each `requests` split 60% GET / 40% POST."""
    tag = uuid.uuid4().hex[:8]
    service = f"{prefix}-{tag}"
    em = emitter(otlp_http_url, service)
    base = time.time_ns() - 400_000 * MS
    sides = []
    for i, (total, errs) in enumerate(zip(requests, errors, strict=True)):
        gets = total * 3 // 5
        sides.append(
            _emit_side(em, f"{prefix}-{tag}-{i}", base + i * 200_000 * MS, gets, total - gets, errs)
        )
    em.flush()
    em.shutdown()
    wait_for_count(vt_url, f"{SVC}:={_q(service)}", sum(requests))
    return Pair(service, sides[0], sides[1])


def _q(value: str) -> str:
    return f'"{value}"'


# ---- top_errors: signatures with known counts --------------------------------------------------
PAY_OP, REFUND_OP, SYNC_OP = "POST /api/pay", "POST /api/refund", "sync ledger"
PAY_TEMPLATE = "payment <uuid> for user <num> failed: <str> via <url> (<email>, ref <hex>)"


def _raise_payment_error(index: int) -> None:
    user = 1000 + index * 7
    raise RuntimeError(
        f"payment {uuid.uuid4()} for user {user} failed: 'acct-{index}' via "
        f"https://bank.example/api/{index}?x=1 (u{index}@example.com, ref {uuid.uuid4().hex[:12]})"
    )


@dataclass
class Signatures:
    service: str
    pay: int = 25
    refund: int = 5
    sync: int = 4
    log_by_trace: dict[str, str] = field(default_factory=dict)
    logs: int = 0


def emit_signatures(otlp_http_url: str, vt_url: str, vl_url: str) -> Signatures:
    sig = Signatures(service=f"sig-{uuid.uuid4().hex[:8]}")
    em = emitter(otlp_http_url, sig.service)
    base = time.time_ns() - 120_000 * MS
    step = 0

    def span_at(name: str) -> Span:
        nonlocal step
        step += 1
        return _root(em.tracer, name, SpanKind.SERVER, base + step * 200 * MS)

    for index in range(sig.pay):  # RuntimeError raised in a known function -> stack location
        span = span_at(PAY_OP)
        try:
            _raise_payment_error(index)
        except RuntimeError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
        message = f"payment for user {1000 + index * 7} failed"
        with current(span):
            em.logger.error(message)
        sig.log_by_trace[hex_trace(span)] = message
        span.end(end_time=base + step * 200 * MS + 5 * MS)
    for index in range(sig.refund):  # KeyError + code.* attributes
        span = span_at(REFUND_OP)
        span.set_attribute("code.function.name", "refund")
        span.set_attribute("code.file.path", "/app/billing.py")
        span.set_attribute("code.line.number", 42)
        span.record_exception(KeyError(f"currency-{index}"))
        span.set_status(Status(StatusCode.ERROR, "refund failed"))
        span.end(end_time=base + step * 200 * MS + 5 * MS)
    for index in range(sig.sync):  # no exception event: grouped by status message
        span = span_at(SYNC_OP)
        status = f"ledger timeout after {3000 + index} ms"
        span.set_status(Status(StatusCode.ERROR, status))
        span.end(end_time=base + step * 200 * MS + 5 * MS)
    for _ in range(10):  # ok spans: not errors
        span_at(PAY_OP).end(end_time=base + step * 200 * MS + 5 * MS)
    em.flush()
    em.shutdown()
    sig.logs = sig.pay
    wait_for_count(vt_url, f"{SVC}:={_q(sig.service)}", sig.pay + sig.refund + sig.sync + 10)
    wait_for_count(vl_url, f'"service.name":={_q(sig.service)}', sig.logs)
    return sig
