"""The tools on clustered, multi-tenant stores (issue 15): real VictoriaLogs clusters (2
storage nodes + vlinsert + vlselect, for logs and, behind vt-compat, for spans), written by
the collector with the tenant headers of two projects that use the same service names.

Every expected figure comes from the emission plan (PLAN), never from the stores.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from obs_mcp.clients import LogsClient
from obs_mcp.config import Settings
from obs_mcp.core.tenants import tenant_hint
from obs_mcp.stack.runner import Stack
from obs_mcp.tenancy import Tenant
from obs_mcp.timeparse import resolve_window
from tests.answers import call, ok, text_of
from tests.cluster import ClusterStack, Node, Project, cluster_stack
from tests.known_telemetry import (
    Shop,
    Small,
    emit_shop,
    emit_small,
    logsql_count,
    wait_for_count,
    wait_for_shop,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.vtcompat]

TENANTS = [Tenant(7, 1), Tenant(7, 2)]
# (requests, errors) per service role and tenant; both tenants use the same service names.
PLAN = {
    TENANTS[0]: {"front": (10, 3), "back": (4, 1)},
    TENANTS[1]: {"front": (7, 1), "back": (5, 2)},
}
SVC = '"resource_attr:service.name"'


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterStack]:
    with cluster_stack(TENANTS) as stack:
        print(
            f"\ncluster stack ({len(stack.nodes)} processes) healthy in {stack.started_in_s:.2f}s"
        )
        yield stack


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The server reads its settings at lifespan start: this tenant's for the next calls."""
    for key in ("VL_ACCOUNT_ID", "VL_PROJECT_ID", "VT_ACCOUNT_ID", "VT_PROJECT_ID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def project(cluster: ClusterStack, tenant: Tenant) -> Project:
    return next(p for p in cluster.projects if p.tenant == tenant)


@dataclass
class Emitted:
    names: dict[str, str]  # role -> service name (the same in both tenants)
    by_tenant: dict[Tenant, dict[str, Small]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def emitted(cluster: ClusterStack) -> Emitted:
    run = uuid.uuid4().hex[:8]
    out = Emitted({role: f"{role}-{run}" for role in ("front", "back")})
    for tenant, services in PLAN.items():
        url = project(cluster, tenant).otlp_http_url
        out.by_tenant[tenant] = {
            role: emit_small(url, total, errors, service=out.names[role])
            for role, (total, errors) in services.items()
        }
    for tenant, services in PLAN.items():
        headers = tenant.headers()
        for role, (total, errors) in services.items():
            name = out.names[role]
            wait_for_count(cluster.adapter.url, f'{SVC}:="{name}"', total, headers=headers)
            wait_for_count(cluster.logs.select.url, f'"service.name":="{name}"', errors,
                           headers=headers)  # fmt: skip
    return out


def nearest_rank_ms(total: int, q: float) -> float:
    """emit_small's request i lasts i+1 ms: the nearest-rank quantile is ceil(q*n) ms."""
    return float(math.ceil(q * total))


# ---- tenants end to end ------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", TENANTS, ids=str)
async def test_each_tenant_sees_exactly_its_own_data(
    cluster: ClusterStack, emitted: Emitted, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, cluster.store_env(project(cluster, tenant)))
    mine, other = PLAN[tenant], PLAN[next(t for t in TENANTS if t != tenant)]
    front = emitted.names["front"]

    services = await ok("list_services", {"since": "15m"})
    seen = {s["service"]: (s["spans"], s["logs"]) for s in services["services"]}
    assert seen == {emitted.names[r]: plan for r, plan in mine.items()}, (seen, mine, other)

    for role, (total, errors) in mine.items():
        name = emitted.names[role]
        rate = await ok("error_rate", {"service": name, "since": "15m"})
        assert (rate["total"], rate["errors"]) == (total, errors), rate
        assert rate["p50_ms"] == nearest_rank_ms(total, 0.5)
        assert rate["p99_ms"] == nearest_rank_ms(total, 0.99)
        failing = await ok("search_traces", {"service": name, "errors_only": True})
        assert failing["returned"] == errors, failing
        logs = await ok("query_logs", {"service": name, "since": "15m"})
        assert logs["returned"] == errors, logs
        incidents = await ok("top_errors", {"service": name, "since": "15m"})
        assert sum(sig["count"] for sig in incidents["signatures"]) == errors, incidents
        fields = await ok("list_fields", {"service": name, "since": "15m"})
        assert (fields["spans"]["rows"], fields["logs"]["rows"]) == (total, errors), fields
        overview = await ok("service_overview", {"service": name, "since": "15m"})
        assert (overview["red"]["requests"], overview["red"]["errors"]) == (total, errors)
        landed = await ok(
            "wait_for_data", {"service": name, "min_requests": total, "since": "15m", "timeout": 5}
        )
        assert landed["arrived"] and landed["requests"] == total, landed

    own_trace = emitted.by_tenant[tenant]["front"].error_trace_id
    other_tenant = next(t for t in TENANTS if t != tenant)
    foreign_trace = emitted.by_tenant[other_tenant]["front"].error_trace_id
    own = await ok("correlate_trace", {"trace_id": own_trace, "since": "1h"})
    assert own["found"] and own["span_count"] == 1 and own["services"] == [front], own
    foreign = await ok("correlate_trace", {"trace_id": foreign_trace, "since": "1h"})
    assert not foreign["found"] and foreign["span_count"] == 0, foreign


async def test_a_tenant_without_data_says_which_tenants_have_it(
    cluster: ClusterStack, emitted: Emitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cluster.store_env(project(cluster, TENANTS[0]))
    env |= {"VL_PROJECT_ID": "9", "VT_PROJECT_ID": "9"}  # a project nobody writes to
    use(monkeypatch, env)
    services = await ok("list_services", {"since": "15m"})
    assert services["services"] == []
    hint = services["hint"]
    for store in ("VictoriaLogs", "VictoriaTraces"):
        assert f"{store} holds no data for tenant 7:9" in hint, hint
    assert "tenants with data then: 7:1, 7:2" in hint and "VL_ACCOUNT_ID/VL_PROJECT_ID" in hint
    rate = await ok("error_rate", {"service": emitted.names["front"], "since": "15m"})
    assert rate["total"] == 0 and "tenant 7:9 (VT_ACCOUNT_ID/VT_PROJECT_ID)" in rate["hint"]
    logs = await ok("query_logs", {"since": "15m"})
    assert logs["returned"] == 0 and "tenants with data then: 7:1, 7:2" in logs["hint"], logs


async def test_a_store_that_hides_its_tenants_still_names_the_tenant_used(
    cluster: ClusterStack, emitted: Emitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a frontend that refuses /select/tenant_ids (vlinsert refuses every select,
    as a vmauth that blocks the endpoint would), the hint names the tenant and its settings."""
    env = cluster.store_env(project(cluster, TENANTS[0])) | {"VL_PROJECT_ID": "9"}
    use(monkeypatch, env)
    logs = await ok("query_logs", {"since": "15m"})
    assert logs["returned"] == 0
    assert "tenants with data then: 7:1, 7:2" in logs["hint"]  # vlselect answers: listed
    # a store that refuses the endpoint: the same question through a refusing frontend
    settings = Settings.from_env({**env, "VL_URL": cluster.logs.insert.url})
    client = LogsClient(settings.logs, 5, 1 << 20)
    try:
        hint = await tenant_hint(client, resolve_window("15m", None, None, default_since="15m"))
    finally:
        await client.aclose()
    assert hint == (
        "VictoriaLogs was asked as tenant 7:9 (VL_ACCOUNT_ID/VL_PROJECT_ID); if the data was "
        "written under another tenant, set those to it."
    )


# ---- a storage node down, under load -----------------------------------------------------------

LOAD_SERVICES = 8  # streams are sharded by hash: enough of them put rows on both nodes
PARTIAL_TOOLS = ("list_services", "query_logs", "search_traces")
EXACT_TOOLS = (
    "error_rate", "top_errors", "list_fields", "service_overview", "correlate_trace",
    "compare_runs",
)  # fmt: skip


class Load:
    """Emits a request (1 span + 1 ERROR log) per service every few ms until stopped."""

    def __init__(self, url: str, run: str) -> None:
        self.url, self.run = url, run
        self.sent: dict[str, int] = {}
        self.trace_ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def service(self, index: int) -> str:
        return f"load{index}-{self.run}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            for index in range(LOAD_SERVICES):
                small = emit_small(self.url, total=1, errors=1, service=self.service(index))
                self.sent[small.service] = self.sent.get(small.service, 0) + 1
                self.trace_ids.append(small.error_trace_id)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def rows_on(node: Node, tenant: Tenant, query: str) -> int:
    """A storage node is a single-node VictoriaLogs: ask it directly what it holds."""
    return logsql_count(node.url, query, tenant.headers())


async def test_storage_node_down_under_load(
    cluster: ClusterStack, emitted: Emitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = TENANTS[0]
    use(monkeypatch, cluster.store_env(project(cluster, tenant)))
    load_query = f'{SVC}:~"^load"'
    with Load(project(cluster, tenant).otlp_http_url, uuid.uuid4().hex[:8]) as load:
        # both storage nodes of both clusters hold load rows before one goes
        for store in (cluster.spans, cluster.logs):
            query = load_query if store is cluster.spans else '"service.name":~"^load"'
            for node in store.storage:
                wait_for(lambda n=node, q=query: rows_on(n, tenant, q) > 0, timeout=30)
        down = [cluster.logs.storage[1], cluster.spans.storage[1]]
        for node in down:
            node.stop()
        names = {node.address for node in down}
        try:
            await _check_tools_with_node_down(load, names)
        finally:
            for node in down:
                node.start()
            for node in down:
                node.wait_healthy()
    # Nothing the collector delivered while the node was down is lost: vlinsert wrote it to
    # the remaining node (VictoriaLogs cluster docs, "High availability").
    for service, sent in load.sent.items():
        wait_for_count(cluster.adapter.url, f'{SVC}:="{service}"', sent, headers=tenant.headers())
        wait_for_count(cluster.logs.select.url, f'"service.name":="{service}"', sent,
                       headers=tenant.headers())  # fmt: skip
        rate = await ok("error_rate", {"service": service, "since": "15m"})
        assert (rate["total"], rate["errors"]) == (sent, sent), rate


async def _check_tools_with_node_down(load: Load, down: set[str]) -> None:
    wait_for(lambda: all(load.sent.get(load.service(i)) for i in range(LOAD_SERVICES)), 30)
    service = load.service(0)
    args: dict[str, dict[str, Any]] = {
        "list_services": {"since": "15m"},
        "query_logs": {"query": "*", "since": "15m", "limit": 5},
        "search_traces": {"service": service, "since": "15m", "limit": 5},
        "error_rate": {"service": service, "since": "15m"},
        "top_errors": {"service": service, "since": "15m"},
        "list_fields": {"service": service, "since": "15m"},
        "service_overview": {"service": service, "since": "15m"},
        "correlate_trace": {"trace_id": load.trace_ids[0], "since": "1h"},
        "compare_runs": {
            "service": service,
            "baseline_start": f"{time.time() - 900:.0f}",
            "baseline_end": f"{time.time() - 600:.0f}",
        },
    }
    for tool in PARTIAL_TOOLS:
        answer = await ok(tool, args[tool])
        warned = [w for w in answer["warnings"] if w.startswith("partial:")]
        assert warned and any(node in warned[0] for node in down), (tool, answer["warnings"])
    for tool in EXACT_TOOLS:
        result = await call(tool, args[tool])
        text = text_of(result)
        assert result.is_error, (tool, text[:500])
        assert "unavailable" in text and any(node in text for node in down), (tool, text)
    # wait_for_data keeps polling (the node may come back); at its timeout it says why not
    waited = await ok("wait_for_data", {"service": service, "min_requests": 10**6, "timeout": 2})
    assert not waited["arrived"], waited
    assert any(node in w for w in waited["warnings"] for node in down), waited
    health = await ok("stack_health", {})  # every /health is 200: the queries tell
    assert not health["ok"], health
    failing = [h for h in health["hints"] if "is up but cannot answer queries" in h]
    assert {"VictoriaLogs", "VictoriaTraces"} == {h.split()[0] for h in failing}, health
    assert all(any(node in h for node in down) for h in failing), failing
    assert not any(h.startswith(("no spans", "no logs")) for h in health["hints"]), health


# ---- single node vs cluster: the same telemetry, the same figures ------------------------------


async def test_single_node_and_cluster_give_equal_figures(
    cluster: ClusterStack, native_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:10]
    target = project(cluster, TENANTS[1])
    shops: list[Shop] = []
    for url in (native_stack.settings.otlp_http_url, target.otlp_http_url):
        shop, front, back = emit_shop(url, run_id=run)
        front.shutdown()
        back.shutdown()
        shops.append(shop)
    s = native_stack.settings
    wait_for_shop(shops[0], s.vl_url, s.vt_url, s.vm_url)
    wait_for_shop(shops[1], cluster.logs.select.url, cluster.adapter.url, target.metrics.url,
                  headers=TENANTS[1].headers())  # fmt: skip
    end = time.time() + 1
    window = {"start": f"{end - 900:.0f}", "end": f"{end:.0f}"}
    shop = shops[0]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("error_rate", {"service": shop.front, **window}),
        ("error_rate", {"service": shop.back, **window}),
        ("top_errors", {"service": shop.back, **window}),
        ("list_fields", {"service": shop.front, **window}),
        ("search_traces", {"service": shop.front, "errors_only": True, "limit": 50, **window}),
        ("query_logs", {"service": shop.front, "limit": 500, **window}),
        ("query_metrics", {"query": f'sum(orders_processed_total{{service_name="{shop.front}"}})'}),
    ]
    envs = {"single node": native_stack.settings.store_env(), "cluster": cluster.store_env(target)}
    answers: dict[str, list[dict[str, Any]]] = {}
    for label, env in envs.items():
        use(monkeypatch, env)
        answers[label] = [comparable(tool, await ok(tool, args)) for tool, args in calls]
    single, clustered = answers["single node"], answers["cluster"]
    for (tool, _args), one, other in zip(calls, single, clustered, strict=True):
        assert one == other, (tool, one, other)
    rate = single[0]
    print(
        f"\nsingle node == cluster: {shop.front} total {rate['total']}, errors {rate['errors']}, "
        f"error_rate {rate['error_rate']}, p50/p95/p99 {rate['p50_ms']}/{rate['p95_ms']}/"
        f"{rate['p99_ms']} ms; {shop.back} errors {single[1]['errors']}; "
        f"top_errors count {sum(sg['count'] for sg in single[2]['signatures'])}; "
        f"traces {single[4]['returned']}; logs {single[5]['returned']}; "
        f"orders_processed {single[6]['series'][0]['value']}"
    )
    assert (rate["total"], rate["errors"]) == (shop.total, shop.errors)
    assert single[6]["series"][0]["value"] == shop.orders_processed


# Each emission has its own random trace/span ids and wall-clock times; every figure, row
# and order is compared, only these identities are not.
IDENTITIES = {"trace_id", "sample_trace_id", "span_id", "time", "start_time", "first_seen",
              "last_seen", "links"}  # fmt: skip


def comparable(tool: str, answer: Any) -> Any:
    """The answer without per-emission identities (ids, timestamps, each stack's links)."""
    if isinstance(answer, dict):
        return {k: comparable(tool, v) for k, v in answer.items() if k not in IDENTITIES}
    if isinstance(answer, list):
        return [comparable(tool, item) for item in answer]
    return answer
