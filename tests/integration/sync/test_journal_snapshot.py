"""Journal snapshots: shipped at a segment's end, put in place of an empty journal before it is
opened, then only the later segments are restored; anything that does not hold is refused and
the start restores every segment instead."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest

from events.journal import AsyncJournal, Journal
from projections.workspace import Workspace, analytics_path, journal_path
from sync.blobstore import BlobStore
from sync.journal_snapshot import (
    JOURNAL_SNAPSHOT_PREFIX,
    PlacedJournalSnapshot,
    place_journal_snapshot,
    ship_journal_snapshot,
)
from sync.local_blob import LocalBlobStore
from sync.manifest import Manifest, read_manifest, update_manifest
from sync.restore import RestoreReport
from sync.runtime import SyncConfig, SyncRuntime
from sync.shipper import Shipper
from sync.snapshot import ship_snapshot
from tests.e2e.bot_harness import START, bot_app
from tests.integration.sync.waits import WITHIN_S
from tests.support.clocks import FakeTime
from tests.support.sync_doubles import fill
from tests.support.sync_stores import store_fixture

store = store_fixture

REPO = Path(__file__).resolve().parents[3]
SNAPSHOT_AT = 300
"""Where the journal snapshot is taken: a segment ends there, a command (281-350) straddles it."""


async def ship_source(store: BlobStore, folder: Path) -> Workspace:
    """A source workspace: 420 events in commands of 70; shipped up to 300 in segments of 100, a
    journal snapshot at 300, the rest shipped, an analytics snapshot at 420, then 60 events more
    shipped (segments after the journal snapshot: 301-400, 401-420, 421-480)."""
    ws = Workspace.open(folder)
    fill(ws.journal, 420, per_command=70)
    journal = AsyncJournal(ws.journal)
    shipper = Shipper(journal, store, max_events=100, max_segment_events=100)
    while shipper.shipped < SNAPSHOT_AT:
        await shipper._ship_next(SNAPSHOT_AT)
    entry = await ship_journal_snapshot(store, journal_path(folder))
    assert entry is not None
    assert entry.position == SNAPSHOT_AT
    await shipper.ship_now()
    ws.catch_up()
    assert await ship_snapshot(store, ws.analytics) is not None  # type: ignore[arg-type]
    fill(ws.journal, 60, per_command=70, tag="later")
    await shipper.ship_now()
    ws.catch_up()
    journal._executor.shutdown(wait=True)
    return ws


async def cold_start(
    store: BlobStore, folder: Path, *, use_journal_snapshot: bool = True
) -> tuple[PlacedJournalSnapshot | None, RestoreReport]:
    """An empty-disk start as the bot makes it: place the journal snapshot (unless told not to),
    open the journal, then restore, the analytics snapshot and catch-up through ``SyncRuntime``."""
    placed = None
    if use_journal_snapshot:
        placed = await place_journal_snapshot(store, journal_path(folder))
    journal = AsyncJournal(Journal.open(journal_path(folder)))

    async def catch_up() -> None:
        def work() -> None:
            with Workspace.open(folder):  # opening catches every projection up
                pass

        await asyncio.to_thread(work)

    runtime = SyncRuntime(
        journal,
        store,
        SyncConfig(health_port=None, compact_every_s=None),
        catch_up=catch_up,
        analytics_path=analytics_path(folder),
    )
    report = await runtime.start()
    await runtime.stop()
    await journal.close()
    return placed, report


def journal_tables(folder: Path) -> dict[str, list[Any]]:
    """Every row of the journal's tables, with positions (rowids)."""
    con = sqlite3.connect(journal_path(folder))
    try:
        return {
            "stored_events": con.execute(
                "SELECT rowid, * FROM stored_events ORDER BY rowid"
            ).fetchall(),
            "command_ids": con.execute("SELECT * FROM command_ids ORDER BY 1").fetchall(),
            "event_chain": con.execute("SELECT * FROM event_chain ORDER BY 1").fetchall(),
        }
    finally:
        con.close()


