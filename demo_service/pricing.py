"""How the payments service turns a cart into the amount it charges.

Pure functions with no I/O, so tests can call them directly without a server.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

# USD -> currency exchange rates (fixed so amounts are reproducible).
FX_RATES: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "JPY": Decimal("151.40"),
}

# Digits after the decimal point of each currency's minor unit (2 unless listed).
CURRENCY_DECIMALS: dict[str, int] = {"JPY": 0}

# Coupon code -> percent off the subtotal.
COUPONS: dict[str, int] = {"SAVE10": 10, "WELCOME15": 15, "VIP25": 25}


class ChargeItem(BaseModel):
    """One cart line as the shop sends it: the shop owns the catalog prices."""

    product_id: int
    quantity: int = Field(ge=1)
    unit_price_usd: Decimal = Field(ge=0)


class Charge(BaseModel):
    """The priced order: what gets charged, in the order currency and in USD."""

    subtotal_usd: Decimal
    discount_usd: Decimal
    total_usd: Decimal
    amount: Decimal
    currency: str


def compute_charge(items: list[ChargeItem], coupon: str | None, currency: str) -> Charge:
    """Price a cart: subtotal, coupon discount, then conversion to the order currency."""
    cents = Decimal("0.01")

    subtotal = sum((item.unit_price_usd * item.quantity for item in items), Decimal(0))
    percent_off = COUPONS.get(coupon, 0) if coupon else 0
    discount = (subtotal * percent_off / 100).quantize(cents, ROUND_HALF_UP)
    total_usd = subtotal - discount

    # Look up the USD -> order currency exchange rate.
    rate = FX_RATES[currency]
    code = currency.upper()
    minor_unit = Decimal(1).scaleb(-CURRENCY_DECIMALS.get(code, 2))
    amount = (total_usd * rate).quantize(minor_unit, ROUND_HALF_UP)
    return Charge(
        subtotal_usd=subtotal,
        discount_usd=discount,
        total_usd=total_usd,
        amount=amount,
        currency=code,
    )
