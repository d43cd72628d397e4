"""Journal snapshots in Blob: a copy of the SQLite journal file where a shipped segment ends, so an
empty-disk start replays only the segments after it instead of every event from position 1.

Shipping (the writer, beside the DuckDB snapshot): the manifest's shipped head ``P`` is the end of
a shipped segment, and every position up to it is in the local journal. The journal file is copied
with SQLite's backup API in one step (one read transaction: consistent while the writer appends),
positions after ``P`` are cut from the copy (the ``command_ids`` row of a command straddling ``P``
ends where a restore up to ``P`` would end it), its chain hash at ``P`` must be the manifest's,
and it is compressed with zstd and uploaded create-only, all in pieces (never whole in memory) and
in a worker thread. The manifest records name, position, size, SHA-256 and the chain hash at
``P``; older journal snapshots are deleted after the switch.

Placing (``place_journal_snapshot``, run *before* the journal is opened, under the folder's
writer lock): only when the local journal has no rows. The snapshot must not be ahead of the
segments' head, its chain hash at ``P`` must be the one Blob's segments reach there (the entry of
the segment ending at ``P``; after a compaction merged that boundary away, the chain computed over
the segment holding ``P`` from its header's hash before it), its download must match the
manifest's size and SHA-256, and the decompressed file must hold ``1..P`` with that chain hash at
``P``. Then it replaces the (empty) journal file with ``os.replace``: a kill at any step leaves
either the empty journal or the whole snapshot, and temporaries that the next start removes.
Anything refused is logged and the start restores every segment as before: the segments are the
truth; the snapshot only saves time. The normal restore then appends the segments after ``P``
(its split-brain check and chain check run against the placed file as against any local journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import msgspec

from events.chain import chain_end, record_rows
from events.codec import EventCodec
from events.journal import JournalReader, WriterBusyError, WriterLock
from events.segments import SegmentError, decode_segment, read_header
from sync.blobstore import BlobExistsError, BlobStore, BlobStoreError, upload_file
from sync.errors import RestoreRefusedError
from sync.manifest import (
    SNAPSHOT_PREFIX,
    JournalSnapshotEntry,
    Manifest,
    SegmentEntry,
    read_manifest,
    update_manifest,
)
from sync.restore import download_verified, plan
from sync.snapshot import SCRATCH_PREFIX as ANALYTICS_SCRATCH_PREFIX
from sync.transfer import (
    DamagedFileError,
    delete_others,
    download_unpacked,
    pack_copy,
    remove,
    swap_in,
)

log = logging.getLogger(__name__)

JOURNAL_SNAPSHOT_PREFIX = f"{SNAPSHOT_PREFIX}journal-"
_TEMP_PREFIX = ".journal-snapshot-"


class JournalSnapshotRefusedError(RestoreRefusedError):
    """A journal snapshot that does not hold what the manifest and the segments say."""


class PlacedJournalSnapshot(msgspec.Struct, frozen=True):
    """A journal snapshot put in place of an empty local journal."""

    position: int
    bytes: int
    seconds: float


def journal_snapshot_name(position: int, sha256: str) -> str:
    """The blob name of a journal snapshot (its hash in the name: a retried upload of the same
    bytes finds its own blob, different bytes never collide)."""
    return f"{JOURNAL_SNAPSHOT_PREFIX}{position:012d}-{sha256[:16]}.sqlite.zst"


# -- shipping (the writer) ---------------------------------------------------------------------


def copy_journal(source: Path, dest: Path, position: int) -> bytes:
    """Write a consistent copy of the journal file ``source`` holding positions ``1..position``
    to ``dest`` (a single file, rollback-journal mode); return its chain hash at ``position``."""
    dest.unlink(missing_ok=True)
    live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(dest)
        try:
            live.backup(out)  # one step (pages=-1): one read transaction of the live file
        finally:
            out.close()
    finally:
        live.close()
    con = sqlite3.connect(dest, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("BEGIN IMMEDIATE")
        head = _one(con, "SELECT MAX(rowid) FROM stored_events")
        if head < position:
            raise JournalSnapshotRefusedError(
                f"the local journal ends at {head}, before the shipped head {position}"
            )
        _end_commands_at(con, position)
        con.execute("DELETE FROM command_ids WHERE first_position > ?", (position,))
        con.execute("DELETE FROM stored_events WHERE rowid > ?", (position,))
        con.execute("DELETE FROM event_chain WHERE position > ?", (position,))
        row = con.execute("SELECT hash FROM event_chain WHERE position = ?", (position,)).fetchone()
        if row is None:
            raise JournalSnapshotRefusedError(f"the local journal has no chain hash at {position}")
        con.execute("COMMIT")
        return bytes(row[0])
    finally:
        con.close()


def _end_commands_at(con: sqlite3.Connection, position: int) -> None:
    """A command whose events straddle ``position`` ends, in the copy, at its last event up to
    ``position``: what a restore up to there writes (the later segments extend it)."""
    codec = EventCodec()
    straddling = con.execute(
        "SELECT command_id, first_position FROM command_ids "
        "WHERE first_position <= ? AND last_position > ?",
        (position, position),
    ).fetchall()
    for command_id, first in straddling:
        rows = con.execute(
            "SELECT rowid, state FROM stored_events WHERE rowid BETWEEN ? AND ?",
            (first, position),
        ).fetchall()
        last = max(p for p, state in rows if codec.command_id_of(state) == command_id)
        con.execute(
            "UPDATE command_ids SET last_position = ? WHERE command_id = ?", (last, command_id)
        )


def _one(con: sqlite3.Connection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0] or 0) if row is not None else 0


async def ship_journal_snapshot(
    store: BlobStore, journal_path: Path
) -> JournalSnapshotEntry | None:
    """Upload a snapshot of the journal at the manifest's shipped head, unless the manifest has
    one there already; return it. Only the lease holder (the one writer) calls this."""
    manifest, _ = await read_manifest(store)
    if manifest is None or manifest.shipped == 0 or manifest.head_chain is None:
        return None
    known = manifest.journal_snapshot
    if known is not None and known.position >= manifest.shipped:
        return None
    position = manifest.shipped
    # Beside the journal, not in /tmp: a container's /tmp may be memory.
    with tempfile.TemporaryDirectory(prefix=_TEMP_PREFIX, dir=journal_path.parent) as scratch:
        copy = Path(scratch) / "journal.sqlite"
        chain = await asyncio.to_thread(copy_journal, journal_path, copy, position)
        if chain.hex() != manifest.head_chain:
            raise JournalSnapshotRefusedError(
                f"the local journal's chain hash at {position} is not the one the manifest "
                "records there: no journal snapshot shipped"
            )
        packed, size, sha256 = await asyncio.to_thread(pack_copy, copy)
        entry = JournalSnapshotEntry(
            journal_snapshot_name(position, sha256), position, size, sha256, chain.hex()
        )
        with contextlib.suppress(BlobExistsError):  # an earlier try uploaded these very bytes
            await upload_file(store, entry.name, packed)
    switched = await update_manifest(store, partial(_with_journal_snapshot, entry))
    if switched.journal_snapshot == entry:
        await delete_others(store, JOURNAL_SNAPSHOT_PREFIX, entry.name)
        log.info("shipped journal snapshot at position %d (%d bytes)", position, size)
    return entry


def _with_journal_snapshot(entry: JournalSnapshotEntry, manifest: Manifest) -> Manifest | None:
    known = manifest.journal_snapshot
    if known is not None and known.position >= entry.position:
        return None
    return msgspec.structs.replace(manifest, journal_snapshot=entry)


# -- placing (an empty-disk start, before the journal is opened) -------------------------------


def local_rows(journal_path: Path) -> int:
    """The local journal's head (0 when the file or its table is missing)."""
    if not journal_path.exists():
        return 0
    con = sqlite3.connect(journal_path)
    try:
        found = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stored_events'"
        ).fetchone()
        return _one(con, "SELECT MAX(rowid) FROM stored_events") if found else 0
    finally:
        con.close()


