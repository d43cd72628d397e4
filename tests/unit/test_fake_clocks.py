"""The tests' one fake clock and fake time (``tests.support.clocks``) behave as tests rely on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from events.clock import Clock
from tests.support.clocks import FakeClock, FakeTime

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_the_clock_stands_still_and_reads_the_same_moment_both_ways() -> None:
    """A fake clock moves only when told; its instant and its seconds are the same moment, and it
    serves where the product wants a ``Clock``."""
    clock = FakeClock(AT)
    product: Clock = clock
    assert product.now() == AT == clock.now()
    assert clock() == AT.timestamp()
    clock.advance(16)
    clock.advance(timedelta(days=1))
    assert clock.now() == AT + timedelta(days=1, seconds=16)
    assert clock() == (AT + timedelta(days=1, seconds=16)).timestamp()


def test_a_naive_start_is_refused() -> None:
    """A wall time without a UTC offset would be a different instant on every machine."""
    with pytest.raises(ValueError, match="zone-aware"):
        FakeClock(datetime(2026, 11, 24, 15, 0))


async def test_instant_sleeps_move_the_time_at_once_and_are_recorded() -> None:
    """By default a sleep returns at once, recorded, with the clock moved on by it."""
    time = FakeTime(AT)
    await time.sleep(3.0)
    await time.sleep(0.5)
    assert time.sleeps == [3.0, 0.5]
    assert time.now() == AT + timedelta(seconds=3.5)


async def test_waiting_sleeps_return_only_once_the_test_moves_the_time_far_enough() -> None:
    """With ``waits=True`` a sleeper stays asleep until the time is set at or past its wake-up
    time (an earlier move wakes it only to sleep on)."""
    time = FakeTime(AT, waits=True)
    sleeper = asyncio.create_task(time.sleep(60))
    await time.sleeping.wait()
    time.set(AT + timedelta(seconds=59))
    await asyncio.sleep(0)
    await time.sleeping.wait()
    assert not sleeper.done()
    time.advance(1)
    await asyncio.wait_for(sleeper, 5)
    assert time.sleeps == [60]
