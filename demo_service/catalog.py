"""The shop's product catalog: a fixed table behind a simulated database round trip.

The rows are fixed so runs are reproducible. Every query costs one round trip
(`ROUND_TRIP_S`, as to a database in another region) whatever it asks for, so the
number of queries a request makes is what its catalog time depends on — which is
what makes an N+1 (one query per cart line) show in checkout latency, by design
larger than what a busy machine adds to a request.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

ROUND_TRIP_S = 0.080
QUERY_SPAN = "SELECT products"
_COLUMNS = "id, name, category, price_usd"

tracer = trace.get_tracer("demo_service.catalog")


class Product(BaseModel):
    """One sellable product; prices are in USD."""

    id: int
    name: str
    category: str
    price_usd: Decimal


def _p(pid: int, name: str, category: str, price: str) -> Product:
    return Product(id=pid, name=name, category=category, price_usd=Decimal(price))


PRODUCTS: dict[int, Product] = {
    p.id: p
    for p in (
        _p(1, "Espresso beans 1kg", "coffee", "24.90"),
        _p(2, "Filter coffee 500g", "coffee", "12.50"),
        _p(3, "Ceramic mug", "kitchen", "9.99"),
        _p(4, "Pour-over kettle", "kitchen", "59.00"),
        _p(5, "Burr grinder", "equipment", "149.00"),
        _p(6, "Espresso machine", "equipment", "449.00"),
        _p(7, "Milk frother", "equipment", "39.95"),
        _p(8, "Paper filters x100", "supplies", "4.50"),
        _p(9, "Descaling tablets", "supplies", "7.25"),
        _p(10, "Barista course voucher", "services", "120.00"),
        _p(11, "Travel tumbler", "kitchen", "22.00"),
        _p(12, "Green tea 250g", "tea", "15.75"),
    )
}


def query_text(ids: list[int] | None) -> str:
    """The SQL a real catalog database would be sent (ids as bind parameters)."""
    sql = f"SELECT {_COLUMNS} FROM products"
    return sql if ids is None else f"{sql} WHERE id IN ({', '.join('?' * len(ids))})"


async def fetch_products(ids: Iterable[int] | None = None) -> dict[int, Product]:
    """The products with these ids (all products for None) in one query: one round trip.

    Each call is one CLIENT span named like a database span (`SELECT products`), so
    the trace shows every query a request made, and where in the code it was made
    (`code.*` of the caller: the line an N+1 fix has to change).
    """
    wanted = None if ids is None else list(dict.fromkeys(ids))
    with tracer.start_as_current_span(QUERY_SPAN, kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "db.system.name": "other_sql",
                "db.collection.name": "products",
                "db.operation.name": "SELECT",
                "db.query.text": query_text(wanted),
                **_caller(),
            }
        )
        await asyncio.sleep(ROUND_TRIP_S)
        rows = {
            pid: product for pid, product in PRODUCTS.items() if wanted is None or pid in wanted
        }
        span.set_attribute("db.response.returned_rows", len(rows))
        return rows


def _caller() -> dict[str, str | int]:
    """Where fetch_products was called from (runs before the first await, so the calling
    coroutine's frame is still the one below)."""
    frame = inspect.currentframe()
    caller = frame.f_back.f_back if frame and frame.f_back else None
    if caller is None:
        return {}
    path = Path(caller.f_code.co_filename)
    return {
        "code.function.name": caller.f_code.co_name,
        "code.file.path": f"{path.parent.name}/{path.name}",
        "code.line.number": caller.f_lineno,
    }
