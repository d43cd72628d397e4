"""``SyncRuntime``: restore, lease, shipping and health in the right order, for ``bot.py``.

``bot.py`` (or any process that appends) does::

    runtime = SyncRuntime(journal, store, SyncConfig(...), catch_up=..., discord_connected=...)
    await runtime.start()        # health up; restore; catch up; lease (waits); delta restore; ship
    ...
    runtime.ensure_writable()    # before each append (raises NotWritableError)
    await runtime.committed(pos) # after each append (durable-ack: returns once pos is in Blob)
    ...
    await runtime.stop()         # on SIGTERM: refuse appends, final segment, release lease

With ``analytics_path``, a cold start (no local analytics file) first puts the shipped DuckDB
snapshot there, so open the analytics database inside ``catch_up`` (or after ``start``), not
before; or pass ``analytics_replaceable`` (true while the open file is empty) and let ``catch_up``
reopen it (``Analytics.reopen_if_swapped``, which ``ProjectionRunner.catch_up`` calls).
With ``snapshot_source`` and ``snapshot_every_s`` / ``snapshot_on_stop`` it ships snapshots: the
analytics one, and on the same schedule (not at a stop) a journal snapshot, also right after the
start when the last one lags ``journal_snapshot_lag`` events. An empty disk starts from the
journal snapshot only if it is put in place before the journal is opened
(``sync.journal_snapshot.place_journal_snapshot``, which ``bot.py`` runs first).
While running, small segments are compacted in the background so the manifest stays short.

``runtime.fatal`` is set when this instance must stop (lease lost, shipping stopped on split brain):
the root should exit non-zero so the platform restarts it, and the restart restores from Blob.
``install_sigterm`` wires the signals: the first SIGTERM/SIGINT calls back for a graceful stop,
a second one exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from events.journal import AsyncJournal
from projections.analytics import Analytics
from sync.blobstore import BlobStore
from sync.compaction import compact
from sync.errors import NotWritableError
from sync.health import HealthServer, HealthStatus
from sync.journal_snapshot import ship_journal_snapshot
from sync.manifest import read_manifest
from sync.restore import DEFAULT_PARALLEL, RestoreReport, restore
from sync.retry import STORE_RETRY_MAX_S, Sleep, store_retrying
from sync.shipper import DEFAULT_MAX_AGE_S, DEFAULT_MAX_EVENTS, Shipper
from sync.snapshot import restore_snapshot, ship_snapshot
from sync.writer_lease import DEFAULT_DURATION_S, LeaseKeeper, LeaseState

if TYPE_CHECKING:  # only the type is read here
    from settings import Settings

log = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_EVERY_S = 6 * 3600.0
"""The bot ships an analytics snapshot this often (and at a graceful stop): a cold start then
applies at most a few hours of events to it instead of rebuilding from position 0."""
EXIT_AT_ONCE = 128 + signal.SIGTERM


class SyncConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The knobs of sync (``settings.py`` fills them from ``IBPICKER_*`` variables)."""

    durable_ack: bool = False
    segment_max_events: int = DEFAULT_MAX_EVENTS
    segment_max_age_s: float = DEFAULT_MAX_AGE_S
    lease_duration_s: int = DEFAULT_DURATION_S
    health_host: str = "127.0.0.1"
    health_port: int | None = 8080  # None: no health server; 0: any free port
    restore_parallel: int = DEFAULT_PARALLEL
    stop_grace_s: float = 20.0
    store_retry_max_s: float = STORE_RETRY_MAX_S  # the longest wait for an unavailable store
    snapshot_every_s: float | None = None  # ship an analytics snapshot this often (None: never)
    snapshot_on_stop: bool = False
    # With the analytics snapshots (on their schedule, not at a stop: at 1M events a journal
    # snapshot takes seconds of CPU, more than a stop's grace in the box), a journal snapshot.
    journal_snapshots: bool = True
    journal_snapshot_lag: int = 100_000  # at start, ship one if the last lags this many events
    # The manifest is rewritten per segment: keep it short by compacting small segments.
    compact_every_s: float | None = 600.0
    compact_above_segments: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncConfig:
        """The sync knobs from the typed settings.

        The health server listens on 127.0.0.1 locally; in a deployed environment the platform's
        probes come from outside the container, so it listens on all interfaces there.
        """
        defaults = cls()
        return cls(
            durable_ack=settings.durable_ack,
            segment_max_events=settings.segment_max_events or defaults.segment_max_events,
            segment_max_age_s=settings.segment_max_age_s or defaults.segment_max_age_s,
            health_host="127.0.0.1" if settings.environment == "local" else "0.0.0.0",  # noqa: S104
            health_port=settings.health_port,
            snapshot_every_s=DEFAULT_SNAPSHOT_EVERY_S,
            snapshot_on_stop=True,
        )


