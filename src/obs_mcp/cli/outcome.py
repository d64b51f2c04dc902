"""Exit codes, the same for every command: 0 ok, 1 a problem found, 2 a usage error.

A problem is a broken pipeline, a tool error, or an answer with no data where data was
asked for (an unknown service, a trace id nobody sent). "No errors" is not a problem.
"""

from __future__ import annotations

from pydantic import BaseModel

from obs_mcp.models import (
    CompareResult,
    CorrelatedTrace,
    ErrorRateResult,
    FieldsResult,
    LogsResult,
    MetricsResult,
    ServiceOverview,
    ServicesResult,
    StackHealth,
    TracesResult,
    WaitResult,
)

OK, PROBLEM, USAGE = 0, 1, 2


def problem(result: BaseModel) -> str | None:
    """Why this answer means exit 1, or None."""
    match result:
        case StackHealth(ok=False):
            return "the pipeline has a problem (see the hints)"
        case CorrelatedTrace(found=False):
            return "no spans or logs carry this trace id"
        case ErrorRateResult(total=0):
            return "no requests in the window"
        case ServiceOverview() if not result.red.requests and not result.error_logs:
            return "no requests or error logs in the window"
        case TracesResult(returned=0) | LogsResult(returned=0) | ServicesResult(returned=0):
            return "nothing matched"
        case MetricsResult() if not result.series:
            return "no series matched"
        case CompareResult() if not result.baseline.requests or not result.current.requests:
            return "a side of the comparison has no requests"
        case WaitResult(arrived=False):
            return "timed out before the data arrived"
        case FieldsResult() if not any(s and s.rows for s in (result.spans, result.logs)):
            return "no spans or logs of the service in the window"
    return None
