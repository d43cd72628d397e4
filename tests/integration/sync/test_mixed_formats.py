"""A blob store holding v2 segments of the old code, then v3 ones of this code, restores whole."""

from __future__ import annotations

from pathlib import Path

from events.journal import AsyncJournal, Journal
from events.records import RawRecord
from events.segments import read_header
from sync.blobstore import BlobStore
from sync.compaction import compact
from sync.manifest import SegmentEntry, read_manifest, update_manifest
from sync.restore import restore
from sync.shipper import Shipper
from tests.support.sync_doubles import fill, open_journal_at
from tests.support.sync_stores import store_fixture

store = store_fixture
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "segments"
OLD = ["000000000001-000000000700.seg", "000000000701-000000001200.seg"]


def everything(journal: Journal) -> list[RawRecord]:
    """Every record of a journal."""
    return journal.read_raw(1, journal.head() + 1)


async def test_restore_and_compaction_over_v2_then_v3_segments(
    tmp_path: Path, store: BlobStore
) -> None:
    """The old code's two v2 segments (1..1200) are in Blob with their manifest; a machine restores
    them, appends 300 events and ships them (v3). A fresh machine restores all 1,500 events
    byte-identical to the first; so does another after compaction merged v2 and v3 into v3."""
    entries = []
    for name in OLD:
        data = (FIXTURES / name).read_bytes()
        await store.create(f"segments/{name}", data)
        entries.append(SegmentEntry.of_blob(f"segments/{name}", data))
    await update_manifest(store, lambda m: m.with_segments(entries))

    first = AsyncJournal(open_journal_at(tmp_path / "first"))
    assert (await restore(first, store)).events == 1200
    fill(first.journal, 300, per_command=30)
    await Shipper(first, store).ship_now()
    manifest = (await read_manifest(store))[0]
    assert manifest is not None
    assert manifest.shipped == 1500
    versions = [read_header((await store.read(e.name))[0]).version for e in manifest.segments]
    assert versions == [2, 2, 3]

    second = AsyncJournal(open_journal_at(tmp_path / "second"))
    report = await restore(second, store)
    assert (report.events, report.segments) == (1500, 3)
    assert everything(second.journal) == everything(first.journal)

    assert (await compact(store, keep_last=0)).merged_runs == 1
    merged = (await read_manifest(store))[0]
    assert merged is not None
    assert len(merged.segments) == 1
    assert read_header((await store.read(merged.segments[0].name))[0]).version == 3
    third = AsyncJournal(open_journal_at(tmp_path / "third"))
    assert (await restore(third, store)).events == 1500
    assert everything(third.journal) == everything(first.journal)
    for journal in (first, second, third):
        await journal.close()
