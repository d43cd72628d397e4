"""Compaction merges small segments, and a crash at any point of it leaves a restorable set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from events.journal import AsyncJournal, Journal
from sync.blobstore import BlobStore
from sync.compaction import compact, plan_runs
from sync.manifest import SegmentEntry, list_segments, read_manifest
from sync.restore import restore
from sync.shipper import Shipper
from tests.support.sync_doubles import fill, open_journal_at
from tests.support.sync_stores import store_fixture

store = store_fixture


class CrashError(Exception):
    """The process 'died' here."""


class CrashErroringStore:
    """Forwards to ``inner`` but raises ``CrashError`` on the ``nth`` call of ``method``."""

    def __init__(self, inner: BlobStore, method: str, nth: int) -> None:
        self.inner, self.method, self.left = inner, method, nth

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name != self.method:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.left -= 1
            if self.left == 0:
                raise CrashError(name)
            return await target(*args, **kwargs)

        return call


@pytest.fixture
async def shipped(tmp_path: Path, store: BlobStore) -> AsyncIterator[Journal]:
    """A journal of 200 events shipped in eight segments of 25."""
    journal = open_journal_at(tmp_path / "source")
    aj = AsyncJournal(journal)
    shipper = Shipper(aj, store)
    for _ in range(8):
        fill(journal, 25)
        await shipper.ship_now()
    yield journal
    await aj.close()


async def restores_identically(store: BlobStore, folder: Path, source: Journal) -> None:
    """A restore into an empty journal gives exactly the source's events."""
    target = AsyncJournal(open_journal_at(folder))
    try:
        await restore(target, store)
        assert target.journal.read_raw(1, 1000) == source.read_raw(1, 1000)
    finally:
        await target.close()


def test_runs_respect_the_target_size() -> None:
    """Consecutive small segments are grouped up to the target; big ones are left alone."""
    entries = [SegmentEntry(f"s{i}", i * 10 + 1, i * 10 + 10, 1) for i in range(5)]
    big = SegmentEntry("big", 51, 150, 1)
    runs = plan_runs([*entries, big], target_events=30)
    assert [[e.name for e in run] for run in runs] == [["s0", "s1", "s2"], ["s3", "s4"]]


async def test_compaction_merges_and_deletes(
    store: BlobStore, shipped: Journal, tmp_path: Path
) -> None:
    """Small segments become one (the newest kept apart), the old blobs go, restore still works."""
    report = await compact(store, target_events=1000)
    assert (report.segments_before, report.segments_after, report.deleted) == (8, 2, 7)
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    assert [(e.first, e.last) for e in manifest.segments] == [(1, 175), (176, 200)]
    assert len(await list_segments(store)) == 2
    await restores_identically(store, tmp_path / "copy", shipped)


@pytest.mark.parametrize(
    ("method", "nth"),
    [
        ("create", 1),  # before the merged segment exists
        ("replace", 1),  # merged segment uploaded, manifest not switched
        ("delete", 1),  # switched, nothing deleted yet
        ("delete", 4),  # switched, some small ones deleted
    ],
)
async def test_crash_at_any_point_leaves_a_restorable_set(
    store: BlobStore, shipped: Journal, tmp_path: Path, method: str, nth: int
) -> None:
    """After a compaction dies at any step, restore gives every event, and a rerun finishes it."""
    with pytest.raises(CrashError):
        await compact(CrashErroringStore(store, method, nth), target_events=1000)
    await restores_identically(store, tmp_path / "after-crash", shipped)
    await compact(store, target_events=1000)
    assert len(await list_segments(store)) == 2
    await restores_identically(store, tmp_path / "after-rerun", shipped)


async def test_restore_without_manifest_prefers_the_merged_segment(
    store: BlobStore, shipped: Journal, tmp_path: Path
) -> None:
    """With the manifest gone and both merged and small segments present, restore still works."""
    with pytest.raises(CrashError):
        await compact(CrashErroringStore(store, "delete", 1), target_events=1000)
    await store.delete("manifest.json")
    await restores_identically(store, tmp_path / "copy", shipped)
