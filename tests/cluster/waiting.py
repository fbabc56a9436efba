"""Bounded waits for tests: until something happens, or that nothing happens for a while.

    wait_for(lambda: pod_phase(...) == "Running", 60, "the pod to run")
    holds_for(lambda: count_pods() == 2, 5, "no third pod is made")

Never prove something with a fixed sleep: wait for the condition with a
deadline, and where the point is that nothing changes, watch it for a bounded
quiet period (``holds_for``) so the test fails the moment it does change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 60, what: str = "condition", interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; returns that value.
    Exceptions from ``check`` count as "not yet" (the last one is reported on timeout)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))


def holds_for(check: Callable[[], object], period: float, what: str = "condition", interval: float = 0.5) -> None:
    """Assert that ``check`` stays truthy for ``period`` seconds (a bounded quiet period).

    Checked at the start, every ``interval`` and at the end; fails at the first
    falsy value, with the time it held. Exceptions from ``check`` propagate."""
    start = time.monotonic()
    deadline = start + period
    while True:
        value = check()
        if not value:
            raise AssertionError(f"{what}: stopped holding after {time.monotonic() - start:.1f}s (got {value!r})")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(interval, remaining))


async def holds_for_async(
    check: Callable[[], Awaitable[object]], period: float, what: str = "condition", interval: float = 0.5
) -> None:
    """``holds_for`` for async checks (anyio)."""
    start = time.monotonic()
    deadline = start + period
    while True:
        value = await check()
        if not value:
            raise AssertionError(f"{what}: stopped holding after {time.monotonic() - start:.1f}s (got {value!r})")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await anyio.sleep(min(interval, remaining))