class SyncRuntime:
    """Bundles restore, the writer lease, the shipper and the health server of one process."""

    def __init__(
        self,
        journal: AsyncJournal,
        store: BlobStore,
        config: SyncConfig | None = None,
        *,
        catch_up: Callable[[], Awaitable[object]] | None = None,
        discord_connected: Callable[[], bool] = lambda: True,
        analytics_path: Path | None = None,
        analytics_replaceable: Callable[[], bool] | None = None,
        snapshot_source: Callable[[], Analytics | None] | None = None,
        projection_faults: Callable[[], list[str]] = list,
        sleep: Sleep = asyncio.sleep,
        shards: Sequence[int] | None = None,
        shard_count: int | None = None,
    ) -> None:
        self.journal = journal
        self.store = store
        self.config = config or SyncConfig()
        self._catch_up = catch_up
        self._discord_connected = discord_connected
        self._analytics_path = analytics_path
        self._analytics_replaceable = analytics_replaceable
        self._snapshot_source = snapshot_source
        self._projection_faults = projection_faults
        self.shards = list(shards) if shards is not None else None
        self.shard_count = shard_count
        self._sleep = sleep  # the waits between tries of an unavailable store (tests pass theirs)
        self._snapshot_task: asyncio.Task[None] | None = None
        self._compaction_task: asyncio.Task[None] | None = None
        self.snapshot_position: int | None = None
        self.lease = LeaseKeeper(store, duration_s=self.config.lease_duration_s)
        self.shipper = Shipper(
            journal,
            store,
            max_events=self.config.segment_max_events,
            max_age_s=self.config.segment_max_age_s,
            may_write=lambda: self.lease.writable,
            record_head=self.lease.record_head,
            backoff_max_s=self.config.store_retry_max_s,
            sleep=sleep,
        )
        self.health_server = (
            HealthServer(self.health, host=self.config.health_host, port=self.config.health_port)
            if self.config.health_port is not None
            else None
        )
        self.fatal = asyncio.Event()
        self.restored = False
        self.caught_up = False
        self.stopping = False
        self.restore_seconds = 0.0
        self.lease.on_lost(self._lease_lost)

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> RestoreReport:
        """Health up, restore, catch up, take the lease (waiting if held), restore again, ship.

        Raises ``RestoreRefusedError`` / ``SplitBrainError`` when Blob cannot be trusted: the
        process must not take commands then.
        """
        if self.health_server is not None:
            await self.health_server.start()
        first = await self._restore_until_reachable()
        if self._analytics_path is not None:
            self.snapshot_position = await restore_snapshot(
                self.store,
                self._analytics_path,
                self.journal.head(),
                replaceable=self._analytics_replaceable,
            )
        await self._run_catch_up()
        await self.lease.acquire(wait=True)
        # While we waited, the previous holder may have shipped more: fetch it before writing.
        second = await self._restore_until_reachable()
        await self._run_catch_up()
        self.restore_seconds = first.seconds + second.seconds
        self.shipper.start()
        if self.config.snapshot_every_s is not None and self._snapshot_source is not None:
            self._snapshot_task = asyncio.create_task(self._snapshots(), name="snapshots")
        if self.config.compact_every_s is not None:
            self._compaction_task = asyncio.create_task(self._compactions(), name="compaction")
        return RestoreReport(
            local_head_before=first.local_head_before,
            local_head_after=second.local_head_after,
            blob_head=second.blob_head,
            segments=first.segments + second.segments,
            events=first.events + second.events,
            bytes=first.bytes + second.bytes,
            seconds=self.restore_seconds,
        )

    async def _restore_until_reachable(self) -> RestoreReport:
        retrying = store_retrying(
            max_s=self.config.store_retry_max_s,
            stopping=lambda: self.stopping,
            on_retry=_log_restore_retry,
            sleep=self._sleep,
        )
        async for attempt in retrying:
            with attempt:
                report = await restore(
                    self.journal, self.store, parallel=self.config.restore_parallel
                )
                self.restored = True
                return report
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _run_catch_up(self) -> None:
        self.caught_up = False
        if self._catch_up is not None:
            await self._catch_up()
        self.caught_up = True

    # -- while running --------------------------------------------------------------------------

    def ensure_writable(self) -> None:
        """Raise ``NotWritableError`` unless this instance may append now."""
        if self.stopping:
            raise NotWritableError("shutting down: not taking commands")
        self.lease.ensure_writable()

    async def committed(self, position: int) -> None:
        """Call after an append; with durable ack, returns once ``position`` is in Blob."""
        self.shipper.notify(position)
        if self.config.durable_ack:
            await self.shipper.wait_shipped(position)

    def health(self) -> HealthStatus:
        """The current health snapshot."""
        status = self.shipper.status()
        if status.failure is not None and not self.fatal.is_set():
            self.fatal.set()
        return HealthStatus(
            restored=self.restored,
            caught_up=self.caught_up,
            lease_state=self.lease.state.value,
            discord_connected=self._discord_connected(),
            journal_head=self.journal.head(),
            shipped=status.shipped,
            segments=status.segments,
            restore_seconds=self.restore_seconds,
            store_available=status.store_available,
            stopping=self.stopping,
            failure=status.failure,
            projection_faults=self._projection_faults(),
            shards=self.shards,
            shard_count=self.shard_count,
        )

    async def ship_snapshot(self) -> None:
        """Ship an analytics snapshot now (if a source was given and the lease is held)."""
        analytics = self._snapshot_source() if self._snapshot_source is not None else None
        if analytics is not None and self.lease.writable:
            await ship_snapshot(self.store, analytics)

    async def ship_journal_snapshot(self) -> None:
        """Ship a journal snapshot at the shipped head now (if the lease is held and the journal
        is a file): an empty-disk start then replays only the segments after it."""
        path = self.journal.journal.path
        if self.journal.journal.url is None and str(path) != ":memory:" and self.lease.writable:
            await ship_journal_snapshot(self.store, path)

    async def _snapshots(self) -> None:
        assert self.config.snapshot_every_s is not None
        if self.config.journal_snapshots and await self._journal_snapshot_lags():
            await self._ship_logged("journal", self.ship_journal_snapshot)
        while True:
            await asyncio.sleep(self.config.snapshot_every_s)
            await self._ship_logged("analytics", self.ship_snapshot)
            if self.config.journal_snapshots:
                await self._ship_logged("journal", self.ship_journal_snapshot)

    @staticmethod
    async def _ship_logged(kind: str, ship: Callable[[], Awaitable[None]]) -> None:
        # A snapshot only shortens cold starts; the journal is the truth. Log and go on.
        try:
            await ship()
        except Exception:
            log.exception("%s snapshot failed; the next one is retried on schedule", kind)

    async def _journal_snapshot_lags(self) -> bool:
        """Whether the shipped journal snapshot (if any) is far enough behind the shipped head
        that the next cold start would replay many segments: then one is shipped at start."""
        try:
            manifest, _ = await read_manifest(self.store)
        except Exception:
            return False
        if manifest is None:
            return False
        known = manifest.journal_snapshot.position if manifest.journal_snapshot else 0
        return manifest.shipped - known >= self.config.journal_snapshot_lag

    async def _compactions(self) -> None:
        assert self.config.compact_every_s is not None
        while True:
            await asyncio.sleep(self.config.compact_every_s)
            if self.shipper.segments <= self.config.compact_above_segments:
                continue
            if not self.lease.writable:
                continue
            try:
                await compact(self.store)
            except Exception:
                # Compaction only tidies Blob; a crash at any step leaves a restorable set.
                log.exception("compaction failed; retried on schedule")

    def _lease_lost(self) -> None:
        self.fatal.set()

    # -- stop -----------------------------------------------------------------------------------

    async def stop(self) -> bool:
        """Refuse appends, seal and upload the final segment, release the lease, stop health.

        Bounded by ``stop_grace_s``; returns ``True`` when everything appended reached Blob.
        """
        self.stopping = True
        for task in (self._snapshot_task, self._compaction_task):
            if task is not None:
                task.cancel()
        flushed = False
        # One budget for the whole stop: the snapshot only gets what the final segment left over.
        deadline = asyncio.get_running_loop().time() + self.config.stop_grace_s
        if self.lease.state in (LeaseState.HELD, LeaseState.SUSPENDED):
            flushed = await self.shipper.stop(flush=True, grace_s=self.config.stop_grace_s)
            left = deadline - asyncio.get_running_loop().time()
            if flushed and self.config.snapshot_on_stop and left > 0:
                try:
                    await asyncio.wait_for(self.ship_snapshot(), left)
                except Exception:
                    log.exception("analytics snapshot at shutdown failed (the journal is shipped)")
        else:
            await self.shipper.stop(flush=False)
        await self.lease.release()
        if self.health_server is not None:
            await self.health_server.stop()
        log.info("sync stopped (%s)", "all shipped" if flushed else "backlog left locally")
        return flushed


def _log_restore_retry(error: BaseException, wait_s: float) -> None:
    log.warning("blob store unavailable, restore retried in %.1f s: %s", wait_s, error)


def install_sigterm(on_first: Callable[[], None]) -> None:
    """First SIGTERM/SIGINT: ``on_first()`` (start a graceful stop); a second: exit at once."""
    loop = asyncio.get_running_loop()
    received = 0

    def handler(signum: int) -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info("signal %d: stopping gracefully (again to exit at once)", signum)
            on_first()
        else:
            os._exit(EXIT_AT_ONCE)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, handler, signum)