async def place_journal_snapshot(
    store: BlobStore, journal_path: Path
) -> PlacedJournalSnapshot | None:
    """Put the shipped journal snapshot at ``journal_path`` when the local journal has no rows.

    Run before the journal is opened. Returns what was placed, or ``None`` (no snapshot, a local
    journal with rows, another writer on the folder, or a snapshot refused: logged, and the
    restore then appends every segment as it would without one).
    """
    started = time.perf_counter()
    folder = journal_path.parent
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    try:
        lock = WriterLock(folder, command="journal snapshot").acquire()
    except WriterBusyError:
        return None  # opening the journal names the holder
    try:
        await asyncio.to_thread(_remove_temporaries, folder)
        head = await asyncio.to_thread(local_rows, journal_path)
        if head:
            log.info("the local journal has %d events: the journal snapshot is not used", head)
            return None
        try:
            entry = await _checked_entry(store)
            if entry is None:
                return None
            await _fetch_and_place(store, entry, journal_path)
        except (JournalSnapshotRefusedError, BlobStoreError) as exc:
            log.warning("journal snapshot refused (%s); restoring every segment instead", exc)
            return None
        except RestoreRefusedError:
            return None  # the restore that follows refuses the same plan, saying why
        placed = PlacedJournalSnapshot(entry.position, entry.size, time.perf_counter() - started)
    finally:
        await asyncio.to_thread(_remove_temporaries, folder)
        lock.release()
    log.info(
        "journal snapshot at position %d put in place (%d bytes) in %.2f s",
        placed.position,
        placed.bytes,
        placed.seconds,
    )
    return placed


