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
import contextlib
import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import msgspec
import zstandard

from projections.analytics import Analytics
from sync.blobstore import BlobExistsError, BlobStore
from sync.errors import RestoreRefusedError
from sync.manifest import SNAPSHOT_PREFIX, Manifest, SnapshotEntry, read_manifest, update_manifest

log = logging.getLogger(__name__)

_ZSTD_LEVEL = 3  # analytics files are large and compress well already at the fast level


ANALYTICS_SNAPSHOT_PREFIX = f"{SNAPSHOT_PREFIX}analytics-"


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


def _compress(source: Path) -> bytes:
    with source.open("rb") as handle:
        return zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1).compress(handle.read())


async def ship_snapshot(store: BlobStore, analytics: Analytics) -> SnapshotEntry | None:
    """Upload a snapshot of ``analytics`` unless the manifest has one as recent; return it."""
    with tempfile.TemporaryDirectory(prefix="ibpicker-snapshot-") as scratch:
        copy = Path(scratch) / "analytics.duckdb"
        position = await asyncio.to_thread(export_copy, analytics, copy)
        manifest, _ = await read_manifest(store)
        if position == 0 or (
            manifest and manifest.snapshot and manifest.snapshot.position >= position
        ):
            return None
        data = await asyncio.to_thread(_compress, copy)
    entry = SnapshotEntry(
        snapshot_name(position), position, len(data), hashlib.sha256(data).hexdigest()
    )
    try:
        await store.create(entry.name, data)
    except BlobExistsError:
        data, _ = await store.read(entry.name)  # an earlier attempt: use what is there
        entry = SnapshotEntry(entry.name, position, len(data), hashlib.sha256(data).hexdigest())
    switched = await update_manifest(store, partial(_with_snapshot, entry))
    if switched.snapshot == entry:
        # The journal snapshots under the same prefix are not this one's to delete.
        for blob in await store.list(ANALYTICS_SNAPSHOT_PREFIX):
            if blob.name != entry.name:
                await store.delete(blob.name)
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
    data, _ = await store.read(snap.name)
    if hashlib.sha256(data).hexdigest() != snap.sha256:
        raise RestoreRefusedError(f"snapshot {snap.name}: checksum differs from the manifest")
    await asyncio.to_thread(_place, data, analytics_path)
    log.info("analytics snapshot at position %d put in place", snap.position)
    return snap.position


def _place(data: bytes, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".snapshot-", suffix=".duckdb")
    try:
        with os.fdopen(fd, "wb") as out:
            # BytesIO shares the bytes until written to: no second copy of a large snapshot.
            zstandard.ZstdDecompressor().copy_stream(io.BytesIO(data), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
