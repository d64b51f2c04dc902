"""Fast checks of the demo services and the load generator (no collector needed).

The demo is the fixture every end-to-end check relies on, so these tests pin
its contract: the error bug fires for exactly one input class, the latency bug
makes one catalog query per cart line, each fix (a patch applied to a scratch
copy) removes its bug, the seeded plan hits the bugs at a predictable rate, and a
real run (both services under `opentelemetry-instrument`, exporting to the
console) yields one server span per request, errors with exception details and
trace-correlated logs.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from demo_service import scratch
from demo_service.catalog import PRODUCTS, QUERY_SPAN
from demo_service.payments import FRAUD_CHECK_THRESHOLD_USD, fraud_check_seconds
from demo_service.pricing import FX_RATES, ChargeItem, compute_charge
from demo_service.runner import DemoError, demo_status, start_demo, stop_demo
from demo_service.shop import CheckoutRejectedError, ValidOrder, build_order, parse_checkout
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


def validate_checkout(body: Any) -> ValidOrder:
    """The shop's checks of a checkout body, against the whole catalog."""
    return build_order(parse_checkout(body), PRODUCTS)


def triggers_bug(request: PlannedRequest) -> bool:
    """Whether a planned request reaches payments and fails there (buggy pricing)."""
    if request.body is None:
        return False
    try:
        order = validate_checkout(request.body)
    except CheckoutRejectedError:
        return False
    try:
        compute_charge(order.items, order.coupon, order.currency)
    except KeyError:
        return True
    return False


def catalog_queries(request: PlannedRequest) -> int:
    """Catalog queries the shop as shipped makes for a request: one per cart line."""
    return len(request.body["items"]) if request.body else 1


