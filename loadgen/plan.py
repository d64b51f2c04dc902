"""The seeded request plan: which requests a run sends, decided before sending any.

Planning up front (instead of drawing while sending) makes a run reproducible
regardless of concurrency or timing: the same seed always yields the same
requests in the same order, so two runs differ only by the code under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

PRODUCT_IDS = tuple(range(1, 13))
UNKNOWN_PRODUCT_IDS = (13, 42, 99, 404, 1000)
COUPONS = ("SAVE10", "WELCOME15", "VIP25")
EXPIRED_COUPONS = ("SPRING50", "BLACKFRIDAY")
CURRENCIES = ("USD", "EUR", "GBP", "JPY")
CURRENCY_WEIGHTS = (50, 25, 15, 10)

LIST_ENDPOINT = "GET /api/products"
DETAIL_ENDPOINT = "GET /api/products/{id}"
CHECKOUT_ENDPOINT = "POST /api/checkout"
ENDPOINTS = (LIST_ENDPOINT, DETAIL_ENDPOINT, CHECKOUT_ENDPOINT)


@dataclass(frozen=True)
class PlannedRequest:
    """One request to send: `endpoint` is the method + route template used for grouping."""

    index: int
    method: str
    path: str
    endpoint: str
    body: dict[str, Any] | None = None


def _cart(rng: random.Random) -> list[dict[str, int]]:
    """Mostly small carts; about one in eight is a large (bulk) order."""
    if rng.random() < 0.12:
        lines = rng.randint(4, 8)
        quantities: tuple[int, ...] = (1, 2, 3, 4)
        qty_weights: tuple[int, ...] = (40, 30, 20, 10)
    else:
        lines = rng.choices((1, 2, 3), weights=(50, 35, 15))[0]
        quantities, qty_weights = (1, 2, 3), (70, 20, 10)
    products = rng.sample(PRODUCT_IDS, lines)
    cart = [
        {"product_id": pid, "quantity": rng.choices(quantities, weights=qty_weights)[0]}
        for pid in products
    ]
    if rng.random() < 0.02:  # a stale product page: the item was delisted
        cart[-1]["product_id"] = rng.choice(UNKNOWN_PRODUCT_IDS)
    return cart


def _checkout_body(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"items": _cart(rng)}
    roll = rng.random()
    if roll < 0.27:
        body["coupon"] = rng.choice(COUPONS)
    elif roll < 0.30:
        body["coupon"] = rng.choice(EXPIRED_COUPONS)
    if rng.random() >= 0.15:  # 15% of clients leave the currency to the shop default
        currency = rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0]
        # Clients send the code as their UI holds it; some keep it lower-case.
        body["currency"] = currency.lower() if rng.random() < 0.23 else currency
    return body


def build_plan(requests: int, seed: int) -> list[PlannedRequest]:
    """A deterministic mix: ~30% catalog list, ~20% product detail, ~50% checkout."""
    rng = random.Random(seed)
    plan: list[PlannedRequest] = []
    for index in range(requests):
        roll = rng.random()
        if roll < 0.30:
            plan.append(PlannedRequest(index, "GET", "/api/products", LIST_ENDPOINT))
        elif roll < 0.50:
            pid = (
                rng.choice(UNKNOWN_PRODUCT_IDS) if rng.random() < 0.06 else rng.choice(PRODUCT_IDS)
            )
            plan.append(PlannedRequest(index, "GET", f"/api/products/{pid}", DETAIL_ENDPOINT))
        else:
            plan.append(
                PlannedRequest(
                    index, "POST", "/api/checkout", CHECKOUT_ENDPOINT, _checkout_body(rng)
                )
            )
    return plan
