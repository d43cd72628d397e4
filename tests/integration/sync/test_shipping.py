"""Segment shipping against a real store: policy, create-only retries, outages, races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from events.base import Actor
from events.journal import AsyncJournal, Journal
from events.segments import encode_segment
from sync.blobstore import BlobStore
from sync.errors import SplitBrainError
from sync.manifest import check_chain, list_segments, read_manifest
from sync.restore import restore
from sync.shipper import Shipper
from tests.integration.sync.waits import PolicyClock, until
from tests.support.sync_doubles import FlakyStore, audit_events, fill, open_journal_at
from tests.support.sync_stores import store_fixture

store = store_fixture


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """An empty journal."""
    j = open_journal_at(tmp_path / "a")
    yield j
    j.close()


@pytest.fixture
async def aj(journal: Journal) -> AsyncIterator[AsyncJournal]:
    """The journal for asyncio code."""
    wrapped = AsyncJournal(journal)
    yield wrapped
    wrapped._executor.shutdown(wait=True)


async def shipped_manifest(store: BlobStore) -> tuple[int, list[tuple[int, int]]]:
    """The manifest's shipped position and segment ranges, checked contiguous."""
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    check_chain(manifest.segments)
    return manifest.shipped, [(e.first, e.last) for e in manifest.segments]


async def restored_copy(store: BlobStore, folder: Path, original: Journal) -> None:
    """Restore into an empty journal: byte-identical to ``original`` up to the shipped head."""
    copy = AsyncJournal(open_journal_at(folder))
    try:
        await restore(copy, store)
        head = copy.head()
        assert copy.journal.read_raw(1, head + 1) == original.read_raw(1, head)
    finally:
        await copy.close()


async def test_seals_when_max_events_are_pending(
    store: BlobStore, journal: Journal, aj: AsyncJournal
) -> None:
    """Below N pending nothing ships, even once the shipper has looked at them (its clock stands
    still, so age never triggers); reaching N ships them in one segment."""
    clock = PolicyClock()
    shipper = Shipper(aj, store, max_events=100, max_age_s=60, poll_s=0.02, clock=clock)
    shipper.start()
    fill(journal, 99)
    shipper.notify()  # look at the journal's head now
    await clock.looked_again("the shipper to weigh the 99 pending events")
    assert shipper.shipped == 0
    assert await list_segments(store) == []
    fill(journal, 1)
    shipper.notify()
    await until(lambda: shipper.shipped == 100)
    assert await shipped_manifest(store) == (100, [(1, 100)])
    await shipper.stop()


async def test_seals_when_oldest_pending_event_is_old(
    store: BlobStore, journal: Journal, aj: AsyncJournal
) -> None:
    """A few events ship once the oldest has waited max_age_s (by the shipper's clock), well
    before N accumulate; not a moment before."""
    clock = PolicyClock()
    shipper = Shipper(aj, store, max_events=1000, max_age_s=30, poll_s=0.02, clock=clock)
    shipper.start()
    fill(journal, 5)
    shipper.notify()
    await clock.looked_again("the shipper to see the 5 pending events")
    clock.advance(29.9)
    await clock.looked_again("the shipper to weigh them at 29.9 s")
    assert shipper.shipped == 0
    clock.advance(0.1)
    await until(lambda: shipper.shipped == 5)
    assert await shipped_manifest(store) == (5, [(1, 5)])
    await shipper.stop()


async def test_wait_shipped_seals_at_once(
    store: BlobStore, journal: Journal, aj: AsyncJournal
) -> None:
    """A durable-ack waiter does not wait for the policy: its event is shipped within a moment."""
    shipper = Shipper(aj, store, max_events=1000, max_age_s=60)
    shipper.start()
    fill(journal, 3)
    await asyncio.wait_for(shipper.wait_shipped(3), 3)
    assert (await shipped_manifest(store))[0] >= 3
    await shipper.stop()


async def test_stop_ships_the_final_segment(
    store: BlobStore, journal: Journal, aj: AsyncJournal, tmp_path: Path
) -> None:
    """A graceful stop seals and uploads everything appended, and it restores byte-identical."""
    shipper = Shipper(aj, store, max_events=1000, max_age_s=60)
    shipper.start()
    fill(journal, 42)
    assert await shipper.stop()
    assert (await shipped_manifest(store))[0] == 42
    await restored_copy(store, tmp_path / "copy", journal)


