"""``ibpicker sync status | push | pull | verify | compact``: the operator's view of Blob.

Each command takes ``--data-dir`` (the local journal) and reads the blob settings from the
environment (``IBPICKER_BLOB_*``; the local folder ``<data-dir>/blob`` by default). Commands that
write to Blob (``push``, ``compact``) take the writer lease first and refuse while a bot holds it.
Errors are printed as one clear line and exit with status 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cli_options import DataDirOption, JsonOption, resolve_data_dir
from events.journal import AsyncJournal, Journal, JournalError, JournalReader
from events.records import RawRecord
from events.segments import SegmentError, decode_segment
from projections.workspace import journal_path
from settings import SettingsError, load_settings
from sync.blobstore import BlobStore, BlobStoreError
from sync.compaction import DEFAULT_TARGET_EVENTS, compact
from sync.errors import SyncError
from sync.journal_snapshot import PlacedJournalSnapshot, place_journal_snapshot
from sync.manifest import read_manifest
from sync.restore import download_verified, first_difference, plan, restore
from sync.shipper import Shipper
from sync.stores import open_blob_store
from sync.writer_lease import LeaseKeeper

_T = TypeVar("_T")

app = typer.Typer(
    name="sync",
    help="Journal segments in Blob Storage: status, push, pull, verify, compact.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    """Add the ``sync`` group to the ``ibpicker`` command line."""
    root.add_typer(app, name="sync")


class _ReadOnlyJournal:
    """The local journal read-only (no writer lock): ``status`` and ``verify`` run beside a bot."""

    def __init__(self, path: Path) -> None:
        self._reader = JournalReader(path) if path.exists() else None

    def head(self) -> int:
        """The local head (0 without a journal)."""
        return self._reader.head() if self._reader is not None else 0

    async def read_raw(self, start: int, limit: int) -> list[RawRecord]:
        """Up to ``limit`` records from ``start``, every chain link checked."""
        if self._reader is None:
            return []
        return [
            RawRecord(*row)
            for page in self._reader.row_pages(start, start + limit - 1)
            for row in page.rows
        ]

    async def close(self) -> None:
        """Close the read-only connection."""
        if self._reader is not None:
            self._reader.close()


def _run(
    data_dir: Path | None,
    work: Callable[[Any, BlobStore], Awaitable[_T]],
    *,
    writer: bool = True,
    placed: list[PlacedJournalSnapshot | None] | None = None,
) -> _T:
    """Open the journal and the store, run ``work``, translate errors into a message and exit 1.

    A ``writer`` takes the data folder's writer lock with the journal (``WriterBusyError``, named
    holder, while a bot or console runs on it); otherwise the journal is only read. With
    ``placed`` (a list to append to), an empty journal is first replaced by the shipped journal
    snapshot, as a bot's start does.
    """
    folder = resolve_data_dir(data_dir)

    async def main() -> _T:
        store = open_blob_store(load_settings(data_dir=folder))
        path = journal_path(folder)
        try:
            if placed is not None:
                placed.append(await place_journal_snapshot(store, path))
            journal: AsyncJournal | _ReadOnlyJournal = (
                AsyncJournal(Journal.open(path)) if writer else _ReadOnlyJournal(path)
            )
        except BaseException:
            await store.close()
            raise
        try:
            return await work(journal, store)
        finally:
            await journal.close()
            await store.close()

    try:
        return asyncio.run(main())
    except (SyncError, BlobStoreError, SettingsError, JournalError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")


async def _as_writer(
    store: BlobStore, work: Callable[[], Awaitable[_T]], lease: LeaseKeeper | None = None
) -> _T:
    """Run ``work`` holding the writer lease; refuse when another instance holds it."""
    lease = lease or LeaseKeeper(store, duration_s=30)
    if not await lease.acquire(wait=False):
        raise SyncError("another instance (a running bot?) holds the writer lease; not writing")
    try:
        return await work()
    finally:
        await lease.release()


@app.command()
def status(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Show what Blob holds against the local journal."""

    async def work(journal: _ReadOnlyJournal, store: BlobStore) -> dict[str, Any]:
        manifest, _ = await read_manifest(store)
        head = journal.head()
        shipped = manifest.shipped if manifest else 0
        return {
            "local_head": head,
            "blob_shipped": shipped,
            "unshipped": max(0, head - shipped),
            "behind_blob": max(0, shipped - head),
            "segments": len(manifest.segments) if manifest else 0,
            "blob_bytes": sum(e.size for e in manifest.segments) if manifest else 0,
            "snapshot_position": manifest.snapshot.position
            if manifest and manifest.snapshot
            else None,
            "journal_snapshot_position": manifest.journal_snapshot.position
            if manifest and manifest.journal_snapshot
            else None,
        }

    _print(_run(data_dir, work, writer=False), as_json)


@app.command()
def push(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Ship every local event not yet in Blob (takes the writer lease)."""

    async def work(journal: AsyncJournal, store: BlobStore) -> dict[str, Any]:
        lease = LeaseKeeper(store, duration_s=30)
        shipper = Shipper(journal, store, record_head=lease.record_head)
        shipped = await _as_writer(store, shipper.ship_now, lease)
        return {"shipped": shipped, "bytes": shipper.bytes_shipped}

    _print(_run(data_dir, work), as_json)


@app.command()
def pull(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Restore every shipped event the local journal lacks (verifying everything first); an
    empty journal starts from the shipped journal snapshot, if one holds."""

    placed: list[PlacedJournalSnapshot | None] = []

    async def work(journal: AsyncJournal, store: BlobStore) -> dict[str, Any]:
        report = await restore(journal, store)
        snapshot = placed[0] if placed else None
        return {
            "journal_snapshot_position": snapshot.position if snapshot else None,
            "restored_events": report.events,
            "segments": report.segments,
            "local_head": report.local_head_after,
            "blob_head": report.blob_head,
            "seconds": round(report.seconds, 3),
        }

    _print(_run(data_dir, work, placed=placed), as_json)


@app.command()
def verify(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Download and check every segment, and compare it with the local journal where both exist."""

    async def work(journal: _ReadOnlyJournal, store: BlobStore) -> dict[str, Any]:
        chosen = await plan(store)
        blobs = await download_verified(store, chosen.chain)
        head = journal.head()
        for entry, data in zip(chosen.chain, blobs, strict=True):
            if entry.first > head:
                break
            try:
                remote = decode_segment(data, name=entry.name)
            except SegmentError as exc:  # pragma: no cover - download_verified decoded it
                raise SyncError(str(exc)) from None
            upto = min(entry.last, head)
            local = await journal.read_raw(entry.first, upto - entry.first + 1)
            first_difference(local, remote[: upto - entry.first + 1], where=entry.name)
        return {
            "ok": True,
            "segments": len(chosen.chain),
            "blob_head": chosen.blob_head,
            "compared_with_local_up_to": min(head, chosen.blob_head),
        }

    _print(_run(data_dir, work, writer=False), as_json)


@app.command("compact")
def compact_command(
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
    target_events: Annotated[
        int, typer.Option("--target-events", help="Events per merged segment at most.", min=2)
    ] = DEFAULT_TARGET_EVENTS,
) -> None:
    """Merge small segments into larger ones (takes the writer lease)."""

    async def work(journal: AsyncJournal, store: BlobStore) -> dict[str, Any]:
        report = await _as_writer(store, lambda: compact(store, target_events=target_events))
        return {
            "merged_runs": report.merged_runs,
            "segments_before": report.segments_before,
            "segments_after": report.segments_after,
            "deleted_blobs": report.deleted,
        }

    _print(_run(data_dir, work), as_json)
