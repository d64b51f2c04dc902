"""Run store calls in parallel; keep each call's result or its StoreError apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from obs_mcp.errors import StoreError


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any | StoreError]:
    """Results in call order; a failing store gives its StoreError, the others still finish."""
    results: list[Any | StoreError] = [None] * len(calls)

    async def run(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[index] = await call()
        except StoreError as exc:
            results[index] = exc

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    return results


async def gather_all(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Parallel calls for an answer that needs every one of them: the first failure is raised."""
    results = await gather(*calls)
    for result in results:
        if isinstance(result, StoreError):
            raise result
    return results
