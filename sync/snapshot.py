"""DuckDB analytics snapshots in Blob: a cold start restores the journal, then skips most of the
projection rebuild by starting from a snapshot and catching up from its position.

A snapshot is a consistent copy of the live analytics database (``COPY FROM DATABASE`` inside one
DuckDB transaction, so the tracking table and the rows agree), zstd-compressed, uploaded
create-only as ``snapshots/analytics-<position>.duckdb.zst``; the manifest then points at it and
older snapshots are deleted. Its position is the lowest applied position of its projections:
catch-up resumes each projection from its own tracked position, so nothing is applied twice.

The journal stays the truth: a snapshot is used only when its position is within the restored
journal and no local analytics file exists (or the local one is known to be empty); a damaged one
is refused by its checksum.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import msgspec

from projections.analytics import Analytics
from sync.blobstore import BlobExistsError, BlobStore, upload_file
from sync.errors import RestoreRefusedError
from sync.manifest import SNAPSHOT_PREFIX, Manifest, SnapshotEntry, read_manifest, update_manifest
from sync.transfer import (
    DamagedFileError,
    blob_size_and_sha256,
    delete_others,
    download_unpacked,
    pack_copy,
    remove,
    swap_in,
)

log = logging.getLogger(__name__)

ANALYTICS_SNAPSHOT_PREFIX = f"{SNAPSHOT_PREFIX}analytics-"


SCRATCH_PREFIX = ".snapshot-"
"""The analytics snapshot's scratch files and folders beside the analytics file: what a shipping
or a restore killed half-way leaves, removed at the next start (``sync.journal_snapshot``'s
``place_journal_snapshot``, under the folder's writer lock)."""


def snapshot_name(position: int) -> str:
    """The blob name of a snapshot at ``position``."""
    return f"{ANALYTICS_SNAPSHOT_PREFIX}{position:012d}.duckdb.zst"


def export_copy(analytics: Analytics, dest: Path) -> int:
    """Write a consistent copy of the live database to ``dest``; return its position."""
    dest.unlink(missing_ok=True)
    with analytics.cursor() as cur:
        row = cur.execute("SELECT current_database()").fetchone()
        live = str(row[0]) if row else "memory"
        cur.execute("ATTACH ? AS snapshot_copy", [str(dest)])
        try:
            cur.execute(f'COPY FROM DATABASE "{live}" TO snapshot_copy')
        finally:
            cur.execute("DETACH snapshot_copy")
    con = duckdb.connect(str(dest), read_only=True)
    try:
        found = con.execute("SELECT min(position) FROM projection_positions").fetchone()
    finally:
        con.close()
    return int(found[0]) if found and found[0] is not None else 0


async def ship_snapshot(store: BlobStore, analytics: Analytics) -> SnapshotEntry | None:
    """Upload a snapshot of ``analytics`` unless the manifest has one as recent; return it.

    The copy, its compression and the upload go through files in pieces, beside the analytics
    file (a container's /tmp may be memory): never the whole snapshot in the bot's memory.
    """
    beside = analytics.path.parent if str(analytics.path) != ":memory:" else None
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=beside) as scratch:
        copy = Path(scratch) / "analytics.duckdb"
        position = await asyncio.to_thread(export_copy, analytics, copy)
        manifest, _ = await read_manifest(store)
        if position == 0 or (
            manifest and manifest.snapshot and manifest.snapshot.position >= position
        ):
            return None
        packed, size, sha256 = await asyncio.to_thread(pack_copy, copy)
        entry = SnapshotEntry(snapshot_name(position), position, size, sha256)
        try:
            await upload_file(store, entry.name, packed)
        except BlobExistsError:  # an earlier attempt: use what is there
            size, sha256 = await blob_size_and_sha256(store, entry.name)
            entry = SnapshotEntry(entry.name, position, size, sha256)
    switched = await update_manifest(store, partial(_with_snapshot, entry))
    if switched.snapshot == entry:
        # The journal snapshots under the same prefix are not this one's to delete.
        await delete_others(store, ANALYTICS_SNAPSHOT_PREFIX, entry.name)
        log.info("shipped analytics snapshot at position %d (%d bytes)", position, entry.size)
    return entry


def _with_snapshot(entry: SnapshotEntry, manifest: Manifest) -> Manifest | None:
    if manifest.snapshot is not None and manifest.snapshot.position >= entry.position:
        return None
    return msgspec.structs.replace(manifest, snapshot=entry)


async def restore_snapshot(
    store: BlobStore,
    analytics_path: Path,
    journal_head: int,
    *,
    replaceable: Callable[[], bool] | None = None,
) -> int | None:
    """Put the shipped snapshot at ``analytics_path`` if there is no local analytics file yet.

    ``replaceable`` says whether an existing local file may be replaced all the same: a process
    that opened its (empty) analytics before restoring passes it, then reopens the file by inode.
    Returns the snapshot's position, or ``None`` when none was used (no snapshot, a local file
    that must stay, or the snapshot is ahead of the journal). Refuses a bad checksum.
    """
    if await asyncio.to_thread(analytics_path.exists) and not (
        replaceable is not None and await asyncio.to_thread(replaceable)
    ):
        return None
    manifest, _ = await read_manifest(store)
    snap = manifest.snapshot if manifest else None
    if snap is None or snap.position > journal_head:
        return None
    await asyncio.to_thread(analytics_path.parent.mkdir, parents=True, exist_ok=True)
    unpacked = analytics_path.parent / f"{SCRATCH_PREFIX}{uuid.uuid4().hex}.duckdb"
    try:
        try:
            await download_unpacked(store, snap.name, unpacked, size=snap.size, sha256=snap.sha256)
        except DamagedFileError as exc:
            raise RestoreRefusedError(f"snapshot {exc}") from None
        await asyncio.to_thread(swap_in, unpacked, analytics_path)
    finally:
        await asyncio.to_thread(remove, unpacked)
    log.info("analytics snapshot at position %d put in place", snap.position)
    return snap.position