async def test_outage_keeps_serving_and_ships_backlog(
    store: BlobStore, journal: Journal, aj: AsyncJournal, tmp_path: Path
) -> None:
    """Store down during appends: they go on; once back the backlog ships, none lost or doubled."""
    flaky = FlakyStore(store)
    shipper = Shipper(aj, flaky, max_events=10, max_age_s=0.05, poll_s=0.02, backoff_max_s=0.2)
    shipper.start()
    fill(journal, 25, per_command=5)
    await until(lambda: shipper.shipped == 25)
    flaky.down = True
    for _ in range(10):
        fill(journal, 7, per_command=7)  # the appends go on
    shipper.notify()
    await until(lambda: not shipper.status().store_available)  # it tried, and paused
    assert shipper.shipped == 25
    flaky.down = False
    await until(lambda: shipper.shipped == journal.head())
    shipped, ranges = await shipped_manifest(store)
    assert shipped == 95
    assert len(await list_segments(store)) == len(ranges)  # no stray duplicate uploads
    await shipper.stop()
    await restored_copy(store, tmp_path / "copy", journal)


async def test_retry_after_lost_reply_neither_overwrites_nor_duplicates(
    store: BlobStore, journal: Journal, aj: AsyncJournal
) -> None:
    """An upload whose reply was lost is retried, finds its blob, checks it, and goes on."""
    flaky = FlakyStore(store)
    flaky.lose_create_replies = 1
    shipper = Shipper(aj, flaky, max_events=10, max_age_s=60, backoff_min_s=0.01)
    shipper.start()
    fill(journal, 10)
    await asyncio.wait_for(shipper.wait_shipped(10), 5)
    assert flaky.creates == 1  # the retry did not write again
    assert await shipped_manifest(store) == (10, [(1, 10)])
    await shipper.stop()


async def test_existing_segment_with_other_events_is_split_brain(
    store: BlobStore, journal: Journal, aj: AsyncJournal, tmp_path: Path
) -> None:
    """A blob already holding different events for our range stops shipping with split brain."""
    other = open_journal_at(tmp_path / "other")
    fill(other, 10, tag="other")
    await store.create(
        encode_segment(other.read_raw(1, 10)).name, encode_segment(other.read_raw(1, 10)).data
    )
    other.close()
    fill(journal, 10)
    shipper = Shipper(aj, store, max_events=10)
    with pytest.raises(SplitBrainError, match="split brain at position 1"):
        await shipper.ship_now()


async def test_segment_uploaded_before_a_crash_is_adopted(
    store: BlobStore, journal: Journal, aj: AsyncJournal
) -> None:
    """A segment uploaded but never added to the manifest (crash) is adopted, not duplicated."""
    fill(journal, 30)
    orphan = encode_segment(journal.read_raw(1, 20))
    await store.create(orphan.name, orphan.data)
    shipper = Shipper(aj, store)
    assert await shipper.ship_now() == 30
    assert await shipped_manifest(store) == (30, [(1, 20), (21, 30)])


async def test_two_shippers_racing_keep_the_manifest_contiguous(
    store: BlobStore, journal: Journal, aj: AsyncJournal, tmp_path: Path
) -> None:
    """Two shippers of the same journal racing on the manifest never leave a gap or overlap."""
    first, second = Shipper(aj, store), Shipper(aj, store)
    for round_ in range(6):
        journal.append(audit_events(7 + round_), command_id=f"race-{round_}", actor=Actor.system())
        await asyncio.gather(first.ship_now(), second.ship_now())
    shipped, _ = await shipped_manifest(store)
    assert shipped == journal.head()
    await restored_copy(store, tmp_path / "copy", journal)


async def test_nothing_is_written_without_the_lease(
    store: BlobStore, journal: Journal, aj: AsyncJournal
) -> None:
    """With ``may_write`` false (lease waiting or lost) the shipper uploads nothing, however
    often it finds a segment due and asks."""
    asked: list[bool] = []

    def may_write() -> bool:
        asked.append(False)
        return False

    shipper = Shipper(aj, store, max_events=1, max_age_s=0, poll_s=0.02, may_write=may_write)
    shipper.start()
    fill(journal, 5)
    shipper.notify()
    await until(lambda: len(asked) >= 3)  # due three times, refused three times
    assert await list_segments(store) == []
    assert shipper.shipped == 0
    await shipper.stop(flush=False)