def analytics_tables(folder: Path) -> dict[str, list[Any]]:
    """Every row of every analytics table, in a stable order."""
    con = duckdb.connect(str(analytics_path(folder)), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}
    finally:
        con.close()


async def test_a_cold_start_with_both_snapshots_restores_what_a_full_restore_does(
    store: BlobStore, tmp_path: Path
) -> None:
    """Journal snapshot + later segments + analytics snapshot give the very journal (rows,
    positions, command ids, chain) and analytics that every segment from position 1 gives, and
    only the segments after the journal snapshot are restored."""
    source = await ship_source(store, tmp_path / "source")
    source.close()
    full, fast = tmp_path / "full", tmp_path / "fast"
    Journal.open(journal_path(fast)).close()  # an empty journal left by an earlier try is replaced

    none, full_report = await cold_start(store, full, use_journal_snapshot=False)
    placed, fast_report = await cold_start(store, fast)

    assert none is None
    assert full_report.events == 480
    assert placed is not None
    assert placed.position == SNAPSHOT_AT
    assert (fast_report.segments, fast_report.events) == (3, 180)
    expected = journal_tables(tmp_path / "source")
    assert journal_tables(full) == expected
    assert journal_tables(fast) == expected
    assert analytics_tables(fast) == analytics_tables(full)
    assert not [p.name for p in fast.iterdir() if p.name.startswith(".journal-snapshot-")]


async def _bad_checksum(store: BlobStore, manifest: Manifest) -> None:
    entry = manifest.journal_snapshot
    assert entry is not None
    data, _ = await store.read(entry.name)
    await store.delete(entry.name)
    await store.create(entry.name, data[:100] + bytes([data[100] ^ 1]) + data[101:])


async def _wrong_chain(store: BlobStore, manifest: Manifest) -> None:
    entry = manifest.journal_snapshot
    assert entry is not None
    other = msgspec.structs.replace(entry, chain=hashlib.sha256(b"other").hexdigest())
    await update_manifest(store, lambda m: msgspec.structs.replace(m, journal_snapshot=other))


async def _ahead_of_head(store: BlobStore, manifest: Manifest) -> None:
    entry = manifest.journal_snapshot
    assert entry is not None
    ahead = msgspec.structs.replace(entry, position=manifest.shipped + 1)
    await update_manifest(store, lambda m: msgspec.structs.replace(m, journal_snapshot=ahead))


