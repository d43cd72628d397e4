"""The shipper: seals new journal events into segments, uploads them create-only, then the manifest.

Policy: a segment is sealed when ``max_events`` are pending, when the oldest pending event is
``max_age_s`` old, when someone awaits ``wait_shipped`` (durable-ack mode) and on graceful stop.
It runs as one asyncio task beside the bot. When the store is unavailable it keeps the bot
serving, backs off (capped, jittered) and ships the backlog when the store returns; since every
segment starts right after the manifest's shipped position, nothing is lost or duplicated.

Retries are safe: an upload retried after a timeout finds its blob there (create-only), reads it
back and compares. The same events → done; different ones → ``SplitBrainError``, and the shipper
stops: two writers disagree and a human must decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

import msgspec

from events.journal import JournalCorruptError
from events.records import RawRecord
from events.segments import Segment, SegmentError, decode_segment, encode_segment
from sync.blobstore import BlobExistsError, BlobStore, BlobStoreError, BlobStoreUnavailableError
from sync.errors import NotWritableError, SplitBrainError, SyncError
from sync.manifest import (
    Manifest,
    ManifestCache,
    SegmentEntry,
    list_segments,
    read_manifest,
    update_manifest,
)
from sync.restore import first_difference
from sync.retry import STORE_RETRY_MAX_S, STORE_RETRY_MIN_S, Sleep, store_retrying

log = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS = 500
HEAD_RECORD_EVERY_S = 1.0
"""The lock blob's copy of the shipped head is rewritten at most this often (and at a stop)."""
DEFAULT_MAX_AGE_S = 2.0
# A backlog (after an outage) ships in segments this large at most, so one upload stays small.
MAX_SEGMENT_EVENTS = 20_000


class JournalSource(Protocol):
    """What the shipper reads: the head and raw records (``events.journal.AsyncJournal``)."""

    def head(self) -> int:
        """The last position appended."""
        ...

    async def read_raw(self, start: int, limit: int) -> list[RawRecord]:
        """Up to ``limit`` raw records from ``start``."""
        ...

    async def chain_at(self, position: int) -> bytes:
        """The stored chain hash at ``position``."""
        ...


class ShipperStatus(msgspec.Struct, frozen=True):
    """What the shipper reports for health and metrics."""

    shipped: int
    segments: int
    bytes_shipped: int
    store_available: bool
    failure: str | None


