"""An unavailable blob store is waited out under the one sync retry policy, on an injected sleep:
restore at start and shipping both retry until the store answers, and a stop ends the wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

from events.journal import AsyncJournal
from sync.blobstore import BlobStore
from sync.runtime import SyncConfig, SyncRuntime
from sync.shipper import Shipper
from tests.integration.sync.waits import until
from tests.support.sync_doubles import FlakyStore, fill, open_journal_at, ship_journal_of
from tests.support.sync_stores import store_fixture

store = store_fixture
MAX_WAIT_S = 0.5


class StoreBackAfter:
    """An injected sleep that takes no time, records each wait, and brings the store back after
    ``waits`` of them."""

    def __init__(self, flaky: FlakyStore, waits: int) -> None:
        self.flaky = flaky
        self.waits = waits
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        if len(self.seconds) >= self.waits:
            self.flaky.down = False
        await asyncio.sleep(0)


async def test_start_waits_out_an_unavailable_store_then_restores(
    store: BlobStore, tmp_path: Path
) -> None:
    """A runtime started while the store is down retries its restore (three waits, each within
    the configured cap, none slept for real) and, once it answers, restores every event."""
    await ship_journal_of(store, tmp_path / "source", 40)
    flaky = FlakyStore(store)
    flaky.down = True
    sleep = StoreBackAfter(flaky, 3)
    journal = AsyncJournal(open_journal_at(tmp_path / "cold"))
    config = SyncConfig(health_port=None, store_retry_max_s=MAX_WAIT_S, stop_grace_s=3.0)
    runtime = SyncRuntime(journal, flaky, config, sleep=sleep)
    try:
        report = await runtime.start()
        assert report.events == 40
        assert journal.head() == 40
        assert len(sleep.seconds) == 3
        assert all(0 <= s <= MAX_WAIT_S for s in sleep.seconds)
        assert await runtime.stop() is True
    finally:
        await journal.close()


async def test_shipping_waits_out_an_outage_on_the_injected_sleep(
    store: BlobStore, tmp_path: Path
) -> None:
    """Shipping into a store that is down reports it unavailable and retries on the injected
    sleep (each wait within the cap); once the store is back the backlog ships whole."""
    flaky = FlakyStore(store)
    flaky.down = True
    sleep = StoreBackAfter(flaky, 4)
    journal = AsyncJournal(open_journal_at(tmp_path / "bot"))
    shipper = Shipper(journal, flaky, max_events=10, backoff_max_s=MAX_WAIT_S, sleep=sleep)
    try:
        fill(journal.journal, 25)
        shipper.start()
        await asyncio.wait_for(shipper.wait_shipped(25), 10)
        assert shipper.shipped == 25
        assert len(sleep.seconds) == 4
        assert all(0 <= s <= MAX_WAIT_S for s in sleep.seconds)
        assert shipper.status().store_available
        assert await shipper.stop() is True
    finally:
        await journal.close()


async def test_a_stop_during_an_outage_ends_the_wait_and_keeps_the_backlog(
    store: BlobStore, tmp_path: Path
) -> None:
    """A shipper waiting out a store that stays down stops at once without a failure: the
    backlog stays in the local journal (``stop`` says not everything was shipped)."""
    flaky = FlakyStore(store)
    flaky.down = True
    never = asyncio.Event()
    waits = 0

    async def sleep(seconds: float) -> None:
        nonlocal waits
        waits += 1
        await never.wait()  # a wait the stop must end

    journal = AsyncJournal(open_journal_at(tmp_path / "bot"))
    shipper = Shipper(journal, flaky, max_events=10, sleep=sleep)
    try:
        fill(journal.journal, 25)
        shipper.notify()
        shipper.start()
        await until(lambda: waits == 1, "the shipper to wait out the outage")
        assert not shipper.status().store_available
        assert await shipper.stop(flush=False) is False
        assert shipper.failure is None
        assert shipper.shipped == 0
    finally:
        await journal.close()
