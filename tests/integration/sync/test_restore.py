"""Restore against a real store: from empty, from behind, and refusals that leave the disk alone."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
import zstandard

from events.journal import AsyncJournal, Journal
from events.records import RawRecord
from events.segments import _HEADER, _dictionary, encode_segment, read_header, segment_name
from sync.blobstore import BlobStore
from sync.errors import RestoreRefusedError, SplitBrainError
from sync.manifest import MANIFEST_NAME, Manifest, SegmentEntry, read_manifest, update_manifest
from sync.restore import restore
from sync.shipper import Shipper
from tests.support.sync_doubles import fill, open_journal_at
from tests.support.sync_stores import store_fixture

store = store_fixture


@pytest.fixture
async def source(tmp_path: Path, store: BlobStore) -> AsyncIterator[Journal]:
    """A journal of 300 events shipped in segments of 100 (1-100, 101-200, 201-300)."""
    journal = open_journal_at(tmp_path / "source")
    aj = AsyncJournal(journal)
    shipper = Shipper(aj, store)
    for _ in range(3):
        fill(journal, 100, per_command=25)
        await shipper.ship_now()
    yield journal
    await aj.close()


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    """An empty journal on another 'machine'."""
    aj = AsyncJournal(open_journal_at(tmp_path / "target"))
    yield aj
    await aj.close()


def everything(journal: Journal) -> list[RawRecord]:
    """Every record of a journal."""
    return journal.read_raw(1, journal.head() + 1)


async def test_restore_from_empty_is_byte_identical(
    store: BlobStore, source: Journal, target: AsyncJournal
) -> None:
    """An empty disk gets every shipped event, positions and bytes kept, command ids indexed."""
    report = await restore(target, store)
    assert (report.events, report.segments, report.blob_head) == (300, 3, 300)
    assert everything(target.journal) == everything(source)
    assert target.journal.command_span("cmd-1") == (1, 25)


async def test_restore_from_behind_appends_only_the_rest(
    store: BlobStore, source: Journal, target: AsyncJournal
) -> None:
    """A disk holding a prefix (ending mid-segment) gets exactly the missing positions."""
    await target.append_raw(source.read_raw(1, 150))
    report = await restore(target, store)
    assert (report.local_head_before, report.events) == (150, 150)
    assert everything(target.journal) == everything(source)


async def test_local_ahead_with_same_events_is_fine(
    store: BlobStore, source: Journal, target: AsyncJournal
) -> None:
    """A disk ahead of Blob with the same events restores nothing and reports the unshipped rest."""
    await target.append_raw(everything(source))
    fill(target.journal, 10)
    report = await restore(target, store)
    assert (report.events, report.local_ahead) == (0, 10)


async def test_second_restore_is_a_no_op(
    store: BlobStore, source: Journal, target: AsyncJournal
) -> None:
    """Restoring twice appends nothing the second time."""
    await restore(target, store)
    assert (await restore(target, store)).events == 0


async def test_empty_store_restores_nothing(store: BlobStore, target: AsyncJournal) -> None:
    """With nothing shipped, restore is a no-op."""
    report = await restore(target, store)
    assert (report.events, report.blob_head) == (0, 0)


# -- refusals: each one leaves the local journal exactly as it was ---------------------------------

Damage = Callable[[BlobStore, Journal], Awaitable[None]]


async def overwrite(store: BlobStore, name: str, data: bytes) -> None:
    """Replace a blob's content (as corruption at rest would)."""
    await store.delete(name)
    await store.create(name, data)


