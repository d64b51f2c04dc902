"""Clustered, multi-tenant stores for tests: real VictoriaLogs clusters, one collector.

A VictoriaLogs cluster here is the stack's own v1.52.2 binary in three roles
(docs/victorialogs/cluster.md of VictoriaLogs v1.52.2, "Quick start"): 2 storage nodes
(plain `-storageDataPath`), a vlinsert (`-storageNode=... -select.disable`) and a vlselect
(`-storageNode=... -insert.disable`). Spans get a second such cluster behind vt-compat
(inserting through vlinsert, selecting through vlselect). Metrics have no cluster binary
here: each project gets its own single-node VictoriaMetrics. The collector config is the
stack's own, fanned out per project (tests/cluster_collector.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import yaml

from obs_mcp.stack import procs
from obs_mcp.stack.components import (
    COLLECTOR,
    VICTORIALOGS,
    VICTORIAMETRICS,
    Component,
    resolve_binary,
)
from obs_mcp.tenancy import Tenant
from tests.cluster_collector import TenantRoute, tenant_collector_config

HOST = "127.0.0.1"
FLUSH = "-inmemoryDataFlushInterval=1s"
START_TIMEOUT_S = 120.0  # a deadline, not a wait: a loaded 2-core machine starts Python slowly


def _binary(component: Component) -> str:
    resolved = resolve_binary(component)
    assert resolved is not None, f"{component.title} binary missing: `obs-mcp stack install`"
    return str(resolved.path)


@dataclass
class Node:
    """One process on a loopback port; stop() and start() keep its argv, data and log."""

    name: str
    argv: list[str]
    port: int
    log: Path
    health_path: str = "/health"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=procs.die_with_parent,
                close_fds=True,
            )

    def healthy(self) -> bool:
        try:
            return httpx2.get(self.url + self.health_path, timeout=1.0).status_code == 200
        except httpx2.HTTPError:
            return False

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.healthy():
            assert self.proc is not None and self.proc.poll() is None, (
                f"{self.name} exited: {procs.tail(self.log, 20)}"
            )
            assert time.monotonic() < deadline, f"{self.name} not healthy: {procs.tail(self.log)}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _start_all(nodes: list[Node]) -> None:
    for node in nodes:
        node.start()
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(lambda n: n.wait_healthy(), nodes))


@dataclass
class VLCluster:
    name: str
    storage: list[Node]
    insert: Node
    select: Node

    @property
    def nodes(self) -> list[Node]:
        return [*self.storage, self.insert, self.select]


def vl_cluster(root: Path, name: str, storage_nodes: int = 2) -> VLCluster:
    """The nodes of one VictoriaLogs cluster (not started), data and logs under root."""
    binary = _binary(VICTORIALOGS)
    storage = []
    for index in range(1, storage_nodes + 1):
        port = procs.free_port(HOST)
        data = root / f"{name}-storage-{index}"
        argv = [binary, f"-httpListenAddr={HOST}:{port}", f"-storageDataPath={data}", FLUSH]
        storage.append(Node(f"{name} storage {index}", argv, port, root / f"{data.name}.log"))
    nodes_flag = "-storageNode=" + ",".join(node.address for node in storage)

    def frontend(role: str, disable: str) -> Node:
        port = procs.free_port(HOST)
        argv = [binary, f"-httpListenAddr={HOST}:{port}", nodes_flag, disable]
        return Node(f"{name} {role}", argv, port, root / f"{name}-{role}.log")

    return VLCluster(name, storage, frontend("vlinsert", "-select.disable"),
                     frontend("vlselect", "-insert.disable"))  # fmt: skip


@dataclass
class Project:
    """One tenant's entry point (its own OTLP receiver) and where its metrics live."""

    tenant: Tenant
    otlp_http_port: int
    metrics: Node

    @property
    def otlp_http_url(self) -> str:
        return f"http://{HOST}:{self.otlp_http_port}"


@dataclass
class ClusterStack:
    root: Path
    logs: VLCluster
    spans: VLCluster
    adapter: Node  # vt-compat in front of the span cluster
    collector: Node
    projects: list[Project]
    started_in_s: float = 0.0
    nodes: list[Node] = field(default_factory=list)

    def store_env(self, project: Project) -> dict[str, str]:
        """What a user of this tenant sets: select URLs plus the tenant settings."""
        tenant = project.tenant
        env = {
            "VL_URL": self.logs.select.url,
            "VT_URL": self.adapter.url,
            "VM_URL": project.metrics.url,
            "OBS_MCP_COLLECTOR_METRICS_URL": self.collector.url + "/metrics",
        }
        for prefix in ("VL", "VT"):
            env[f"{prefix}_ACCOUNT_ID"] = str(tenant.account_id)
            env[f"{prefix}_PROJECT_ID"] = str(tenant.project_id)
        return env

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


@contextmanager
def cluster_stack(tenants: list[Tenant]) -> Iterator[ClusterStack]:
    """Start everything (stores and vt-compat, then the collector); always stopped."""
    root = Path(tempfile.mkdtemp(prefix="obs-mcp-test-cluster-"))
    began = time.monotonic()
    logs, spans = vl_cluster(root, "logs"), vl_cluster(root, "spans")
    vm = _binary(VICTORIAMETRICS)
    projects = []
    for tenant in tenants:
        port = procs.free_port(HOST)
        data = root / f"vm-{tenant.account_id}-{tenant.project_id}"
        argv = [vm, f"-httpListenAddr={HOST}:{port}", f"-storageDataPath={data}",
                "-opentelemetry.usePrometheusNaming=true", "-search.latencyOffset=1s"]  # fmt: skip
        metrics = Node(f"metrics {tenant}", argv, port, root / f"{data.name}.log")
        projects.append(Project(tenant, procs.free_port(HOST), metrics))
    adapter_port = procs.free_port(HOST)
    adapter = Node(
        "vt-compat",
        [sys.executable, "-m", "obs_mcp.stack.vtcompat", f"--listen={HOST}:{adapter_port}",
         f"--backend={spans.select.url}", f"--insert-backend={spans.insert.url}"],
        adapter_port,
        root / "vt-compat.log",
    )  # fmt: skip
    collector_metrics = procs.free_port(HOST)
    routes = [
        TenantRoute(p.tenant, f"{HOST}:{p.otlp_http_port}", f"{HOST}:{procs.free_port(HOST)}",
                    p.metrics.url)
        for p in projects
    ]  # fmt: skip
    config = tenant_collector_config(routes, logs.insert.url, adapter.url, HOST, collector_metrics)
    config_path = root / "collector.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    collector = Node(
        "collector",
        [_binary(COLLECTOR), f"--config={config_path}"],
        collector_metrics,
        root / "collector.log",
        health_path="/metrics",
    )
    stack = ClusterStack(root, logs, spans, adapter, collector, projects)
    # Frontends and vt-compat reach their backends per request: all start together (the
    # adapter's Python start-up is the longest part); the collector once they answer.
    waves = [[*logs.nodes, *spans.nodes, *(p.metrics for p in projects), adapter], [collector]]
    try:
        for wave in waves:
            stack.nodes += wave
            _start_all(wave)
        stack.started_in_s = time.monotonic() - began
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
