"""Restore: bring the local journal up to what Blob holds, before any command is taken.

1. Plan: read the manifest and list the segments; ``plan_cover`` picks a contiguous chain from
   position 1 (or refuses: gap, overlap, missing blob).
2. Split-brain check: the segment holding the last position both sides have is downloaded and its
   records compared with the local ones; any difference stops the restore.
3. Download every segment beyond the local head, in parallel (bounded), and verify each one
   completely (header, checksums, name, contiguity) before the first append.
4. Append in bulk with ``append_raw`` (positions preserved, byte-identical), in large batches.

Nothing is written locally unless every check passed. Only compressed bytes are kept between the
verification pass and the append pass, so memory stays at about the compressed size of the
missing range plus one batch of records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import msgspec

from events.journal import AsyncJournal
from events.records import RawRecord
from events.segments import SegmentError, check_segment, decode_segment
from sync.blobstore import BlobNotFoundError, BlobStore
from sync.errors import RestoreRefusedError, SplitBrainError
from sync.manifest import Manifest, SegmentEntry, list_segments, plan_cover, read_manifest

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 8
APPEND_BATCH = 50_000
_PLAN_ATTEMPTS = 3
_CHECKS_IN_PARALLEL = 2


class RestorePlan(msgspec.Struct, frozen=True):
    """What Blob holds: the manifest (if any) and the chain of segments covering ``1..head``."""

    manifest: Manifest | None
    chain: list[SegmentEntry]

    @property
    def blob_head(self) -> int:
        """The last position held in Blob (0 when nothing was shipped)."""
        return self.chain[-1].last if self.chain else 0


class RestoreReport(msgspec.Struct, frozen=True):
    """What a restore did."""

    local_head_before: int
    local_head_after: int
    blob_head: int
    segments: int
    events: int
    bytes: int
    seconds: float

    @property
    def local_ahead(self) -> int:
        """Local events not yet in Blob (the shipper will ship them)."""
        return max(0, self.local_head_after - self.blob_head)


async def plan(store: BlobStore) -> RestorePlan:
    """Read the manifest and the listing and choose the chain of segments."""
    manifest, _ = await read_manifest(store)
    chain = plan_cover(manifest, await list_segments(store))
    return RestorePlan(manifest, chain)


async def download_verified(
    store: BlobStore, entries: Sequence[SegmentEntry], *, parallel: int = DEFAULT_PARALLEL
) -> list[bytes]:
    """Download ``entries`` (at most ``parallel`` at a time) and verify each one completely."""
    limit = asyncio.Semaphore(parallel)
    # A check holds one decompressed body: two at a time bound memory, and zstd (which releases
    # the GIL) still overlaps with the downloads.
    checking = asyncio.Semaphore(_CHECKS_IN_PARALLEL)

    async def fetch(entry: SegmentEntry) -> bytes:
        async with limit:
            data, _ = await store.read(entry.name)
        async with checking:
            await asyncio.to_thread(_verify_fully, data, entry)
        return data

    return list(await asyncio.gather(*(fetch(e) for e in entries)))


def _decode_later(
    entries: Sequence[SegmentEntry], blobs: list[bytes], index: int
) -> asyncio.Future[list[RawRecord]] | None:
    """Decode segment ``index`` in a worker thread (``None`` past the end)."""
    if index >= len(entries):
        return None
    return asyncio.ensure_future(
        asyncio.to_thread(decode_segment, blobs[index], name=entries[index].name)
    )


def _verify_fully(data: bytes, entry: SegmentEntry) -> None:
    try:
        if len(data) != entry.size:
            raise SegmentError(
                f"segment {entry.name}: {len(data)} bytes where the manifest lists "
                f"{entry.size} (truncated or replaced)"
            )
        check_segment(data, name=entry.name, sha256=entry.sha256)
    except SegmentError as exc:
        raise RestoreRefusedError(str(exc)) from None


async def restore(
    journal: AsyncJournal,
    store: BlobStore,
    *,
    parallel: int = DEFAULT_PARALLEL,
    batch: int = APPEND_BATCH,
) -> RestoreReport:
    """Append every shipped event beyond the local head, or refuse and change nothing.

    Raises ``RestoreRefusedError`` (gap, overlap, corrupt segment) or ``SplitBrainError`` (the
    local journal holds different events at positions Blob also holds).
    """
    started = time.perf_counter()
    for attempt in range(1, _PLAN_ATTEMPTS + 1):
        chosen = await plan(store)
        local_head = journal.head()
        try:
            await check_agreement(journal, store, chosen, local_head)
            missing = [e for e in chosen.chain if e.last > local_head]
            blobs = await download_verified(store, missing, parallel=parallel)
        except BlobNotFoundError:
            # A compaction elsewhere switched the manifest and deleted a segment we planned on.
            if attempt == _PLAN_ATTEMPTS:
                raise
            log.info("a planned segment disappeared (compaction?); planning again")
            continue
        break
    events = blob_bytes = 0
    pending: list[RawRecord] = []
    decoding = _decode_later(missing, blobs, 0)
    for index, entry in enumerate(missing):
        assert decoding is not None
        records = await decoding
        blob_bytes += len(blobs[index])
        blobs[index] = b""  # decoded: let the compressed copy go
        decoding = _decode_later(missing, blobs, index + 1)  # overlaps with this append
        if entry.first <= local_head:
            records = records[local_head - entry.first + 1 :]
        pending.extend(records)
        if len(pending) >= batch:
            await journal.append_raw(pending)
            events += len(pending)
            pending = []
    if pending:
        await journal.append_raw(pending)
        events += len(pending)
    report = RestoreReport(
        local_head_before=local_head,
        local_head_after=journal.head(),
        blob_head=chosen.blob_head,
        segments=len(missing),
        events=events,
        bytes=blob_bytes,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "restored %d events in %d segments (%d bytes) in %.2f s; local head %d, blob head %d",
        report.events,
        report.segments,
        report.bytes,
        report.seconds,
        report.local_head_after,
        report.blob_head,
    )
    return report


async def check_agreement(
    journal: AsyncJournal, store: BlobStore, chosen: RestorePlan, local_head: int
) -> None:
    """Compare the segment holding the last position both sides have with the local journal."""
    common = min(local_head, chosen.blob_head)
    if common == 0:
        return
    entry = next(e for e in chosen.chain if e.first <= common <= e.last)
    data = (await download_verified(store, [entry]))[0]
    remote = decode_segment(data, name=entry.name)[: common - entry.first + 1]
    local = await journal.read_raw(entry.first, common - entry.first + 1)
    first_difference(local, remote, where=entry.name)


def first_difference(
    local: Sequence[RawRecord], remote: Sequence[RawRecord], *, where: str
) -> None:
    """Raise ``SplitBrainError`` at the first position where the two record lists differ."""
    for mine, theirs in zip(local, remote, strict=False):
        if mine != theirs:
            raise SplitBrainError(
                f"split brain at position {mine.position}: the local journal has "
                f"{mine.tag} on {mine.stream} v{mine.version}, Blob ({where}) has "
                f"{theirs.tag} on {theirs.stream} v{theirs.version}"
                + (" (same event, different bytes)" if mine.tag == theirs.tag else "")
                + "; refusing to mix them. Move the local data folder aside to restore from Blob, "
                "or investigate which instance wrote without the lease."
            )
    if len(local) != len(remote):
        raise SplitBrainError(
            f"split brain near {where}: local has {len(local)} events there, Blob {len(remote)}"
        )
