"""Fast checks of the demo services and the load generator (no collector needed).

The demo is the fixture every end-to-end check relies on, so these tests pin
its contract: the bug fires for exactly one input class, the fix switch removes
it, the seeded plan hits it at a predictable rate, and a real run (both services
under `opentelemetry-instrument`, exporting to the console) yields one server
span per request, errors with exception details and trace-correlated logs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from demo_service.payments import FRAUD_CHECK_THRESHOLD_USD, fraud_check_seconds
from demo_service.pricing import FX_RATES, ChargeItem, compute_charge
from demo_service.runner import DemoError, demo_status, start_demo, stop_demo
from demo_service.shop import CheckoutRejectedError, validate_checkout
from loadgen import build_plan, run_workload
from loadgen.plan import CHECKOUT_ENDPOINT, ENDPOINTS, PlannedRequest
from loadgen.workload import percentile

ROOT = Path(__file__).resolve().parents[1]
CART = [
    ChargeItem(product_id=1, quantity=2, unit_price_usd=Decimal("24.90")),
    ChargeItem(product_id=3, quantity=1, unit_price_usd=Decimal("9.99")),
]
E2E_SEED = 7
E2E_REQUESTS = 50


def triggers_bug(request: PlannedRequest) -> bool:
    """Whether a planned request reaches payments and fails there (buggy pricing)."""
    if request.body is None:
        return False
    try:
        order = validate_checkout(request.body)
    except CheckoutRejectedError:
        return False
    try:
        compute_charge(order.items, order.coupon, order.currency, fix_bug=False)
    except KeyError:
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- pricing: the bug and its fix -------------------------------------------


@pytest.mark.parametrize("currency", sorted(FX_RATES))
def test_upper_case_currency_is_priced(currency: str) -> None:
    charge = compute_charge(CART, None, currency, fix_bug=False)
    assert charge.currency == currency
    assert charge.total_usd == Decimal("59.79")
    assert charge.amount == (Decimal("59.79") * FX_RATES[currency]).quantize(charge.amount)


@pytest.mark.parametrize("currency", ["usd", "eur", "gbp", "jpy", "Eur"])
def test_non_upper_case_currency_raises_key_error(currency: str) -> None:
    with pytest.raises(KeyError):
        compute_charge(CART, "SAVE10", currency, fix_bug=False)


@pytest.mark.parametrize("currency", ["usd", "eur", "gbp", "jpy", "Eur"])
def test_fix_switch_prices_any_case(currency: str) -> None:
    fixed = compute_charge(CART, "SAVE10", currency, fix_bug=True)
    assert fixed == compute_charge(CART, "SAVE10", currency.upper(), fix_bug=False)


def test_pricing_details() -> None:
    charge = compute_charge(CART, "VIP25", "JPY", fix_bug=False)
    assert charge.discount_usd == Decimal("14.95")
    assert charge.amount == charge.amount.to_integral_value()  # yen has no minor unit
    assert compute_charge(CART, None, "USD").discount_usd == 0


def _fix_flag(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DEMO_FIX_BUG"}
    if env_value is not None:
        env["DEMO_FIX_BUG"] = env_value
    code = "import demo_service.pricing as p; print(p.FIX_BUG)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_fix_switch_is_read_from_environment() -> None:
    assert _fix_flag("1") == "True"
    assert _fix_flag(None) == "False"
    assert _fix_flag("0") == "False"


def test_shop_validation_forwards_currency_as_sent() -> None:
    order = validate_checkout({"items": [{"product_id": 2, "quantity": 1}], "currency": "gbp"})
    assert order.currency == "gbp"
    assert validate_checkout({"items": [{"product_id": 2, "quantity": 1}]}).currency == "USD"
    for body, status in [
        ({"items": []}, 400),
        ({"items": [{"product_id": 999, "quantity": 1}]}, 404),
        ({"items": [{"product_id": 1, "quantity": 0}]}, 400),
        ({"items": [{"product_id": 1, "quantity": 1}], "coupon": "SPRING50"}, 400),
        ({"items": [{"product_id": 1, "quantity": 1}], "currency": "CHF"}, 400),
        ({"nope": 1, "items": "x"}, 400),
    ]:
        with pytest.raises(CheckoutRejectedError) as info:
            validate_checkout(body)
        assert info.value.status_code == status


def test_fraud_check_is_the_slow_path() -> None:
    assert fraud_check_seconds(FRAUD_CHECK_THRESHOLD_USD - Decimal("0.01")) == 0
    for cents in range(0, 100_000, 997):
        delay = fraud_check_seconds(FRAUD_CHECK_THRESHOLD_USD + Decimal(cents) / 100)
        assert 0.3 <= delay < 0.8


# --- load generator plan ------------------------------------------------------


def test_plan_is_deterministic_per_seed() -> None:
    assert build_plan(300, seed=5) == build_plan(300, seed=5)
    assert build_plan(300, seed=5) != build_plan(300, seed=6)
    assert [r.index for r in build_plan(300, seed=5)] == list(range(300))


@pytest.mark.parametrize("seed", [1, 2, 3, 42, 1234])
def test_plan_bug_rate_and_mix(seed: int) -> None:
    plan = build_plan(1000, seed)
    rate = sum(triggers_bug(r) for r in plan) / len(plan)
    assert 0.05 <= rate <= 0.20
    checkouts = sum(r.endpoint == CHECKOUT_ENDPOINT for r in plan) / len(plan)
    assert 0.4 <= checkouts <= 0.6
    assert {r.endpoint for r in plan} == set(ENDPOINTS)
    assert all(r.method == r.endpoint.split()[0] for r in plan)


def test_percentile_interpolates() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([], 95) == 0.0


# --- a real run: both services under opentelemetry-instrument -----------------


def console_records(log_path: Path) -> list[dict[str, Any]]:
    """The JSON objects the console exporters printed (indented, one per span/log/batch)."""
    records: list[dict[str, Any]] = []
    block: list[str] | None = None
    for line in log_path.read_text().splitlines():
        if block is None:
            if line == "{":
                block = [line]
        else:
            block.append(line)
            if line == "}":
                records.append(json.loads("\n".join(block)))
                block = None
    return records


def metric_names(records: list[dict[str, Any]]) -> set[str]:
    return {
        metric["name"]
        for rec in records
        for rm in rec.get("resource_metrics", [])
        for sm in rm["scope_metrics"]
        for metric in sm["metrics"]
    }


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    stop_demo(tmp_path)


async def test_run_against_instrumented_services(state_dir: Path) -> None:
    console = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
    }
    demo = start_demo(state_dir, "http://127.0.0.1:9", free_port(), free_port(), extra_env=console)
    status = demo_status(state_dir)
    assert status.running and status.healthy

    plan = build_plan(E2E_REQUESTS, E2E_SEED)
    expected_bugs = sum(triggers_bug(r) for r in plan)
    assert expected_bugs > 0, "pick a seed whose plan exercises the bug"

    summary = await run_workload(demo.shop_url, E2E_REQUESTS, 4, E2E_SEED, run_id="unit-run")
    assert summary.run_id == "unit-run"
    assert summary.total_requests == E2E_REQUESTS == sum(summary.status_counts.values())
    assert sum(e.requests for e in summary.endpoints.values()) == E2E_REQUESTS
    assert sum(e.errors for e in summary.endpoints.values()) == summary.errors
    assert summary.transport_errors == 0
    assert summary.status_counts.get("500", 0) == expected_bugs == summary.errors
    assert summary.endpoints[CHECKOUT_ENDPOINT].errors == expected_bugs
    assert summary.error_rate == pytest.approx(expected_bugs / E2E_REQUESTS)
    assert summary.latency.p50_ms <= summary.latency.p95_ms <= summary.latency.p99_ms

    assert stop_demo(state_dir) == ["shop", "payments"]  # SIGTERM flushes the exporters
    assert not demo_status(state_dir).running

    shop = console_records(demo.shop.log_path)
    payments = console_records(demo.payments.log_path)
    shop_server = [r for r in shop if r.get("kind") == "SpanKind.SERVER"]
    pay_server = [r for r in payments if r.get("kind") == "SpanKind.SERVER"]

    # One server span per client request (health probes excluded), all tagged with the run.
    assert len(shop_server) == E2E_REQUESTS
    assert {s["attributes"].get("run.id") for s in shop_server + pay_server} == {"unit-run"}
    assert {s["name"] for s in shop_server} == set(summary.endpoints)

    shop_errors = [s for s in shop_server if s["status"]["status_code"] == "ERROR"]
    pay_errors = [s for s in pay_server if s["status"]["status_code"] == "ERROR"]
    assert len(shop_errors) == len(pay_errors) == expected_bugs
    for span in pay_errors:
        (event,) = [e for e in span["events"] if e["name"] == "exception"]
        assert event["attributes"]["exception.type"] == "KeyError"
        assert "FX_RATES[currency]" in event["attributes"]["exception.stacktrace"]
    # Payments spans are children of shop's outgoing call: the trace crosses processes.
    assert {s["context"]["trace_id"] for s in pay_errors} == {
        s["context"]["trace_id"] for s in shop_errors
    }

    # ERROR logs carry the trace and span of the failing server span.
    pay_error_logs = [r for r in payments if r.get("severity_text") == "ERROR"]
    assert len(pay_error_logs) == expected_bugs
    assert {(r["trace_id"], r["span_id"]) for r in pay_error_logs} == {
        (s["context"]["trace_id"], s["context"]["span_id"]) for s in pay_errors
    }
    assert all(r["attributes"]["exception.type"] == "KeyError" for r in pay_error_logs)
    shop_error_logs = [r for r in shop if r.get("severity_text") == "ERROR"]
    assert {r["trace_id"] for r in shop_error_logs} == {
        s["context"]["trace_id"] for s in shop_errors
    }

    assert {"orders.processed", "order.latency"} <= metric_names(shop)
    assert "payments.charged" in metric_names(payments)


async def test_fix_switch_removes_the_errors(state_dir: Path) -> None:
    exporters = ("OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_METRICS_EXPORTER")
    none = dict.fromkeys(exporters, "none")
    demo = start_demo(
        state_dir, "http://127.0.0.1:9", free_port(), free_port(), fix_bug=True, extra_env=none
    )
    assert demo_status(state_dir).fix_bug is True
    with pytest.raises(DemoError, match="already running"):
        start_demo(state_dir, "http://127.0.0.1:9", free_port(), free_port())

    summary = await run_workload(demo.shop_url, E2E_REQUESTS, 4, E2E_SEED)
    assert summary.total_requests == E2E_REQUESTS
    assert summary.errors == 0
    assert len(summary.run_id) == 8


def test_start_demo_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DemoError, match="already in use"):
            start_demo(tmp_path, "http://127.0.0.1:9", port, free_port())