class Shipper:
    """Ships the journal to a blob store; one per process, run as a task with ``start``."""

    def __init__(
        self,
        journal: JournalSource,
        store: BlobStore,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_segment_events: int = MAX_SEGMENT_EVENTS,
        poll_s: float = 0.25,
        backoff_min_s: float = STORE_RETRY_MIN_S,
        backoff_max_s: float = STORE_RETRY_MAX_S,
        may_write: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        record_head: Callable[[int, str], Awaitable[None]] | None = None,
    ) -> None:
        self.journal = journal
        self.store = store
        self.max_events = max_events
        self.max_age_s = max_age_s
        self.max_segment_events = max(max_segment_events, max_events)
        self.poll_s = poll_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.may_write = may_write
        self.clock = clock
        self._sleep = sleep
        self.record_head = record_head
        self._head_to_record: tuple[int, str | None] = (0, None)
        self._head_recorded = 0
        self._head_recorded_at = float("-inf")
        self.shipped = 0
        self.segments = 0
        self.bytes_shipped = 0
        self.store_available = True
        self.failure: BaseException | None = None
        self._loaded = False
        self._oldest_pending: float | None = None
        # The head as learnt from ``notify`` and from polling: asking SQLite on every append
        # would compete with the writer thread and halve the command rate (measured).
        self._known_head = 0
        self._manifest_cache = ManifestCache()
        self._next_poll = 0.0
        self._urgent = False
        self._stopping = False
        self._wake = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the shipping task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="segment-shipper")

    async def stop(self, *, flush: bool = True, grace_s: float = 10.0) -> bool:
        """Stop the task, first shipping everything appended so far when ``flush``.

        Returns ``True`` when everything up to the head at the call was shipped in time.
        """
        done = True
        if flush and self._task is not None and self.failure is None:
            try:
                await asyncio.wait_for(self.wait_shipped(self.journal.head()), grace_s)
            except (TimeoutError, SyncError):
                done = False
        if flush and self.failure is None:
            with contextlib.suppress(SyncError, BlobStoreError):
                await self._record_head()
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        return done and self.shipped >= self.journal.head()

    def notify(self, position: int | None = None) -> None:
        """Tell the shipper that ``position`` was appended (``None``: look at the journal).

        Cheap enough to call after every append: it only wakes the task when a segment is due by
        count; the age policy runs on the task's own timer. Appends made elsewhere (another
        process, the CLI) are found by polling the head every ``poll_s``.
        """
        if position is None:
            self._next_poll = 0.0
            self._wake.set()
            return
        self._known_head = max(self._known_head, position)
        if self._oldest_pending is None and self._known_head > self.shipped:
            self._oldest_pending = self.clock()
        if self._known_head - self.shipped >= self.max_events:
            self._wake.set()

    async def wait_shipped(self, position: int) -> None:
        """Return once ``position`` is in a segment listed in the manifest (durable ack).

        Seals at once instead of waiting for the policy. Raises the shipper's failure if it
        stopped on one.
        """
        if position <= self.shipped:
            return
        if self.failure is not None:
            raise SyncError(f"shipping stopped: {self.failure}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((position, future))
        self._wake.set()
        await future

    async def ship_now(self) -> int:
        """Ship everything appended so far in the calling task (CLI ``push``); return shipped."""
        await self._load()
        head = self.journal.head()
        while self.shipped < head:
            await self._ship_next(head)
        await self._record_head()
        return self.shipped

    def status(self) -> ShipperStatus:
        """Counters for health and metrics."""
        return ShipperStatus(
            shipped=self.shipped,
            segments=self.segments,
            bytes_shipped=self.bytes_shipped,
            store_available=self.store_available,
            failure=str(self.failure) if self.failure is not None else None,
        )

    # -- the loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._stopping:
                self._wake.clear()
                timeout = await self._step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Never swallowed: logged, exposed in status/readiness, and raised to every waiter.
            log.exception("segment shipping stopped")
            self.failure = exc
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(SyncError(f"shipping stopped: {exc}"))
            self._waiters.clear()

    async def _step(self) -> float:
        """Ship if the policy says so; return how long to sleep before looking again.

        While the store is unavailable the step waits it out under the sync retry policy (the
        bot keeps appending; the backlog ships once it answers). A stop gives up the wait.
        """
        retrying = store_retrying(
            min_s=self.backoff_min_s,
            max_s=self.backoff_max_s,
            stopping=lambda: self._stopping,
            on_retry=self._store_down,
            sleep=self._sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._step_once()
        except BlobStoreUnavailableError:
            return 0.0  # stopping: the backlog stays in the local journal for the next start
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _step_once(self) -> float:
        now = self.clock()
        await self._load()
        if now >= self._next_poll or self._waiters:
            self._known_head = max(self._known_head, self.journal.head())
            self._next_poll = now + self.poll_s
        head = self._known_head
        pending = head - self.shipped
        if pending <= 0:
            self._oldest_pending = None
            return self.poll_s
        if self._oldest_pending is None:
            self._oldest_pending = now
        age = now - self._oldest_pending
        urgent = bool(self._waiters) or self._urgent
        if pending < self.max_events and age < self.max_age_s and not urgent:
            return min(self.poll_s, self.max_age_s - age)
        if not self.may_write():
            return self.poll_s  # no lease (waiting or lost): never write to Blob
        while self.shipped < head:
            await self._ship_next(head)
        self._oldest_pending = None
        self._store_back()
        return 0.0 if self._waiters else self.poll_s

    def _store_down(self, error: BaseException, wait_s: float) -> None:
        if self.store_available:
            log.warning("blob store unavailable, shipping paused (backlog kept): %s", error)
        self.store_available = False

    def _store_back(self) -> None:
        if not self.store_available:
            log.info("blob store reachable again; backlog shipped up to %d", self.shipped)
        self.store_available = True

    async def _load(self) -> None:
        """Learn the shipped position from the manifest and adopt segments it does not list yet."""
        if self._loaded:
            return
        manifest, _ = await read_manifest(self.store)
        manifest = manifest or Manifest()
        self.shipped = manifest.shipped
        self.segments = len(manifest.segments)
        if self.shipped > self.journal.head():
            raise SplitBrainError(
                f"Blob holds positions up to {self.shipped} but the local journal ends at "
                f"{self.journal.head()}: restore first"
            )
        await self._adopt_orphans()
        self._loaded = True
        # A waiter may have come before the manifest was read (a stop right after a start):
        # what the manifest already covers is shipped, and no upload would ever release it.
        self._resolve_waiters()

    async def _adopt_orphans(self) -> None:
        """Add segments uploaded after the manifest's last update (a crash in between)."""
        starting = {e.first: e for e in reversed(await list_segments(self.store))}
        while (entry := starting.get(self.shipped + 1)) is not None:
            if entry.last > self.journal.head():
                return  # not ours to judge here; restore decides about events we lack
            data, _ = await self.store.read(entry.name)
            await self._check_same(entry, data)
            adopted = SegmentEntry.of_blob(entry.name, data)
            await self._record(adopted)
            log.info("adopted %s (uploaded before the manifest was updated)", entry.name)

    async def _check_same(self, entry: SegmentEntry, data: bytes) -> None:
        """Raise ``SplitBrainError`` unless ``data`` holds exactly our records for its range."""
        try:
            remote = await asyncio.to_thread(decode_segment, data, name=entry.name)
        except SegmentError as exc:
            raise SplitBrainError(f"{entry.name} exists in Blob but is unreadable: {exc}") from None
        local = await self.journal.read_raw(entry.first, entry.count)
        first_difference(local, remote, where=entry.name)

    async def _ship_next(self, head: int) -> None:
        start = self.shipped + 1
        limit = min(head - start + 1, self.max_segment_events)
        records = await self.journal.read_raw(start, limit)
        prev = await self.journal.chain_at(start - 1)
        segment = await asyncio.to_thread(encode_segment, records, prev_chain=prev)
        # The segment's chain is recomputed from the bytes read; it must reach the hash stored
        # when they were appended, or a changed byte would be shipped as the truth.
        stored = await self.journal.chain_at(segment.last)
        if segment.chain != stored:
            raise JournalCorruptError(
                segment.first,
                f"not shipping positions {segment.first}..{segment.last}: their bytes do not "
                "match the journal's hash chain (a journal fault); `ibpicker journal verify` "
                "names the position",
            )
        if not self.may_write():
            raise NotWritableError("the writer lease is not held: not shipping")
        entry = await self._upload(segment)
        await self._record(entry)
        self.bytes_shipped += entry.size

    async def _upload(self, segment: Segment) -> SegmentEntry:
        """Create the blob; if it exists, accept it only if it holds the same events."""
        try:
            await self.store.create(segment.name, segment.data)
        except BlobExistsError:
            data, _ = await self.store.read(segment.name)
            if data != segment.data:
                await self._check_same(SegmentEntry.of(segment), data)
            log.info("%s was already uploaded (a retried upload); keeping it", segment.name)
            return SegmentEntry.of_blob(segment.name, data)
        return SegmentEntry.of(segment)

    async def _record(self, entry: SegmentEntry) -> None:
        """Add ``entry`` to the manifest and advance the shipped position."""
        manifest = await update_manifest(
            self.store, partial(_with_entry, entry), cache=self._manifest_cache
        )
        if manifest.shipped > self.journal.head():
            raise SplitBrainError(
                f"the manifest says shipped {manifest.shipped}, beyond the local head "
                f"{self.journal.head()}: another writer is shipping"
            )
        self.shipped = max(self.shipped, manifest.shipped)
        self.segments = len(manifest.segments)
        # Durable acks need the manifest only: they are answered before the lock blob's copy.
        self._resolve_waiters()
        self._head_to_record = (manifest.shipped, manifest.head_chain)
        if self.clock() - self._head_recorded_at >= HEAD_RECORD_EVERY_S:
            await self._record_head()

    async def _record_head(self) -> None:
        """Copy the shipped head and its hash to the lock blob's metadata (if not done yet).

        At most once per ``HEAD_RECORD_EVERY_S`` while shipping, and at a graceful stop: one blob
        write per segment doubled the durable-ack latency, and the copy only has to be close
        behind the manifest (which, with the segment headers, holds the head too).
        """
        shipped, chain = self._head_to_record
        if self.record_head is None or chain is None or shipped <= self._head_recorded:
            return
        try:
            await self.record_head(shipped, chain)
        except BlobStoreError as exc:
            # The manifest and the segment headers hold the head as well: not fatal.
            log.warning("could not record the head in the lock blob: %s", exc)
            return
        self._head_recorded = shipped
        self._head_recorded_at = self.clock()

    def _resolve_waiters(self) -> None:
        keep = []
        for position, future in self._waiters:
            if position <= self.shipped:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((position, future))
        self._waiters = keep


def _with_entry(entry: SegmentEntry, manifest: Manifest) -> Manifest | None:
    """The manifest with ``entry`` appended, ``None`` if it already covers it."""
    if manifest.shipped >= entry.first:
        return None  # listed already, or a concurrent shipper covered these positions first
    if manifest.shipped != entry.first - 1:
        raise SplitBrainError(
            f"the manifest ends at {manifest.shipped} but {entry.name} starts at {entry.first}: "
            "the manifest went backwards (another writer?)"
        )
    return manifest.with_segments([*manifest.segments, entry])