async def _checked_entry(store: BlobStore) -> JournalSnapshotEntry | None:
    """The manifest's journal snapshot, once its position and chain hash agree with the segments."""
    manifest, _ = await read_manifest(store)
    entry = manifest.journal_snapshot if manifest is not None else None
    if entry is None:
        return None
    chosen = await plan(store)
    chosen.check_tail()
    if entry.position > chosen.blob_head:
        raise JournalSnapshotRefusedError(
            f"it is at position {entry.position}, ahead of the segments' head {chosen.blob_head}"
        )
    holding = next(e for e in chosen.chain if e.first <= entry.position <= e.last)
    reached = await _segment_chain_at(store, holding, entry.position)
    if reached.hex() != entry.chain:
        raise JournalSnapshotRefusedError(
            f"its chain hash at {entry.position} is not the one the segments reach there"
        )
    return entry


async def _segment_chain_at(store: BlobStore, segment: SegmentEntry, position: int) -> bytes:
    """The chain hash at ``position`` as Blob's segments have it: the entry's hash when the
    segment ends there, else computed over the segment from its header's hash before it."""
    if segment.last == position and segment.chain is not None:
        return bytes.fromhex(segment.chain)
    # Checked as the restore checks every segment (size, checksum, structure): a damaged one is
    # the restore's refusal, which the start then reports.
    data = (await download_verified(store, [segment]))[0]
    try:
        header = read_header(data)
        if segment.last == position and header.last_chain is not None:
            return header.last_chain
        if header.prev_chain is None:
            raise JournalSnapshotRefusedError(f"segment {segment.name} has no chain to check it")
        records = await asyncio.to_thread(decode_segment, data, name=segment.name)
    except SegmentError as exc:
        raise JournalSnapshotRefusedError(str(exc)) from None
    return chain_end(header.prev_chain, record_rows(records[: position - segment.first + 1]))


async def _fetch_and_place(store: BlobStore, entry: JournalSnapshotEntry, target: Path) -> None:
    """Download and decompress beside ``target`` (checked), check the file, swap it in."""
    unpacked = target.parent / f"{_TEMP_PREFIX}{uuid.uuid4().hex}.sqlite"
    try:
        await download_unpacked(store, entry.name, unpacked, size=entry.size, sha256=entry.sha256)
    except DamagedFileError as exc:
        raise JournalSnapshotRefusedError(str(exc)) from None
    await asyncio.to_thread(_check_file, unpacked, entry)
    # The empty journal's own files must never be applied to the snapshot.
    suffixes = ("-wal", "-shm", "-journal")
    await asyncio.to_thread(remove, *(Path(f"{target}{suffix}") for suffix in suffixes))
    await asyncio.to_thread(swap_in, unpacked, target)


def _check_file(path: Path, entry: JournalSnapshotEntry) -> None:
    """The decompressed file holds ``1..position`` and the recorded chain hash at ``position``."""
    try:
        reader = JournalReader(path)
        try:
            head, chained = reader.head(), reader.chain_end()
            at = reader.chain_hashes(entry.position, entry.position).get(entry.position)
        finally:
            reader.close()
    except sqlite3.DatabaseError as exc:
        raise JournalSnapshotRefusedError(f"{entry.name} is not a journal: {exc}") from None
    if (head, chained) != (entry.position, entry.position):
        raise JournalSnapshotRefusedError(
            f"{entry.name} holds events up to {head} (chained to {chained}), not "
            f"{entry.position} as the manifest says"
        )
    if at is None or at.hex() != entry.chain:
        raise JournalSnapshotRefusedError(
            f"{entry.name}: its chain hash at {entry.position} is not the manifest's"
        )


def _remove_temporaries(folder: Path) -> None:
    """What a placement or a shipping (of either snapshot) killed half-way left in the folder
    (called under the folder's writer lock: nobody else is placing or shipping there)."""
    for prefix in (_TEMP_PREFIX, ANALYTICS_SCRATCH_PREFIX):
        for leftover in folder.glob(f"{prefix}*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
