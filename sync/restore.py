"""Restore: bring the local journal up to what Blob holds, before any command is taken.

1. Plan: read the manifest and list the segments; ``plan_cover`` picks a contiguous chain from
   position 1 (or refuses: gap, overlap, missing blob). The head Blob should hold is the highest
   of the manifest's and the lock blob's record (``read_head_record``): segments that end before
   it mean a missing tail, and the restore refuses, naming the last position it expected.
2. Split-brain check: the segment holding the last position both sides have is downloaded and its
   records compared with the local ones (or, where it ends at that position, its chain hash with
   the local one there); any difference stops the restore.
3. Download every segment beyond the local head, in parallel (bounded), and verify each one
   (header, checksums, name, contiguity; a v3 body's structure, its states being rebuilt in
   step 4) before the first append.
4. Append in bulk (positions preserved, byte-identical), in large batches, all inside one
   ``RestoreSession`` transaction. The journal's hash chain is recomputed over the records and
   must reach each segment header's hash at its last position and the recorded head hash; the
   first segment's hash before it must be the local chain's there.

Nothing is written locally unless every check passed: a refusal, an error or a kill at any point
rolls the one transaction back, so the local journal stays as it was. Only compressed bytes are
kept between the verification pass and the append pass, so memory stays at about the compressed
size of the missing range plus one batch of records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import msgspec

from events.journal import AsyncJournal, RestoreMismatchError, RestoreSession
from events.records import RawRecord
from events.segments import SegmentError, check_segment, decode_segment, read_header
from sync.blobstore import BlobNotFoundError, BlobStore
from sync.errors import RestoreRefusedError, SplitBrainError
from sync.manifest import (
    MANIFEST_NAME,
    Manifest,
    SegmentEntry,
    list_segments,
    plan_cover,
    read_manifest,
)
from sync.writer_lease import LOCK_BLOB, HeadRecord, read_head_record

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 8
APPEND_BATCH = 50_000
_PLAN_ATTEMPTS = 3
_CHECKS_IN_PARALLEL = 2


class RestorePlan(msgspec.Struct, frozen=True):
    """What Blob holds: the manifest (if any) and the chain of segments covering ``1..head``."""

    manifest: Manifest | None
    chain: list[SegmentEntry]
    recorded: HeadRecord = HeadRecord()
    """The head as the lock blob's metadata records it."""

    @property
    def blob_head(self) -> int:
        """The last position held in Blob (0 when nothing was shipped)."""
        return self.chain[-1].last if self.chain else 0

    def claims(self) -> list[tuple[int, str | None, str]]:
        """Each recorded head: (position, chain hash hex if known, where it is recorded)."""
        out = [(self.recorded.shipped, self.recorded.head_chain, f"the metadata of {LOCK_BLOB}")]
        if self.manifest is not None:
            out.append((self.manifest.shipped, self.manifest.head_chain, MANIFEST_NAME))
        return out

    def check_tail(self) -> None:
        """Refuse when the segments end before a recorded head, or a segment ending at a recorded
        head ends with another hash than the one recorded there."""
        head, _, where = max(self.claims(), key=lambda claim: claim[0])
        if self.blob_head < head:
            raise RestoreRefusedError(
                f"missing tail: {where} records the shipped head at position {head}, but the "
                f"segments in Blob end at {self.blob_head} (positions {self.blob_head + 1}.."
                f"{head} are missing); the last position expected is {head}. Nothing was "
                "restored; find the missing segments (or restore from another copy) first"
            )
        ends = {e.last: e for e in self.chain}
        for position, chain, where in self.claims():
            entry = ends.get(position)
            if entry is not None and None not in (chain, entry.chain) and entry.chain != chain:
                raise RestoreRefusedError(
                    f"segment {entry.name} does not end with the hash {where} records for "
                    f"position {position} (replaced or altered); nothing was restored"
                )


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
    """Read the manifest, the lock blob's head record and the listing; choose the segments."""
    manifest, _ = await read_manifest(store)
    recorded = await read_head_record(store)
    chain = plan_cover(manifest, await list_segments(store))
    return RestorePlan(manifest, chain, recorded)


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

    Raises ``RestoreRefusedError`` (gap, overlap, corrupt segment, missing tail, a chain that
    does not hold) or ``SplitBrainError`` (the local journal holds different events at positions
    Blob also holds).
    """
    started = time.perf_counter()
    for attempt in range(1, _PLAN_ATTEMPTS + 1):
        chosen = await plan(store)
        chosen.check_tail()
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
    session = journal.journal.restore_session()
    await journal.run(session.begin)
    try:
        try:
            events, blob_bytes = await _append_all(
                journal, session, missing, blobs, local_head, batch
            )
        except (RestoreMismatchError, SegmentError) as exc:
            # SegmentError: a v3 body is rebuilt only here (its check was structural).
            raise RestoreRefusedError(f"{exc}; nothing was restored") from None
        _check_head_hash(chosen, session.chain if events else None)
        await journal.run(session.commit)
    except BaseException:
        await journal.run(session.rollback)
        raise
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


async def _append_all(
    journal: AsyncJournal,
    session: RestoreSession,
    missing: Sequence[SegmentEntry],
    blobs: list[bytes],
    local_head: int,
    batch: int,
) -> tuple[int, int]:
    """Decode and append ``missing`` in batches inside ``session``; return (events, bytes)."""
    events = blob_bytes = 0
    pending: list[RawRecord] = []
    checkpoints: dict[int, bytes] = {}
    decoding = _decode_later(missing, blobs, 0)
    for index, entry in enumerate(missing):
        assert decoding is not None
        records = await decoding
        header = read_header(blobs[index])
        if index == 0 and header.prev_chain is not None and entry.first - 1 <= local_head:
            local = await journal.chain_at(entry.first - 1)
            if local != header.prev_chain:
                raise SplitBrainError(
                    f"split brain before {entry.name}: the local journal's hash chain at "
                    f"position {entry.first - 1} differs from the one Blob's segments continue; "
                    "refusing to mix them"
                )
        if header.last_chain is not None:
            checkpoints[entry.last] = header.last_chain
        blob_bytes += len(blobs[index])
        blobs[index] = b""  # decoded: let the compressed copy go
        decoding = _decode_later(missing, blobs, index + 1)  # overlaps with this append
        if entry.first <= local_head:
            records = records[local_head - entry.first + 1 :]
        pending.extend(records)
        if len(pending) >= batch:
            await journal.run(session.append, pending, checkpoints=checkpoints)
            events += len(pending)
            pending, checkpoints = [], {}
    if pending:
        await journal.run(session.append, pending, checkpoints=checkpoints)
        events += len(pending)
    return events, blob_bytes


def _check_head_hash(chosen: RestorePlan, reached: bytes | None) -> None:
    """The chain reached by a restore must be every head hash recorded for where it ends."""
    if reached is None:
        return
    for position, chain, where in chosen.claims():
        if position == chosen.blob_head and chain is not None and reached.hex() != chain:
            raise RestoreRefusedError(
                f"the restored events do not reach the head hash {where} records for position "
                f"{position}; nothing was restored"
            )


async def check_agreement(
    journal: AsyncJournal, store: BlobStore, chosen: RestorePlan, local_head: int
) -> None:
    """Compare the segment holding the last position both sides have with the local journal.

    Where that segment ends at that very position with a known chain hash, the local chain hash
    there is compared instead (the chain covers every event up to it): no download, no decode.
    Only when they differ are the records compared, to name the first position that differs.
    """
    common = min(local_head, chosen.blob_head)
    if common == 0:
        return
    entry = next(e for e in chosen.chain if e.first <= common <= e.last)
    if (
        entry.last == common
        and entry.chain is not None
        and (await journal.chain_at(common)).hex() == entry.chain
    ):
        return
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
