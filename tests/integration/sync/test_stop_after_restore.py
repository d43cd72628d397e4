"""A stop right after a start has nothing to ship: it returns at once, flushed, on both stores.

``benchmarks/sync.py``'s cold-start child stops its ``SyncRuntime`` as soon as it is ready, and
took the whole ``stop_grace_s`` (20 s) to do it: the stop waited for the head to be shipped before
the shipping task had read the manifest, and a waiter for a position the manifest already covered
was only ever released by a new upload. The stop reported "backlog left locally" (so no snapshot
was shipped at a graceful stop) although Blob held everything.
"""

from __future__ import annotations

from pathlib import Path

from events.journal import AsyncJournal
from sync.blobstore import BlobStore
from sync.runtime import SyncConfig, SyncRuntime
from sync.shipper import Shipper
from tests.support.sync_doubles import fill, open_journal_at, ship_journal_of
from tests.support.sync_stores import store_fixture

store = store_fixture
GRACE_S = 3.0  # far above what a stop with nothing to ship needs; the bug waited all of it


async def test_shipper_stopped_before_it_loaded_the_manifest_reports_flushed(
    store: BlobStore, tmp_path: Path
) -> None:
    """A shipper started and stopped at once over a journal Blob already holds whole returns
    True (everything shipped), and ships nothing new."""
    journal = AsyncJournal(open_journal_at(tmp_path / "a"))
    try:
        fill(journal.journal, 120)
        assert await Shipper(journal, store).ship_now() == 120
        shipper = Shipper(journal, store)
        shipper.start()
        assert await shipper.stop(flush=True, grace_s=GRACE_S) is True
        assert shipper.shipped == 120
        assert shipper.bytes_shipped == 0
    finally:
        await journal.close()


async def test_runtime_stopped_right_after_a_cold_start_reports_flushed(
    store: BlobStore, tmp_path: Path
) -> None:
    """A runtime that restored every event into an empty journal and is stopped as soon as it is
    ready says everything reached Blob (``stop`` returns True), as the cold-start child does."""
    await ship_journal_of(store, tmp_path / "source", 300)
    journal = AsyncJournal(open_journal_at(tmp_path / "cold"))
    runtime = SyncRuntime(journal, store, SyncConfig(health_port=None, stop_grace_s=GRACE_S))
    try:
        report = await runtime.start()
        assert report.events == 300
        assert await runtime.stop() is True
    finally:
        await journal.close()
