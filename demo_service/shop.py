"""`shop`: the front service. Serves the catalog and runs checkouts via `payments`.

Each request handled here yields exactly one SERVER span (made by the Starlette
auto-instrumentation), so error rates computed from spans match the load
generator's ground truth. `/healthz` is excluded from tracing by the runner.

Run: `opentelemetry-instrument python -m demo_service.shop --port 8000`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from opentelemetry import baggage, context, metrics, trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from demo_service.catalog import Product, fetch_products
from demo_service.pricing import COUPONS, FX_RATES, ChargeItem
from demo_service.telemetry import (
    RUN_ID_BAGGAGE_KEY,
    RUN_ID_HEADER,
    base_arg_parser,
    request_run_id,
    serve,
    tag_current_span,
)

SERVICE_NAME = "shop"
DEFAULT_PORT = 8000
DEFAULT_PAYMENTS_URL = "http://127.0.0.1:8001"
MAX_LINES = 50
MAX_QUANTITY = 99
# The SDK's default histogram buckets assume milliseconds; these suit seconds.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

logger = logging.getLogger("demo_service.shop")
tracer = trace.get_tracer("demo_service.shop")
meter = metrics.get_meter("demo_service.shop")

orders_processed = meter.create_counter(
    "orders.processed",
    unit="{order}",
    description="Checkouts handled, by outcome: ok, error (5xx) or rejected (4xx).",
)
order_latency = meter.create_histogram(
    "order.latency",
    unit="s",
    description="Checkout handling time in the shop, including the payments call.",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
)


class CheckoutItem(BaseModel):
    """One cart line in a checkout request."""

    product_id: int
    quantity: int


class CheckoutRequest(BaseModel):
    """The POST /api/checkout body; currency defaults to USD."""

    items: list[CheckoutItem] = Field(default_factory=list)
    coupon: str | None = None
    currency: str | None = None


class ValidOrder(BaseModel):
    """A checkout that passed the shop's checks and is ready to be charged."""

    items: list[ChargeItem]
    coupon: str | None
    currency: str


class CheckoutRejectedError(Exception):
    """A client mistake in the checkout request; maps to a 4xx, not an error."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def parse_checkout(body: Any) -> CheckoutRequest:
    """The checkout body's shape: raise CheckoutRejectedError (400) when it is not a cart."""
    try:
        req = CheckoutRequest.model_validate(body)
    except ValidationError as exc:
        raise CheckoutRejectedError(
            400, f"invalid checkout body: {exc.error_count()} errors"
        ) from exc
    if not req.items:
        raise CheckoutRejectedError(400, "cart is empty")
    if len(req.items) > MAX_LINES:
        raise CheckoutRejectedError(400, f"at most {MAX_LINES} cart lines")
    return req


def build_order(req: CheckoutRequest, products: Mapping[int, Product]) -> ValidOrder:
    """Check a parsed cart against the products read from the catalog.

    Pure (no I/O): tests call it with the whole catalog to tell which planned
    requests reach payments.
    """
    lines: list[ChargeItem] = []
    for item in req.items:
        product = products.get(item.product_id)
        if product is None:
            raise CheckoutRejectedError(404, f"unknown product {item.product_id}")
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise CheckoutRejectedError(400, f"quantity must be 1..{MAX_QUANTITY}")
        lines.append(
            ChargeItem(
                product_id=product.id,
                quantity=item.quantity,
                unit_price_usd=product.price_usd,
            )
        )
    if req.coupon is not None and req.coupon not in COUPONS:
        raise CheckoutRejectedError(400, f"unknown coupon {req.coupon!r}")
    currency = req.currency if req.currency is not None else "USD"
    if currency.upper() not in FX_RATES:
        raise CheckoutRejectedError(400, f"unsupported currency {currency!r}")
    return ValidOrder(items=lines, coupon=req.coupon, currency=currency)


async def healthz(request: Request) -> JSONResponse:
    """Readiness probe for the runner; excluded from tracing."""
    return JSONResponse({"status": "ok", "service": SERVICE_NAME})


async def list_products(request: Request) -> JSONResponse:
    """The whole catalog: one catalog query."""
    tag_current_span(request_run_id(request), {})
    products = await fetch_products()
    return JSONResponse({"products": [p.model_dump(mode="json") for p in products.values()]})


async def get_product(request: Request) -> JSONResponse:
    """One product by id (one catalog query); unknown ids are a plain 404."""
    raw_id = request.path_params["id"]
    tag_current_span(request_run_id(request), {"product.id": str(raw_id)})
    pid = int(raw_id) if str(raw_id).isdigit() else None
    product = (await fetch_products([pid])).get(pid) if pid is not None else None
    if product is None:
        return JSONResponse({"error": f"product {raw_id} not found"}, status_code=404)
    return JSONResponse(product.model_dump(mode="json"))