async def truncate_last(store: BlobStore, source: Journal) -> None:
    """Cut the last segment short."""
    data, _ = await store.read(segment_name(201, 300))
    await overwrite(store, segment_name(201, 300), data[: len(data) // 2])


async def flip_a_bit(store: BlobStore, source: Journal) -> None:
    """Flip one bit in the middle segment's body."""
    data = bytearray((await store.read(segment_name(101, 200)))[0])
    data[-7] ^= 0x10
    await overwrite(store, segment_name(101, 200), bytes(data))


async def replace_with_other_valid_segment(store: BlobStore, source: Journal) -> None:
    """Swap the middle segment for a well-formed one with other bytes: the manifest hash differs."""
    records = [msgspec.structs.replace(r, state=r.state + b"x") for r in source.read_raw(101, 100)]
    await overwrite(store, segment_name(101, 200), encode_segment(records).data)


async def add_a_value_to_a_column_of_the_last(store: BlobStore, source: Journal) -> None:
    """A writer bug: the last segment's columnar body holds one value more than its records use;
    its checksums (header and manifest) match, so only rebuilding its states can find it."""
    name = segment_name(201, 300)
    data = (await store.read(name))[0]
    header = read_header(data)
    dictionary = _dictionary(header.dictionary)
    body = msgspec.msgpack.decode(
        zstandard.ZstdDecompressor(dict_data=dictionary).decompress(data[header.size :])
    )
    body[7][0][1] += 1  # the first column (schema versions): one more value than records
    changed = zstandard.ZstdCompressor(dict_data=dictionary).compress(msgspec.msgpack.encode(body))
    fields = list(_HEADER.unpack_from(data))
    fields[5] = hashlib.sha256(changed).digest()
    forged = _HEADER.pack(*fields) + changed
    await overwrite(store, name, forged)
    await update_manifest(
        store, lambda m: m.with_segments([*m.segments[:2], SegmentEntry.of_blob(name, forged)])
    )


async def remove_middle(store: BlobStore, source: Journal) -> None:
    """Delete the middle segment and drop it from the manifest: a gap."""
    await store.delete(segment_name(101, 200))
    await update_manifest(
        store,
        lambda m: m.with_segments([e for e in m.segments if e.first != 101]),
    )


async def add_overlap(store: BlobStore, source: Journal) -> None:
    """List an extra segment 150-250 in the manifest: an overlap."""
    extra = encode_segment(source.read_raw(150, 101))
    await store.create(extra.name, extra.data)

    def change(m: Manifest) -> Manifest:
        segments = [*m.segments[:2], SegmentEntry.of(extra), m.segments[2]]
        return msgspec.structs.replace(m, segments=segments)

    await update_manifest(store, change)


async def drop_manifest_and_delete_first(store: BlobStore, source: Journal) -> None:
    """No manifest, and the first segment gone: a gap at position 1."""
    await store.delete(MANIFEST_NAME)
    await store.delete(segment_name(1, 100))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (truncate_last, "truncated|checksum"),
        (flip_a_bit, "checksum"),
        (replace_with_other_valid_segment, "manifest"),
        (add_a_value_to_a_column_of_the_last, "does not decode.*nothing was restored"),
        (remove_middle, r"gap: positions 101\.\.200"),
        (add_overlap, "overlap"),
        (drop_manifest_and_delete_first, "gap: no segment holds position 1"),
    ],
)
async def test_refusal_changes_nothing_locally(
    store: BlobStore, source: Journal, target: AsyncJournal, damage: Damage, message: str
) -> None:
    """Damaged Blob content stops restore with a precise message; the local prefix is untouched."""
    await target.append_raw(source.read_raw(1, 50))
    before = everything(target.journal)
    await damage(store, source)
    with pytest.raises(RestoreRefusedError, match=message):
        await restore(target, store)
    assert everything(target.journal) == before


async def test_split_brain_is_refused_and_changes_nothing(
    store: BlobStore, source: Journal, target: AsyncJournal
) -> None:
    """A local journal with other events at shipped positions is refused, naming the position."""
    fill(target.journal, 120, tag="elsewhere")
    before = everything(target.journal)
    with pytest.raises(SplitBrainError, match="split brain at position 1"):
        await restore(target, store)
    assert everything(target.journal) == before


async def test_manifest_survives_as_json(store: BlobStore, source: Journal) -> None:
    """The manifest lists each segment with range, size and SHA-256, and the shipped position."""
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    assert manifest.shipped == 300
    assert all(e.sha256 and e.size > 0 for e in manifest.segments)
