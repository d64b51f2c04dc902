"""`payments`: the back service. Prices a cart (see `pricing`) and "charges" it.

Large amounts (rare: about 1% of the demo's checkouts) go through a simulated fraud
check that takes 300-800 ms: the far tail (p99, max) of checkout latency. Failures are recorded the way a careful
service would: exception on the server span, ERROR log with trace context, 500.

Run: `opentelemetry-instrument python -m demo_service.payments --port 8001`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal

from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from demo_service.pricing import Charge, ChargeItem, compute_charge
from demo_service.telemetry import base_arg_parser, request_run_id, serve, tag_current_span

SERVICE_NAME = "payments"
DEFAULT_PORT = 8001
FRAUD_CHECK_THRESHOLD_USD = Decimal("1500")

logger = logging.getLogger("demo_service.payments")
tracer = trace.get_tracer("demo_service.payments")
meter = metrics.get_meter("demo_service.payments")

payments_charged = meter.create_counter(
    "payments.charged",
    unit="{charge}",
    description="Charge attempts, by outcome (ok|error) and settled currency.",
)


class ChargeRequest(BaseModel):
    """The POST /api/charge body the shop sends."""

    order_id: str
    items: list[ChargeItem] = Field(min_length=1)
    coupon: str | None = None
    currency: str = "USD"


def fraud_check_seconds(total_usd: Decimal) -> float:
    """How long the fraud check takes: 0 below the threshold, else 0.3-0.8 s.

    Derived from the amount rather than a random draw so a given cart is always
    equally slow, which keeps latency comparisons between runs meaningful.
    """
    if total_usd < FRAUD_CHECK_THRESHOLD_USD:
        return 0.0
    return 0.3 + (int(total_usd * 100) % 500) / 1000


def settle_seconds(lines: int) -> float:
    """How long settling with the (simulated) card network takes: 5-11 ms by cart size."""
    return 0.005 + (lines % 3) * 0.003


async def healthz(request: Request) -> JSONResponse:
    """Readiness probe for the runner; excluded from tracing."""
    return JSONResponse({"status": "ok", "service": SERVICE_NAME})


async def charge(request: Request) -> JSONResponse:
    """Price the order, run the fraud check if it is large, then settle it."""
    tag_current_span(request_run_id(request), {})
    span = trace.get_current_span()
    try:
        req = ChargeRequest.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        logger.warning("rejected malformed charge request: %s", exc)
        return JSONResponse({"error": "invalid charge request"}, status_code=400)

    span.set_attributes(
        {
            "order.id": req.order_id,
            "order.line_count": len(req.items),
            "payment.currency": req.currency,
            "payment.coupon": req.coupon or "",
        }
    )
    try:
        priced: Charge = compute_charge(req.items, req.coupon, req.currency)
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        logger.exception("charge failed for order %s", req.order_id)
        payments_charged.add(1, {"outcome": "error"})
        return JSONResponse({"error": "internal error", "order_id": req.order_id}, status_code=500)

    span.set_attributes(
        {"payment.total_usd": float(priced.total_usd), "payment.amount": float(priced.amount)}
    )
    delay = fraud_check_seconds(priced.total_usd)
    if delay:
        with tracer.start_as_current_span("fraud.check") as check:
            check.set_attribute("payment.total_usd", float(priced.total_usd))
            await asyncio.sleep(delay)
    # Settling with the (simulated) card network.
    await asyncio.sleep(settle_seconds(len(req.items)))

    payments_charged.add(1, {"outcome": "ok", "currency": priced.currency})
    charge_id = uuid.uuid4().hex[:16]
    logger.info(
        "charged order %s: %s %s (charge %s)",
        req.order_id,
        priced.amount,
        priced.currency,
        charge_id,
    )
    return JSONResponse(
        {
            "charge_id": charge_id,
            "order_id": req.order_id,
            "amount": str(priced.amount),
            "currency": priced.currency,
            "total_usd": str(priced.total_usd),
        }
    )


def create_app() -> Starlette:
    """Build the payments app."""
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/api/charge", charge, methods=["POST"]),
        ]
    )
    app.router.redirect_slashes = False
    return app


def main() -> None:
    """Entry point for `python -m demo_service.payments`."""
    args = base_arg_parser("demo payments (back service)", DEFAULT_PORT).parse_args()
    serve(create_app(), args.host, args.port)


if __name__ == "__main__":
    main()
