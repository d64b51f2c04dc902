"""The shop's product catalog: a fixed in-memory table so runs are reproducible."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel


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