def reserve_seconds(lines: int) -> float:
    """How long reserving stock takes (simulated): 4 ms plus 2 ms per cart line."""
    return 0.004 + 0.002 * lines


def _finish_checkout(started: float, outcome: str) -> None:
    orders_processed.add(1, {"outcome": outcome})
    order_latency.record(time.perf_counter() - started, {"outcome": outcome})


async def checkout(request: Request) -> JSONResponse:
    """Validate the cart, reserve stock, then charge it through the payments service."""
    started = time.perf_counter()
    run_id = request_run_id(request)
    tag_current_span(run_id, {})
    span = trace.get_current_span()

    try:
        cart = parse_checkout(await request.json())
        # Read the cart's products from the catalog.
        products: dict[int, Product] = {}
        for item in cart.items:
            products.update(await fetch_products([item.product_id]))
        order = build_order(cart, products)
    except ValueError:
        _finish_checkout(started, "rejected")
        return JSONResponse({"error": "body is not JSON"}, status_code=400)
    except CheckoutRejectedError as exc:
        _finish_checkout(started, "rejected")
        return JSONResponse({"error": exc.message}, status_code=exc.status_code)

    order_id = uuid.uuid4().hex[:16]
    units = sum(item.quantity for item in order.items)
    span.set_attributes(
        {
            "order.id": order_id,
            "order.item_count": units,
            "order.line_count": len(order.items),
            "order.currency": order.currency,
            "order.coupon": order.coupon or "",
        }
    )

    with tracer.start_as_current_span("inventory.reserve") as reserve_span:
        reserve_span.set_attribute("order.line_count", len(order.items))
        await asyncio.sleep(reserve_seconds(len(order.items)))

    payload = {
        "order_id": order_id,
        "items": [item.model_dump(mode="json") for item in order.items],
        "coupon": order.coupon,
        "currency": order.currency,
    }
    headers = {RUN_ID_HEADER: run_id} if run_id else {}
    client: httpx.AsyncClient = request.app.state.payments
    token = None
    if run_id and baggage.get_baggage(RUN_ID_BAGGAGE_KEY) is None:
        # Only the header arrived: add the baggage too so payments sees the same context.
        token = context.attach(baggage.set_baggage(RUN_ID_BAGGAGE_KEY, run_id))
    try:
        resp = await client.post("/api/charge", json=payload, headers=headers)
    except httpx.HTTPError as exc:
        logger.exception("checkout %s failed: payments unreachable (%s)", order_id, exc)
        span.set_status(Status(StatusCode.ERROR, "payments unreachable"))
        _finish_checkout(started, "error")
        return JSONResponse({"error": "payment service unavailable"}, status_code=502)
    finally:
        if token is not None:
            context.detach(token)

    if resp.status_code != 200:
        logger.error(
            "checkout %s failed: payments returned %s: %s",
            order_id,
            resp.status_code,
            resp.text[:300],
        )
        span.set_status(Status(StatusCode.ERROR, f"payments returned {resp.status_code}"))
        _finish_checkout(started, "error")
        return JSONResponse({"error": "payment failed", "order_id": order_id}, status_code=500)

    charge = resp.json()
    logger.info(
        "order %s paid: %s %s for %d units",
        order_id,
        charge.get("amount"),
        charge.get("currency"),
        units,
    )
    _finish_checkout(started, "ok")
    return JSONResponse({"order_id": order_id, "status": "paid", "charge": charge})


def create_app(payments_url: str) -> Starlette:
    """Build the shop app; the httpx client lives for the app's lifetime (one pool)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=payments_url, timeout=10.0) as client:
            app.state.payments = client
            yield

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/api/products", list_products, methods=["GET"]),
            Route("/api/products/{id}", get_product, methods=["GET"]),
            Route("/api/checkout", checkout, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    # A redirect would be a second server span for one logical request.
    app.router.redirect_slashes = False
    return app


def main() -> None:
    """Entry point for `python -m demo_service.shop`."""
    parser = base_arg_parser("demo shop (front service)", DEFAULT_PORT)
    parser.add_argument(
        "--payments-url",
        default=os.environ.get("PAYMENTS_URL", DEFAULT_PAYMENTS_URL),
        help="base URL of the payments service (env PAYMENTS_URL)",
    )
    args = parser.parse_args()
    serve(create_app(args.payments_url), args.host, args.port)


if __name__ == "__main__":
    main()
