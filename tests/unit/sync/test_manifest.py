"""Choosing the chain of segments, and etag-guarded manifest updates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from events.segments import segment_name
from sync.errors import RestoreRefusedError
from sync.local_blob import LocalBlobStore
from sync.manifest import (
    JournalSnapshotEntry,
    Manifest,
    SegmentEntry,
    plan_cover,
    read_manifest,
    update_manifest,
)


def entry(first: int, last: int) -> SegmentEntry:
    """A segment entry for ``first..last``."""
    return SegmentEntry(segment_name(first, last), first, last, 100, "ab")


def manifest_of(*entries: SegmentEntry) -> Manifest:
    """A manifest listing ``entries``."""
    return Manifest().with_segments(list(entries))


def test_manifest_decides_and_compaction_leftovers_are_ignored() -> None:
    """With a manifest listing the merged segment, the small ones it replaced are not used."""
    listed = [entry(1, 100), entry(1, 50), entry(51, 100), entry(101, 150)]
    chain = plan_cover(manifest_of(entry(1, 100), entry(101, 150)), sorted(listed, key=_key))
    assert [(e.first, e.last) for e in chain] == [(1, 100), (101, 150)]


def test_stale_manifest_before_compaction_switch_uses_small_segments() -> None:
    """A crash before the manifest switch leaves it listing the small segments: they are used."""
    listed = sorted([entry(1, 100), entry(1, 50), entry(51, 100)], key=_key)
    chain = plan_cover(manifest_of(entry(1, 50), entry(51, 100)), listed)
    assert [(e.first, e.last) for e in chain] == [(1, 50), (51, 100)]


def test_segments_uploaded_after_the_manifest_extend_it() -> None:
    """A segment uploaded before a crash, but never added to the manifest, is still restored."""
    listed = sorted([entry(1, 50), entry(51, 80)], key=_key)
    chain = plan_cover(manifest_of(entry(1, 50)), listed)
    assert chain[-1].last == 80


def test_without_manifest_the_largest_cover_wins() -> None:
    """With no manifest the chain takes the largest segment at each position."""
    listed = sorted([entry(1, 50), entry(51, 100), entry(1, 100), entry(101, 120)], key=_key)
    assert [(e.first, e.last) for e in plan_cover(None, listed)] == [(1, 100), (101, 120)]


def test_gap_is_refused_with_the_missing_positions() -> None:
    """A hole between segments is named precisely."""
    with pytest.raises(RestoreRefusedError, match="gap: no segment holds position 51"):
        plan_cover(None, [entry(1, 50), entry(61, 70)])


def test_gap_inside_manifest_is_refused() -> None:
    """A manifest whose segments skip positions is refused."""
    with pytest.raises(RestoreRefusedError, match=r"gap: positions 51\.\.60"):
        plan_cover(manifest_of(entry(1, 50), entry(61, 70)), [entry(1, 50), entry(61, 70)])


def test_overlap_inside_manifest_is_refused() -> None:
    """A manifest listing overlapping segments is refused."""
    with pytest.raises(RestoreRefusedError, match="overlap"):
        plan_cover(manifest_of(entry(1, 50), entry(40, 70)), [entry(1, 50), entry(40, 70)])


def test_straddling_segment_without_manifest_is_refused() -> None:
    """Without a manifest, a segment that cannot continue the chain is an overlap, not ignored."""
    with pytest.raises(RestoreRefusedError, match="overlap"):
        plan_cover(None, [entry(1, 50), entry(40, 70)])


def test_missing_blob_listed_in_manifest_is_refused() -> None:
    """A manifest entry whose blob is gone is named."""
    with pytest.raises(RestoreRefusedError, match="missing"):
        plan_cover(manifest_of(entry(1, 50)), [])


async def test_concurrent_updates_both_land(tmp_path: Path) -> None:
    """Two writers racing on the manifest: the etag makes the loser re-read, so neither is lost."""
    store = LocalBlobStore(tmp_path)

    def add(e: SegmentEntry) -> Callable[[Manifest], Manifest]:
        def change(m: Manifest) -> Manifest:
            return m.with_segments(sorted([*m.segments, e], key=_key))

        return change

    await asyncio.gather(*(update_manifest(store, add(entry(i, i))) for i in range(1, 21)))
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    assert [e.first for e in manifest.segments] == list(range(1, 21))


def _key(e: SegmentEntry) -> tuple[int, int]:
    return (e.first, -e.last)


def test_a_manifest_written_before_journal_snapshots_still_reads_and_one_round_trips() -> None:
    """The journal snapshot is an optional field: older manifests read with none; a manifest
    with one keeps its position, size, checksum and chain hash."""
    old = (
        b'{"version":1,"shipped":100,"segments":[],"snapshot":null,"updated_at":"",'
        b'"head_chain":null}'
    )
    assert msgspec.json.decode(old, type=Manifest).journal_snapshot is None
    snap = JournalSnapshotEntry("snapshots/journal-x", 100, 12, "ab" * 32, "cd" * 32)
    with_snap = msgspec.structs.replace(Manifest(), journal_snapshot=snap)
    assert msgspec.json.decode(msgspec.json.encode(with_snap), type=Manifest) == with_snap
