"""Seeded HTTP load generator for the demo shop; its summary is the run's ground truth."""

from loadgen.plan import ENDPOINTS, PlannedRequest, build_plan
from loadgen.workload import (
    EndpointSummary,
    LatencyStats,
    WorkloadSummary,
    new_run_id,
    run_workload,
)

__all__ = [
    "ENDPOINTS",
    "EndpointSummary",
    "LatencyStats",
    "PlannedRequest",
    "WorkloadSummary",
    "build_plan",
    "new_run_id",
    "run_workload",
]
