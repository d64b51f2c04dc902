"""Run store calls in parallel; keep each call's result or its StoreError apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from obs_mcp.errors import StoreError


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any | StoreError]:
    """Results in call order; a failing store gives its StoreError, the others still finish.

    Any other exception is raised as itself once every call has finished, never wrapped in an
    ExceptionGroup, so callers can catch what the query logic raises (e.g. "data changed").
    """
    results: list[Any | StoreError] = [None] * len(calls)
    failures: list[Exception] = []

    async def run(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[index] = await call()
        except StoreError as exc:
            results[index] = exc
        except Exception as exc:
            failures.append(exc)

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    if failures:
        raise failures[0]
    return results


async def gather_all(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Parallel calls for an answer that needs every one of them: the first failure is raised."""
    results = await gather(*calls)
    for result in results:
        if isinstance(result, StoreError):
            raise result
    return results
