"""DuckDB snapshots: shipped with their position, put in place on a cold start, then caught up."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.journal import AsyncJournal
from projections.workspace import Workspace, analytics_path
from sync.blobstore import BlobStore
from sync.errors import RestoreRefusedError
from sync.manifest import read_manifest
from sync.restore import restore
from sync.shipper import Shipper
from sync.snapshot import restore_snapshot, ship_snapshot, snapshot_name
from tests.support.sync_doubles import fill
from tests.support.sync_stores import store_fixture

store = store_fixture


def command_rows(ws: Workspace) -> int:
    """Rows of the commands audit table."""
    with ws.analytics.cursor() as cur:  # type: ignore[union-attr]
        row = cur.execute("SELECT count(*) FROM commands").fetchone()
    return int(row[0]) if row else 0


async def ship_source(store: BlobStore, folder: Path, events: int) -> Workspace:
    """A workspace with ``events`` events, its journal and a snapshot shipped."""
    ws = Workspace.open(folder)
    fill(ws.journal, events)
    ws.catch_up()
    aj = AsyncJournal(ws.journal)
    await Shipper(aj, store).ship_now()
    entry = await ship_snapshot(store, ws.analytics)  # type: ignore[arg-type]
    assert entry is not None
    assert entry.position == events
    aj._executor.shutdown(wait=True)
    return ws


async def test_cold_start_uses_the_snapshot_and_catches_up_the_rest(
    store: BlobStore, tmp_path: Path
) -> None:
    """A cold start puts the snapshot in place; catch-up then reads only events after it."""
    source = await ship_source(store, tmp_path / "source", 300)
    fill(source.journal, 40)  # shipped after the snapshot was taken
    aj = AsyncJournal(source.journal)
    await Shipper(aj, store).ship_now()
    source.catch_up()

    target_dir = tmp_path / "target"
    target = AsyncJournal(Workspace.open(target_dir, analytics=False, catch_up=False).journal)
    await restore(target, store)
    assert await restore_snapshot(store, analytics_path(target_dir), target.head()) == 300
    target.journal.close()
    with Workspace.open(target_dir, catch_up=False) as ws:
        assert set(ws.runner.positions().values()) == {300}
        assert ws.catch_up() == 40
        assert command_rows(ws) == command_rows(source)
    source.close()


async def test_newer_snapshot_replaces_the_older(store: BlobStore, tmp_path: Path) -> None:
    """A later snapshot switches the manifest and deletes the earlier blob."""
    source = await ship_source(store, tmp_path / "source", 50)
    fill(source.journal, 10)
    source.catch_up()
    await Shipper(AsyncJournal(source.journal), store).ship_now()
    entry = await ship_snapshot(store, source.analytics)  # type: ignore[arg-type]
    assert entry is not None
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    assert manifest.snapshot == entry
    assert [b.name for b in await store.list("snapshots/")] == [snapshot_name(60)]
    source.close()


async def test_existing_local_analytics_is_kept(store: BlobStore, tmp_path: Path) -> None:
    """A disk with its own analytics file does not get the snapshot."""
    source = await ship_source(store, tmp_path / "source", 20)
    assert await restore_snapshot(store, analytics_path(tmp_path / "source"), 20) is None
    source.close()


async def test_snapshot_with_bad_checksum_is_refused(store: BlobStore, tmp_path: Path) -> None:
    """A damaged snapshot is refused and nothing is put in place."""
    source = await ship_source(store, tmp_path / "source", 20)
    source.close()
    name = snapshot_name(20)
    data, _ = await store.read(name)
    await store.delete(name)
    await store.create(name, data[:-1] + bytes([data[-1] ^ 1]))
    target = tmp_path / "target" / "analytics.duckdb"
    with pytest.raises(RestoreRefusedError, match="checksum"):
        await restore_snapshot(store, target, 20)
    assert not target.exists()