def load_module(root: Path, name: str) -> ModuleType:
    """demo_service.<name> as found under root (a patched copy), without touching sys.path."""
    spec = importlib.util.spec_from_file_location(
        f"patched_{name}", root / "demo_service" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the annotations through it
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- pricing: the bug and its fix -------------------------------------------


@pytest.mark.parametrize("currency", sorted(FX_RATES))
def test_upper_case_currency_is_priced(currency: str) -> None:
    charge = compute_charge(CART, None, currency)
    assert charge.currency == currency
    assert charge.total_usd == Decimal("59.79")
    assert charge.amount == (Decimal("59.79") * FX_RATES[currency]).quantize(charge.amount)


@pytest.mark.parametrize("currency", ["usd", "eur", "gbp", "jpy", "Eur"])
def test_non_upper_case_currency_raises_key_error(currency: str) -> None:
    with pytest.raises(KeyError):
        compute_charge(CART, "SAVE10", currency)


@pytest.mark.parametrize("currency", ["usd", "eur", "gbp", "jpy", "Eur"])
def test_currency_patch_prices_any_case(currency: str, tmp_path: Path) -> None:
    pricing = load_module(scratch.fixed_copy(tmp_path, (scratch.CURRENCY_FIX,)), "pricing")
    items = [pricing.ChargeItem.model_validate(item.model_dump()) for item in CART]
    fixed = pricing.compute_charge(items, "SAVE10", currency)
    assert fixed.model_dump() == compute_charge(CART, "SAVE10", currency.upper()).model_dump()


def test_pricing_details() -> None:
    charge = compute_charge(CART, "VIP25", "JPY")
    assert charge.discount_usd == Decimal("14.95")
    assert charge.amount == charge.amount.to_integral_value()  # yen has no minor unit
    assert compute_charge(CART, None, "USD").discount_usd == 0


# --- the fixes are patches: strict, and what `git apply` makes of them --------


def test_shipped_code_has_no_fix_switch() -> None:
    for path in (ROOT / "demo_service").glob("*.py"):
        text = path.read_text()
        assert "DEMO_FIX_BUG" not in text and "fix_bug" not in text, path


@pytest.mark.parametrize("fix", scratch.FIXES, ids=lambda f: f.name)
def test_patch_applies_as_git_apply_does(fix: scratch.Fix, tmp_path: Path) -> None:
    ours = scratch.scratch_copy(tmp_path / "ours")
    changed = scratch.apply_fix(ours, fix)
    assert changed and all(ours in path.parents for path in changed)
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: nothing to compare the applier with")
    theirs = scratch.scratch_copy(tmp_path / "theirs")
    subprocess.run([git, "apply", str(fix.patch)], cwd=theirs, check=True, capture_output=True)
    for path in changed:
        relative = path.relative_to(ours)
        assert path.read_text() == (theirs / relative).read_text(), relative
        assert path.read_text() != (ROOT / relative).read_text(), f"{relative} unchanged"


def test_patch_that_no_longer_fits_changes_nothing(tmp_path: Path) -> None:
    root = scratch.scratch_copy(tmp_path)
    shop = root / "demo_service" / "shop.py"
    stale = shop.read_text().replace("# Read the cart's products", "# Fetch the cart's products")
    shop.write_text(stale)
    with pytest.raises(scratch.PatchError, match=r"shop\.py: line \d+ is .*Fetch the cart"):
        scratch.apply_fix(root, scratch.N_PLUS_ONE_FIX)
    assert shop.read_text() == stale
    with pytest.raises(scratch.PatchError, match="no file changes"):
        scratch.apply_patch(root, "just prose\n")


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


def queries_per_request(records: list[dict[str, Any]]) -> Counter[int]:
    """How many requests made how many catalog queries (server span -> its query spans)."""
    servers = {r["context"]["span_id"] for r in records if r.get("kind") == "SpanKind.SERVER"}
    queries = Counter(r["parent_id"] for r in records if r.get("name") == QUERY_SPAN)
    assert set(queries) <= servers
    return Counter(queries[span_id] for span_id in servers)


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


CONSOLE = {
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_LOGS_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "console",
}


async def test_run_against_instrumented_services(state_dir: Path) -> None:
    demo = start_demo(state_dir, "http://127.0.0.1:9", free_port(), free_port(), extra_env=CONSOLE)
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

    # The N+1: one catalog query per cart line sent, each a child of the request's span,
    # naming the line that issues it.
    assert queries_per_request(shop) == Counter(catalog_queries(r) for r in plan)
    source = (ROOT / "demo_service" / "shop.py").read_text().splitlines()
    line = next(
        n for n, text in enumerate(source, 1) if "fetch_products([item.product_id])" in text
    )
    in_checkout = [r["attributes"] for r in shop if r.get("name") == QUERY_SPAN and
                   r["attributes"]["code.function.name"] == "checkout"]  # fmt: skip
    assert in_checkout and all(
        a["code.file.path"] == "demo_service/shop.py" and a["code.line.number"] == line
        for a in in_checkout
    )
    assert max(catalog_queries(r) for r in plan) >= 3, "pick a seed with a big cart"
    assert summary.cart_lines == {
        str(n): c for n, c in sorted(Counter(len(r.body["items"]) for r in plan if r.body).items())
    }


async def test_fixed_copy_has_no_errors_and_one_catalog_query(
    state_dir: Path, tmp_path: Path
) -> None:
    root = scratch.fixed_copy(tmp_path / "src")
    demo = start_demo(
        state_dir,
        "http://127.0.0.1:9",
        free_port(),
        free_port(),
        source_root=root,
        extra_env=CONSOLE,
    )
    assert demo_status(state_dir).source_root == str(root)
    with pytest.raises(DemoError, match="already running"):
        start_demo(state_dir, "http://127.0.0.1:9", free_port(), free_port())

    summary = await run_workload(demo.shop_url, E2E_REQUESTS, 4, E2E_SEED)
    assert summary.total_requests == E2E_REQUESTS
    assert summary.errors == 0
    assert len(summary.run_id) == 8
    stop_demo(state_dir)
    assert queries_per_request(console_records(demo.shop.log_path)) == {1: E2E_REQUESTS}


def test_stop_exports_the_last_span(state_dir: Path) -> None:
    """SIGTERM ends a service through the SDK's shutdown, which flushes its queues: with a
    60 s batch delay, the only way the span reaches the log is that flush."""
    env = {**CONSOLE, "OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_METRICS_EXPORTER": "none"}
    demo = start_demo(state_dir, "http://127.0.0.1:9", free_port(), free_port(), extra_env=env)
    assert httpx.get(f"{demo.shop_url}/api/products", timeout=10).status_code == 200
    assert stop_demo(state_dir) == ["shop", "payments"]
    spans = [r for r in console_records(demo.shop.log_path) if r.get("kind") == "SpanKind.SERVER"]
    assert [s["name"] for s in spans] == ["GET /api/products"]


def test_start_demo_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DemoError, match="already in use"):
            start_demo(tmp_path, "http://127.0.0.1:9", port, free_port())
