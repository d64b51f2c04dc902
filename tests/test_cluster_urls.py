"""Cluster URL layouts and tenant settings, checked against upstream's own examples.

Sources (quoted below):
- VM: VictoriaMetrics docs/victoriametrics/url-examples.md (`/api/v1/query`,
  `/opentelemetry/v1/metrics` sections) and Cluster-VictoriaMetrics.md#url-format.
- VL: VictoriaLogs v1.52.2 docs/victorialogs/cluster.md ("Quick start") and
  data-ingestion/opentelemetry.md.
- VT: docs.victoriametrics.com/operator/resources/vtcluster ("Services and URLs") and
  victoriatraces/querying ("Jaeger HTTP API").
"""

from __future__ import annotations

import pytest

from obs_mcp.clients.base import unavailable_nodes
from obs_mcp.config import Settings
from obs_mcp.core.tenants import metrics_tenant_note
from obs_mcp.errors import InvalidArgument
from obs_mcp.tenancy import (
    Tenant,
    logs_insert_url,
    logs_select,
    metrics_insert_url,
    metrics_select,
    traces_insert_url,
    traces_select,
)

VMSELECT, VMINSERT = "http://<vmselect>:8481", "http://<vminsert>:8480"


def test_victoriametrics_select_paths_match_the_docs() -> None:
    base, headers = metrics_select(VMSELECT, Tenant(0))
    assert headers == {}  # the path carries the tenant
    # url-examples.md: curl 'http://<vmselect>:8481/select/0/prometheus/api/v1/query'
    assert f"{base}/api/v1/query" == "http://<vmselect>:8481/select/0/prometheus/api/v1/query"
    # url-examples.md: .../select/0/prometheus/api/v1/label/job/values
    assert f"{base}/api/v1/label/job/values" == (
        "http://<vmselect>:8481/select/0/prometheus/api/v1/label/job/values"
    )
    # Cluster-VictoriaMetrics.md: "It is possible to set it as accountID:projectID"
    assert metrics_select(VMSELECT, Tenant(42, 3))[0] == f"{VMSELECT}/select/42:3/prometheus"
    assert metrics_select("http://127.0.0.1:8428/", None) == ("http://127.0.0.1:8428", {})


def test_victoriametrics_insert_paths_match_the_docs() -> None:
    # url-examples.md: metrics_endpoint: http://<vminsert>:8480/insert/0/opentelemetry/v1/metrics
    assert metrics_insert_url(VMINSERT, Tenant(0)) == (
        "http://<vminsert>:8480/insert/0/opentelemetry/v1/metrics"
    )
    # url-examples.md: metrics_endpoint: http://<vmsingle>:8428/opentelemetry/v1/metrics
    assert metrics_insert_url("http://<vmsingle>:8428", None) == (
        "http://<vmsingle>:8428/opentelemetry/v1/metrics"
    )
    assert metrics_insert_url(VMINSERT, Tenant(5, 1)).endswith(
        "/insert/5:1/opentelemetry/v1/metrics"
    )


def test_victorialogs_and_victoriatraces_paths_match_the_docs() -> None:
    # cluster.md quick start: curl http://localhost:9471/select/logsql/query (vlselect);
    # README#multitenancy: the tenant is the AccountID / ProjectID request headers
    base, headers = logs_select("http://localhost:9471/", Tenant(7, 2))
    assert f"{base}/select/logsql/query" == "http://localhost:9471/select/logsql/query"
    assert headers == {"AccountID": "7", "ProjectID": "2"}
    assert logs_select("http://localhost:9428", None) == ("http://localhost:9428", {})
    # data-ingestion/opentelemetry.md: logs_endpoint: http://localhost:9428/insert/opentelemetry/v1/logs
    assert logs_insert_url("http://localhost:9428/") == (
        "http://localhost:9428/insert/opentelemetry/v1/logs"
    )
    # vtcluster: http://vtinsert-<name>.<namespace>.svc:10481/insert/opentelemetry/v1/traces
    vtinsert = "http://vtinsert-<name>.<namespace>.svc:10481"
    assert traces_insert_url(vtinsert) == f"{vtinsert}/insert/opentelemetry/v1/traces"
    # vtcluster: Query API http://vtselect-<name>.<namespace>.svc:10471/select/... ;
    # querying: /select/jaeger/api/traces/{trace_id}, /select/logsql/query
    vtselect = "http://vtselect-<name>.<namespace>.svc:10471"
    base, headers = traces_select(vtselect, Tenant(3))
    assert f"{base}/select/jaeger/api/traces/abc" == f"{vtselect}/select/jaeger/api/traces/abc"
    assert f"{base}/select/logsql/query" == f"{vtselect}/select/logsql/query"
    assert headers == {"AccountID": "3", "ProjectID": "0"}


