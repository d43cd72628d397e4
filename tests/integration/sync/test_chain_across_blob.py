"""The journal's hash chain across Blob: a missing or replaced tail is refused, and a refused
restore leaves the local journal exactly as it was. Every test runs on the local folder store and
on Azurite (which must be installed: its tests fail, never skip, without it)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import msgspec
import pytest

from events.journal import AsyncJournal, Journal
from events.records import RawRecord
from events.segments import encode_segment, read_header, segment_name
from settings import load_settings
from sync.blobstore import BlobStore, LeaseLostError
from sync.errors import RestoreRefusedError
from sync.manifest import (
    MANIFEST_NAME,
    Manifest,
    SegmentEntry,
    read_manifest,
    update_manifest,
)
from sync.restore import restore
from sync.stores import open_blob_store
from sync.writer_lease import LOCK_BLOB, LeaseKeeper, read_head_record
from tests.integration.sync.test_sync_cli import backend, run
from tests.support.sync_doubles import fill, open_journal_at
from tests.support.sync_stores import store_fixture

store = store_fixture
__all__ = ["backend", "store"]


def _blob_store(folder: Path) -> BlobStore:
    """The store the CLI uses for ``folder`` (from the environment the ``backend`` fixture set)."""
    return open_blob_store(load_settings(data_dir=folder))


def _push_in_two_segments(folder: Path, first: int, second: int) -> None:
    journal = open_journal_at(folder)
    fill(journal, first)
    journal.close()
    assert run("push", "--data-dir", str(folder))[0] == 0
    journal = open_journal_at(folder)
    fill(journal, second)
    journal.close()
    assert run("push", "--data-dir", str(folder))[0] == 0


def test_a_pull_missing_its_tail_fails_naming_the_last_position_expected(
    backend: str, tmp_path: Path
) -> None:
    """Reproduction 4: with manifest.json and the last segment deleted, a pull onto an empty
    folder used to restore the first segments and exit 0; the lock blob still records the head,
    so the pull exits 1 naming position 1,236 and the new folder's journal stays empty."""
    _push_in_two_segments(tmp_path / "a", 1000, 236)

    async def damage() -> None:
        store = _blob_store(tmp_path / "a")
        try:
            assert (await read_head_record(store)).shipped == 1236
            await store.delete(MANIFEST_NAME)
            await store.delete(segment_name(1001, 1236))
        finally:
            await store.close()

    asyncio.run(damage())
    code, output = run("pull", "--data-dir", str(tmp_path / "b"))
    assert code == 1
    assert "missing tail" in output
    assert "1236" in output
    assert "1001..1236" in output
    journal = open_journal_at(tmp_path / "b")
    assert journal.head() == 0
    journal.close()


async def test_the_lock_blob_metadata_is_written_under_the_lease_only(store: BlobStore) -> None:
    """The head record on the lock blob is written by the lease holder and read by anyone;
    another lease id is refused with ``LeaseLostError``, leaving the record as it was."""
    keeper = LeaseKeeper(store, duration_s=15)
    assert (await read_head_record(store)).shipped == 0
    await keeper.acquire(wait=False)
    try:
        await keeper.record_head(42, "ab" * 32)
        with pytest.raises(LeaseLostError):
            await store.set_metadata(LOCK_BLOB, {"shipped": "7"}, lease_id=str(uuid.uuid4()))
    finally:
        await keeper.release()
    record = await read_head_record(store)
    assert (record.shipped, record.head_chain) == (42, "ab" * 32)


async def test_a_replaced_tail_is_refused(tmp_path: Path, store: BlobStore) -> None:
    """The last segment swapped for one with other events (its manifest entry rewritten to
    match, so every checksum holds) does not end with the head hash the lock blob records: the
    restore refuses before appending anything."""
    source, aj = await _ship_three(tmp_path, store)
    manifest = (await read_manifest(store))[0]
    assert manifest is not None
    assert manifest.shipped == 1200
    tail = manifest.segments[-1]
    prev = read_header((await store.read(tail.name))[0]).prev_chain
    await _replace(store, tail, encode_segment(_forged(source, tail), prev_chain=prev).data)
    target = AsyncJournal(open_journal_at(tmp_path / "target"))
    with pytest.raises(RestoreRefusedError, match="does not end with the hash"):
        await restore(target, store)
    assert target.journal.head() == 0
    await target.close()
    await aj.close()


async def test_a_restore_refused_half_way_leaves_the_local_journal_as_it_was(
    tmp_path: Path, store: BlobStore
) -> None:
    """A middle segment whose records were changed but whose header still claims the original
    chain hash (checksums recomputed to match) is caught when the recomputed chain reaches its
    last position, after earlier batches were appended in the restore's transaction: the
    restore refuses and the target journal is exactly as it was (its 300 events, byte for byte)."""
    source, aj = await _ship_three(tmp_path, store)
    manifest = (await read_manifest(store))[0]
    assert manifest is not None
    middle = manifest.segments[1]
    original = read_header((await store.read(middle.name))[0])
    forged = bytearray(encode_segment(_forged(source, middle), prev_chain=original.prev_chain).data)
    # In a v3 header the chain hash at the last position is the 32 bytes before the dictionary
    # number (a u32, the header's end): claim the original.
    end = read_header(bytes(forged)).size - 4
    forged[end - 32 : end] = original.last_chain or b""
    await _replace(store, middle, bytes(forged))
    target = AsyncJournal(open_journal_at(tmp_path / "target"))
    await target.append_raw(source.read_raw(1, 300))
    before: list[RawRecord] = target.journal.read_raw(1, 10_000)
    with pytest.raises(RestoreRefusedError, match="hash chain"):
        await restore(target, store, batch=50)
    assert target.journal.read_raw(1, 10_000) == before
    await target.close()
    await aj.close()


async def _ship_three(tmp_path: Path, store: BlobStore) -> tuple[Journal, AsyncJournal]:
    """A source journal of 1,200 events shipped in three segments, the head on the lock blob."""
    from sync.shipper import Shipper

    source = open_journal_at(tmp_path / "source")
    keeper = LeaseKeeper(store, duration_s=15)
    await keeper.acquire(wait=False)
    aj = AsyncJournal(source)
    shipper = Shipper(aj, store, record_head=keeper.record_head)
    for _ in range(3):
        fill(source, 400, per_command=20)
        await shipper.ship_now()
    await keeper.release()
    return source, aj


def _forged(source: Journal, entry: SegmentEntry) -> list[RawRecord]:
    """The records of ``entry`` with one word changed in every state."""
    return [
        msgspec.structs.replace(r, state=r.state.replace(b"ping", b"pong"))
        for r in source.read_raw(entry.first, entry.count)
    ]


async def _replace(store: BlobStore, entry: SegmentEntry, data: bytes) -> None:
    """Put ``data`` in place of ``entry``'s blob and make the manifest's entry match it."""
    await store.delete(entry.name)
    await store.create(entry.name, data)
    replacement = SegmentEntry.of_blob(entry.name, data)

    def swap(manifest: Manifest) -> Manifest:
        return manifest.with_segments(
            [replacement if e.name == entry.name else e for e in manifest.segments]
        )

    await update_manifest(store, swap)
