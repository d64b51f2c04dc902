"""Poll until a condition holds (telemetry lands asynchronously), with a hard deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def wait_for_value(
    probe: Callable[[], T], expected: T, timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Poll until probe() == expected (a figure that grows as exports land); on the deadline
    fail showing the last value seen next to the expected one."""
    deadline = time.monotonic() + timeout
    last = probe()
    while last != expected and time.monotonic() < deadline:
        time.sleep(interval)
        last = probe()
    assert last == expected, f"not {expected!r} within {timeout}s (last value: {last!r})"
    return last