def test_one_setting_per_store_puts_the_tenant_where_its_cluster_wants_it() -> None:
    settings = Settings.from_env(
        {
            "VM_URL": "http://vmselect:8481",
            "VM_ACCOUNT_ID": "7",
            "VM_PROJECT_ID": "2",
            "VL_URL": "http://vlselect:9471",
            "VL_ACCOUNT_ID": "7",
            "VT_URL": "http://vtselect:10471",
            "VT_ACCOUNT_ID": "7",
            "VT_PROJECT_ID": "2",
        }
    )
    assert settings.metrics.url == "http://vmselect:8481/select/7:2/prometheus"
    assert "AccountID" not in settings.metrics.request_headers()  # the path carries it
    assert settings.logs.url == "http://vlselect:9471"
    assert settings.logs.request_headers() == {"AccountID": "7", "ProjectID": "0"}
    assert settings.traces.request_headers() == {"AccountID": "7", "ProjectID": "2"}
    # a vmselect URL that already carries the tenant path is used as it is
    given = Settings.from_env({"VM_URL": "http://vmselect:8481/select/3/prometheus"})
    assert given.metrics.url == "http://vmselect:8481/select/3/prometheus"


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"VL_ACCOUNT_ID": "abc"}, "VictoriaLogs: VL_ACCOUNT_ID='abc' is not a tenant id"),
        ({"VT_PROJECT_ID": "4294967296"}, "VT_PROJECT_ID='4294967296' is not a tenant id"),
        (
            {"VM_URL": "http://vmselect:8481/select/3/prometheus", "VM_ACCOUNT_ID": "3"},
            "already names a tenant path; set VM_ACCOUNT_ID/VM_PROJECT_ID or the path",
        ),
    ],
)
def test_a_misconfigured_tenant_is_a_sentence(env: dict[str, str], sentence: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        Settings.from_env(env)
    assert sentence in str(raised.value)


def test_storage_nodes_are_read_from_a_select_nodes_502() -> None:
    # the body vlselect v1.52.2 answers with one of its storage nodes stopped (seen here)
    body = (
        'cannot execute query [* | stats count(*) as "count(*)"]: cannot connect to storage '
        'node at "http://127.0.0.1:19492/internal/select/query": Post '
        '"http://127.0.0.1:19492/internal/select/query": dial tcp4 127.0.0.1:19492: connect: '
        "connection refused"
    )
    assert unavailable_nodes(body) == ["127.0.0.1:19492"]
    assert unavailable_nodes("unexpected response status code from a node: 400") == []


@pytest.mark.parametrize(
    ("env", "tenant"),
    [
        ({"VM_URL": "http://u:secret@vmselect:8481/select/7:3/prometheus"}, "7:3"),
        ({"VM_URL": "http://vmselect:8481", "VM_ACCOUNT_ID": "7"}, "7"),
        ({"VM_URL": "http://127.0.0.1:8428"}, None),  # a single node: no tenant to name
    ],
)
def test_an_empty_metrics_answer_names_the_vm_tenant(
    env: dict[str, str], tenant: str | None
) -> None:
    """vmselect answers a tenant without data with no series: the hint says which was asked."""
    config = Settings.from_env(env).metrics
    note = metrics_tenant_note(config)
    if tenant is None:
        assert note is None
        return
    assert note is not None
    assert f"asked as tenant {tenant} (VM_URL=" in note, note
    assert "VM_ACCOUNT_ID/VM_PROJECT_ID" in note and "secret" not in note, note
