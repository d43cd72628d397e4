"""Waiting on conditions instead of for a fixed time, for the sync tests.

A negative check ("nothing shipped yet", "still waiting") only proves something once the part
under test has looked at the situation and decided: these helpers let a test wait for that
decision (a reading of the injected clock, a call to the store) rather than sleep and hope.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

from sync.blobstore import BlobStore
from tests.support.clocks import FakeClock
from tests.support.sync_doubles import FlakyStore

WITHIN_S = 10.0
"""How long a condition may take before the test fails (a bound against hangs, not a timing)."""


async def until(
    predicate: Callable[[], bool], what: str = "a condition", within_s: float = WITHIN_S
) -> None:
    """Wait until ``predicate()`` holds, or fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def until_async(
    predicate: Callable[[], Awaitable[bool]], what: str, within_s: float = WITHIN_S
) -> None:
    """Wait until ``await predicate()`` holds, or fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class PolicyClock(FakeClock):
    """The shipper's injected clock (a ``FakeClock``) that counts its readings.

    The shipper reads its clock once at the start of every policy step, so the number of
    readings tells a test that a step which began after some point has finished.
    """

    def __init__(self) -> None:
        """Stand still, with no reading yet."""
        super().__init__()
        self.readings = 0

    def __call__(self) -> float:
        """The current (fake) time in seconds, counted."""
        self.readings += 1
        return super().__call__()

    async def looked_again(self, what: str = "the shipper to look again") -> None:
        """Return once a policy step that started after this call has completed (the step
        after it has begun)."""
        seen = self.readings
        await until(lambda: self.readings >= seen + 2, what)


class CountingStore(FlakyStore):
    """A ``FlakyStore`` that counts lease calls (made, whatever their outcome)."""

    def __init__(self, inner: BlobStore) -> None:
        """Forward to ``inner``, counting."""
        super().__init__(inner)
        self.calls: collections.Counter[str] = collections.Counter()

    async def acquire_lease(self, name: str, *, duration_s: int, lease_id: str) -> None:
        """Count, then acquire (or fail as told)."""
        self.calls["acquire_lease"] += 1
        await super().acquire_lease(name, duration_s=duration_s, lease_id=lease_id)

    async def renew_lease(self, name: str, *, lease_id: str) -> None:
        """Count, then renew (or fail as told)."""
        self.calls["renew_lease"] += 1
        await super().renew_lease(name, lease_id=lease_id)

    async def after_calls(self, method: str, count: int, what: str) -> None:
        """Return once ``count`` more calls of ``method`` have been made than now."""
        seen = self.calls[method]
        await until(lambda: self.calls[method] >= seen + count, what)