async def _truncated_zstd(store: BlobStore, manifest: Manifest) -> None:
    """Cut short, with the manifest's size and checksum of the cut bytes: only the
    decompression can tell."""
    entry = manifest.journal_snapshot
    assert entry is not None
    data, _ = await store.read(entry.name)
    cut = data[: len(data) // 2]
    name = entry.name.replace(".sqlite.zst", "-cut.sqlite.zst")
    await store.create(name, cut)
    short = msgspec.structs.replace(
        entry, name=name, size=len(cut), sha256=hashlib.sha256(cut).hexdigest()
    )
    await update_manifest(store, lambda m: msgspec.structs.replace(m, journal_snapshot=short))


async def _other_position(store: BlobStore, manifest: Manifest) -> None:
    """The manifest says the file holds up to 400 (a segment's end, with the segments' hash
    there), but the file holds up to 300: only opening it can tell."""
    entry = manifest.journal_snapshot
    assert entry is not None
    at_400 = next(e for e in manifest.segments if e.last == 400)
    assert at_400.chain is not None
    moved = msgspec.structs.replace(entry, position=400, chain=at_400.chain)
    await update_manifest(store, lambda m: msgspec.structs.replace(m, journal_snapshot=moved))


DAMAGES = {
    "bad-checksum": (_bad_checksum, "checksum"),
    "wrong-chain-hash": (_wrong_chain, "chain hash"),
    "ahead-of-blob-head": (_ahead_of_head, "ahead of the segments' head"),
    "truncated-zstd": (_truncated_zstd, "zstd frame"),
    "other-position": (_other_position, "holds events up to 300"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
async def test_a_damaged_journal_snapshot_is_refused_and_every_segment_restored(
    store: BlobStore, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot whose bytes, chain hash or position do not hold is refused with a log line,
    nothing is put in place, and the start restores every segment: the right journal."""
    source = await ship_source(store, tmp_path / "source")
    source.close()
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    make, message = DAMAGES[damage]
    await make(store, manifest)
    target = tmp_path / "target"

    with caplog.at_level(logging.WARNING, logger="sync.journal_snapshot"):
        placed, report = await cold_start(store, target)

    assert placed is None
    assert "journal snapshot refused" in caplog.text
    assert message in caplog.text
    assert report.events == 480
    assert journal_tables(target) == journal_tables(tmp_path / "source")
    assert not [p.name for p in target.iterdir() if p.name.startswith(".journal-snapshot-")]


async def test_a_local_journal_with_rows_ignores_the_snapshot(
    store: BlobStore, tmp_path: Path
) -> None:
    """A disk whose journal has rows keeps its file as it is: no snapshot replaces it."""
    source = await ship_source(store, tmp_path / "source")
    source.close()
    target = tmp_path / "target"
    await cold_start(store, target, use_journal_snapshot=False)
    before = journal_tables(target)
    stat = journal_path(target).stat()

    assert await place_journal_snapshot(store, journal_path(target)) is None

    after = journal_path(target).stat()
    assert (after.st_ino, after.st_size) == (stat.st_ino, stat.st_size)
    assert journal_tables(target) == before
    placed, report = await cold_start(store, target)
    assert (placed, report.events) == (None, 0)
    assert journal_tables(target) == journal_tables(tmp_path / "source")


async def test_a_start_removes_what_a_killed_analytics_snapshot_left(
    store: BlobStore, tmp_path: Path
) -> None:
    """Scratch an analytics snapshot's shipping (a folder with a copy) or restore (a file) left
    when killed is removed by the next start; the journal and analytics files are untouched."""
    source = await ship_source(store, tmp_path / "source")
    source.close()
    target = tmp_path / "target"
    await cold_start(store, target)
    before = journal_tables(target)
    shipping = target / ".snapshot-k1ll3d"
    shipping.mkdir()
    (shipping / "analytics.duckdb").write_bytes(b"a half copy")
    (target / ".snapshot-0123abcd.duckdb").write_bytes(b"a half download")

    assert await place_journal_snapshot(store, journal_path(target)) is None

    assert sorted(p.name for p in target.iterdir() if p.name.startswith(".snapshot-")) == []
    assert journal_tables(target) == before
    assert analytics_path(target).exists()


_KILLED_AT_REPLACE = """
import asyncio, os, signal, sys
from pathlib import Path
import sync.journal_snapshot as js
import sync.transfer
from sync.azure_blob import AzureBlobStore
from sync.local_blob import LocalBlobStore

kind, where, container, target = sys.argv[1:5]
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the worst moment: everything written, not yet swapped
sync.transfer.os.replace = killed
store = (
    LocalBlobStore(Path(where), container) if kind == "local"
    else AzureBlobStore.from_connection_string(where, container)
)
asyncio.run(js.place_journal_snapshot(store, Path(target)))
"""


async def test_a_kill_mid_placement_leaves_nothing_half_placed(
    store: BlobStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A placement killed just before its swap leaves the journal as it was (absent) and only
    temporaries, which the next start removes before it places the snapshot whole."""
    source = await ship_source(store, tmp_path / "source")
    source.close()
    target = tmp_path / "target"
    if isinstance(store, LocalBlobStore):
        where, container = str(tmp_path / "blob"), "ibpicker-journal"
    else:
        where = request.getfixturevalue("azurite").connection_string
        container = store._container.container_name  # type: ignore[attr-defined]
    kind = "local" if isinstance(store, LocalBlobStore) else "azure"

    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _KILLED_AT_REPLACE, kind, where, container,
         str(journal_path(target))],
        cwd=REPO, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(REPO)},
    )  # fmt: skip

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not journal_path(target).exists()
    assert [p.name for p in target.iterdir() if p.name.startswith(".journal-snapshot-")]
    placed, report = await cold_start(store, target)
    assert placed is not None
    assert report.events == 180
    assert journal_tables(target) == journal_tables(tmp_path / "source")
    assert not [p.name for p in target.iterdir() if p.name.startswith(".journal-snapshot-")]


async def test_a_newer_journal_snapshot_replaces_the_older_and_leaves_the_analytics_one(
    store: BlobStore, tmp_path: Path
) -> None:
    """Shipping at a later head switches the manifest and deletes the older journal snapshot
    blob; the analytics snapshot stays, and an analytics snapshot keeps the journal one."""
    source = await ship_source(store, tmp_path / "source")
    entry = await ship_journal_snapshot(store, journal_path(tmp_path / "source"))
    assert entry is not None
    assert entry.position == 480
    assert await ship_snapshot(store, source.analytics) is not None  # type: ignore[arg-type]
    source.close()
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    assert manifest.journal_snapshot == entry
    assert manifest.snapshot is not None
    names = [b.name for b in await store.list("snapshots/")]
    assert [n for n in names if n.startswith(JOURNAL_SNAPSHOT_PREFIX)] == [entry.name]
    assert manifest.snapshot.name in names
    assert await ship_journal_snapshot(store, journal_path(tmp_path / "source")) is None


async def test_the_writer_ships_a_journal_snapshot_at_start_when_the_last_lags(
    store: BlobStore, tmp_path: Path
) -> None:
    """A runtime whose shipped head is ``journal_snapshot_lag`` events or more past the last
    journal snapshot ships one right after it starts (then on the snapshot schedule)."""
    folder = tmp_path / "writer"
    journal = AsyncJournal(Journal.open(journal_path(folder)))
    fill(journal.journal, 120)
    await Shipper(journal, store).ship_now()  # shipped by an earlier run of the writer
    config = SyncConfig(
        health_port=None, compact_every_s=None, snapshot_every_s=3600.0, journal_snapshot_lag=100
    )
    runtime = SyncRuntime(journal, store, config, snapshot_source=lambda: None)
    await runtime.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN_S
    manifest, _ = await read_manifest(store)
    while manifest is None or manifest.journal_snapshot is None:
        assert loop.time() < deadline, "timed out waiting for the journal snapshot"
        await asyncio.sleep(0.01)
        manifest, _ = await read_manifest(store)
    await runtime.stop()
    await journal.close()
    assert manifest.journal_snapshot.position == 120
    assert manifest.journal_snapshot.chain == manifest.head_chain


async def test_the_bot_starts_an_empty_disk_from_the_journal_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``bot.create_app`` on an empty data folder places the journal snapshot before it opens
    the journal, restores only the later segments, starts the analytics from their snapshot,
    and ends with the very journal the source has."""
    blob_dir = tmp_path / "blob"
    store = LocalBlobStore(blob_dir)
    source = await ship_source(store, tmp_path / "source")
    source.close()
    await store.close()

    with caplog.at_level(logging.INFO):
        async with bot_app(tmp_path / "d", FakeTime(START, waits=True), [1], blob_dir=blob_dir):
            pass

    assert "journal snapshot at position 300 put in place" in caplog.text
    assert "restored 180 events in 3 segments" in caplog.text
    assert "analytics from the snapshot at position 420" in caplog.text
    assert journal_tables(tmp_path / "d") == journal_tables(tmp_path / "source")
