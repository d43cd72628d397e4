"""SyncRuntime end to end on a real store: ship, compact in the background, durable ack."""

from __future__ import annotations

import asyncio
from pathlib import Path

from events.base import Actor
from events.journal import AsyncJournal
from sync.blobstore import BlobStore
from sync.manifest import check_chain, read_manifest
from sync.restore import restore
from sync.runtime import SyncConfig, SyncRuntime
from tests.integration.sync.waits import until_async
from tests.support.sync_doubles import audit_events, open_journal_at
from tests.support.sync_stores import store_fixture

store = store_fixture


async def test_background_compaction_keeps_the_manifest_short(
    store: BlobStore, tmp_path: Path
) -> None:
    """Many small segments are compacted while the bot runs; every event still restores."""
    journal = AsyncJournal(open_journal_at(tmp_path / "bot"))
    config = SyncConfig(
        health_port=None,
        segment_max_events=5,
        segment_max_age_s=0.01,
        compact_every_s=0.05,
        compact_above_segments=3,
    )
    runtime = SyncRuntime(journal, store, config)
    await runtime.start()
    for n in range(12):
        result = await journal.append(audit_events(5), command_id=f"c{n}", actor=Actor.system())
        await runtime.committed(result.last_position)
        await asyncio.wait_for(runtime.shipper.wait_shipped(result.last_position), 5)

    async def compacted() -> bool:
        manifest, _ = await read_manifest(store)
        return manifest is not None and len(manifest.segments) <= 4

    await until_async(compacted, "the background compaction to shorten the manifest")
    assert await runtime.stop()
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    check_chain(manifest.segments)
    assert manifest.shipped == 60
    assert len(manifest.segments) <= 4
    copy = AsyncJournal(open_journal_at(tmp_path / "copy"))
    await restore(copy, store)
    assert copy.journal.read_raw(1, 100) == journal.journal.read_raw(1, 100)
    await copy.close()
    await journal.close()


async def test_durable_ack_returns_only_once_in_blob(store: BlobStore, tmp_path: Path) -> None:
    """With durable ack, ``committed`` returns only when the manifest covers the position."""
    journal = AsyncJournal(open_journal_at(tmp_path / "bot"))
    runtime = SyncRuntime(
        journal, store, SyncConfig(health_port=None, durable_ack=True, segment_max_age_s=60)
    )
    await runtime.start()
    for n in range(3):
        result = await journal.append(audit_events(2), command_id=f"c{n}", actor=Actor.system())
        await asyncio.wait_for(runtime.committed(result.last_position), 5)
        manifest, _ = await read_manifest(store)
        assert manifest is not None
        assert manifest.shipped >= result.last_position
    await runtime.stop()
    await journal.close()
