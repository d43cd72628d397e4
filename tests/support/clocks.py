"""The tests' one fake clock and one fake time: time moves only when a test moves it.

``FakeClock`` is one moment read the ways the code under test reads time: ``now()`` is the aware
instant of the product's ``events.clock.Clock``; calling it gives the same moment as seconds (the
float clocks of ``LocalBlobStore``, ``LeaseKeeper``, ``Shipper`` and the fetchers' retry policy).
``FakeTime`` adds the ``sleep`` those parts take, recording every sleep: by default a sleep moves
the clock on at once (a retry backoff costs no time); with ``waits=True`` a sleeper wakes only
once the test has moved the clock that far (the scheduler and the bot wait for the test).

Every start is pinned, never today's date, so no test depends on when it runs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
"""Where a fake clock stands unless told otherwise (a Tuesday, during a New York session)."""


class FakeClock:
    """A clock that stands at ``at`` until a test moves it."""

    def __init__(self, at: datetime = START) -> None:
        """Stand at ``at`` (zone-aware, as the product's clocks are)."""
        if at.utcoffset() is None:
            raise ValueError("a fake clock needs a zone-aware instant")
        self.at = at

    def now(self) -> datetime:
        """The current fake instant (``events.clock.Clock``)."""
        return self.at

    def __call__(self) -> float:
        """The current fake instant as seconds (for the parts that take a float clock)."""
        return self.at.timestamp()

    def advance(self, by: timedelta | float) -> None:
        """Move the time on by ``by`` (a ``timedelta`` or seconds)."""
        self.set(self.at + (by if isinstance(by, timedelta) else timedelta(seconds=by)))

    def set(self, at: datetime) -> None:
        """Move the time to ``at``."""
        self.at = at


class FakeTime(FakeClock):
    """A ``FakeClock`` with a ``sleep`` that records each sleep (``sleeps``)."""

    def __init__(self, at: datetime = START, *, waits: bool = False) -> None:
        """Stand at ``at``; ``waits``: a sleep returns once the test has moved the time on."""
        super().__init__(at)
        self.waits = waits
        self.sleeps: list[float] = []
        self.sleeping = asyncio.Event()
        """Set while someone waits for the time to move (``waits=True``)."""
        self._changed = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        """Record the sleep; then move the time on at once, or wait for the test to."""
        self.sleeps.append(seconds)
        if not self.waits:
            self.advance(seconds)
            return
        target = self.at + timedelta(seconds=seconds)
        while self.at < target:
            changed = self._changed
            self.sleeping.set()
            await changed.wait()

    def set(self, at: datetime) -> None:
        """Move the time to ``at`` and wake the sleepers, who sleep on if it is not yet time."""
        super().set(at)
        changed, self._changed = self._changed, asyncio.Event()
        self.sleeping.clear()
        changed.set()
