"""The writer lease: renewal, loss stops writes, a second instance waits, takeover after death."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from sync.errors import NotWritableError
from sync.local_blob import LocalBlobStore
from sync.writer_lease import LeaseKeeper, LeaseState
from tests.integration.sync.waits import CountingStore, until
from tests.support.azurite import Azurite, unique_container
from tests.support.clocks import FakeClock
from tests.support.sync_doubles import FlakyStore
from tests.support.sync_stores import azure_store


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock."""
    return FakeClock()


@pytest.fixture
def folder_store(tmp_path: Path, clock: FakeClock) -> LocalBlobStore:
    """A local store whose lease expiry follows the fake clock."""
    return LocalBlobStore(tmp_path / "blob", clock=clock)


def keeper(store: object, clock: FakeClock) -> LeaseKeeper:
    """A keeper with a 15 s lease that renews and retries every 20 ms of real time."""
    return LeaseKeeper(store, duration_s=15, renew_s=0.02, retry_s=0.02, clock=clock)  # type: ignore[arg-type]


async def test_renewal_keeps_the_lease_past_its_duration(
    folder_store: LocalBlobStore, clock: FakeClock
) -> None:
    """Renewed well before expiry, the lease outlives many lease periods; nobody can take it."""
    counting = CountingStore(folder_store)
    holder, other = keeper(counting, clock), keeper(folder_store, clock)
    await holder.acquire()
    for _ in range(10):
        clock.advance(6)  # 60 s in total, four lease periods
        # A renewal made at the new time has completed (the one after it has started).
        await counting.after_calls("renew_lease", 2, "the holder to renew at the new time")
        assert await other.acquire(wait=False) is False
    assert holder.writable
    await holder.release()


async def test_failed_renewal_stops_writes_at_once_and_loss_is_final(
    folder_store: LocalBlobStore, clock: FakeClock
) -> None:
    """A renewal failure makes the holder unwritable at once; if another took over it is lost."""
    flaky = FlakyStore(folder_store)
    holder = keeper(flaky, clock)
    lost = asyncio.Event()
    holder.on_lost(lost.set)
    await holder.acquire()
    flaky.down = True
    await until(lambda: holder.state is LeaseState.SUSPENDED)
    with pytest.raises(NotWritableError):
        holder.ensure_writable()
    clock.advance(16)  # the lease expires; another instance takes it
    other = keeper(folder_store, clock)
    assert await other.acquire(wait=False)
    flaky.down = False
    await asyncio.wait_for(lost.wait(), 3)
    assert holder.state is LeaseState.LOST
    assert not holder.writable
    await other.release()


async def test_transient_failure_recovers_before_expiry(
    folder_store: LocalBlobStore, clock: FakeClock
) -> None:
    """A renewal that fails and then succeeds before expiry resumes writes."""
    flaky = FlakyStore(folder_store)
    holder = keeper(flaky, clock)
    await holder.acquire()
    flaky.down = True
    await until(lambda: holder.state is LeaseState.SUSPENDED)
    flaky.down = False
    await until(lambda: holder.writable)
    await holder.release()


async def test_second_instance_waits_and_says_so(
    folder_store: LocalBlobStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A second instance waits, logging why, and gets the lease once the first releases it."""
    caplog.set_level(logging.INFO, logger="sync.writer_lease")
    first, second = keeper(folder_store, clock), keeper(folder_store, clock)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await until(lambda: second.state is LeaseState.WAITING)
    assert "waiting for lease held by another instance" in caplog.text
    await first.release()
    await asyncio.wait_for(waiting, 3)
    assert second.writable
    await second.release()


async def test_takeover_after_the_holder_dies(
    folder_store: LocalBlobStore, clock: FakeClock
) -> None:
    """When the holder dies without releasing, the waiting instance takes over once it expires."""
    counting = CountingStore(folder_store)
    dead, heir = keeper(folder_store, clock), keeper(counting, clock)
    await dead.acquire()
    assert dead._task is not None
    dead._task.cancel()  # the process died: no renewal, no release
    waiting = asyncio.create_task(heir.acquire())
    await counting.after_calls("acquire_lease", 3, "the heir to be refused twice")
    assert heir.state is LeaseState.WAITING
    assert not waiting.done()
    clock.advance(15.1)
    await asyncio.wait_for(waiting, 3)
    await heir.release()


@pytest.mark.slow
async def test_takeover_on_azurite_within_one_lease_period(azurite: Azurite) -> None:
    """On Azurite, a waiting instance takes over within one lease period of the holder's death."""
    container = unique_container()
    holder_store = azure_store(azurite.connection_string, container)
    heir_store = azure_store(azurite.connection_string, container)
    dead = LeaseKeeper(holder_store, duration_s=15, retry_s=0.25)
    heir = LeaseKeeper(heir_store, duration_s=15, retry_s=0.25)
    await dead.acquire()
    assert dead._task is not None
    dead._task.cancel()
    died = time.monotonic()
    await asyncio.wait_for(heir.acquire(), 20)
    assert time.monotonic() - died <= 15 + 1
    assert heir.writable
    await heir.release()
    await holder_store.close()
    await heir_store.close()
