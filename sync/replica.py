"""``ReplicaRuntime``: one bot replica on the shared PostgreSQL journal (``IBPICKER_JOURNAL_URL``).

The counterpart of ``sync.runtime.SyncRuntime`` for a journal in PostgreSQL, with the same
face for ``bot.py`` (``start``, ``ensure_writable``, ``committed``, ``health``, ``stop``,
``fatal``):

- no writer lease: several replicas append at once (the database serialises appends and keeps
  positions gap-free, ``events.postgres``), so ``ensure_writable`` refuses only while stopping;
- no segment shipping and no restore from Blob: the database is the durable, shared journal,
  with its own backups and point-in-time restore;
- every replica's projections (the state folds in memory, the DuckDB analytics on its own disk)
  follow the shared head continuously, because other replicas append to it. At start they go on
  from the local analytics file's tracked positions when the disk kept one (the replica's own
  snapshot), and are rebuilt from position 1 otherwise. Then a follow loop catches them up each
  time the database notifies a commit (``LISTEN``, ``PostgresJournal.notifications``) and at
  least every ``poll_s`` without one, so a lost notification or connection costs at most that;
- health: the replica's shards, and its lag behind the head in positions and in seconds (the age
  of the oldest event its projections lack, by the injected clock); not ready while the lag is
  beyond ``max_lag_events`` or ``max_lag_s`` (it would answer from state that misses what other
  replicas appended).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from events.clock import Clock
from events.journal import Journal, JournalError
from sync.errors import NotWritableError
from sync.health import NO_LEASE, HealthServer, HealthStatus

if TYPE_CHECKING:  # only the type is read here
    from settings import Settings
    from sync.runtime import SyncConfig

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 1.0
"""A replica reads the head at least this often (a notification wakes it at once)."""
DEFAULT_MAX_LAG_EVENTS = 1000
DEFAULT_MAX_LAG_S = 30.0
"""Beyond either bound a replica reports not ready (``/readyz`` 503) until it has caught up."""
RELISTEN_S = 5.0
"""After a lost ``LISTEN`` connection, polling alone until this long has passed."""
STOP_TASKS_S = 5.0
"""``stop`` waits this long at most for the follow and listen tasks to end."""


class ReplicaConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The knobs of a replica on the shared journal."""

    health_host: str = "127.0.0.1"
    health_port: int | None = 8080  # None: no health server; 0: any free port
    poll_s: float = DEFAULT_POLL_S
    max_lag_events: int = DEFAULT_MAX_LAG_EVENTS
    max_lag_s: float = DEFAULT_MAX_LAG_S
    listen: bool = True
    """Wake on the database's notifications (off: poll only)."""

    @classmethod
    def from_settings(cls, settings: Settings, sync: SyncConfig) -> ReplicaConfig:
        """The replica's knobs from the settings; its health server where ``sync`` puts it."""
        defaults = cls()
        return cls(
            health_host=sync.health_host,
            health_port=sync.health_port,
            max_lag_events=settings.replica_max_lag_events or defaults.max_lag_events,
            max_lag_s=settings.replica_max_lag_s or defaults.max_lag_s,
        )


class ReplicaReport(msgspec.Struct, frozen=True):
    """What ``start`` found: the journal's head, the events read to catch up, how long."""

    head: int
    events: int
    seconds: float


class ReplicaRuntime:
    """Follows the shared journal's head and serves health; see the module docstring."""

    def __init__(
        self,
        journal: Journal,
        config: ReplicaConfig | None = None,
        *,
        follow: Callable[[int], Awaitable[int]],
        clock: Clock,
        discord_connected: Callable[[], bool] = lambda: True,
        projection_faults: Callable[[], list[str]] = list,
        shards: Sequence[int] | None = None,
        shard_count: int | None = None,
        notifications: Callable[[], AsyncIterator[None]] | None = None,
    ) -> None:
        """``follow(head)`` brings every projection up to ``head`` (on the service's worker) and
        returns the events it read; ``notifications`` wake it (default: the journal's own
        ``notifications`` when it has them, and ``config.listen``)."""
        self.journal = journal
        self.config = config or ReplicaConfig()
        self._follow = follow
        self._clock = clock
        self._discord_connected = discord_connected
        self._projection_faults = projection_faults
        self.shards = list(shards) if shards is not None else None
        self.shard_count = shard_count
        found = getattr(journal, "notifications", None)
        self._notifications = notifications or (found if self.config.listen else None)
        self.fatal = asyncio.Event()
        """Never set here: no lease to lose, nothing shipped. ``bot.serve`` waits on it."""
        self.snapshot_position: int | None = None
        self.restored = False
        self.caught_up = False
        self.stopping = False
        self.head = 0
        """The journal's head as last read (or appended by this replica)."""
        self.applied = 0
        """The position every projection has reached."""
        self._behind_since: datetime | None = None
        self._wake = asyncio.Event()
        self.listening = asyncio.Event()
        """Set while the database's notifications reach this replica."""
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.health_server = (
            HealthServer(self.health, host=self.config.health_host, port=self.config.health_port)
            if self.config.health_port is not None
            else None
        )

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> ReplicaReport:
        """Health up, catch the projections up with the head, then follow it."""
        if self.health_server is not None:
            await self.health_server.start()
        started = time.perf_counter()
        self.restored = True  # nothing to restore: the journal is the database
        events = await self._round()
        self.caught_up = True
        self._tasks.append(asyncio.create_task(self._follow_loop(), name="replica: follow"))
        if self._notifications is not None:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="replica: listen"))
        return ReplicaReport(head=self.head, events=events, seconds=time.perf_counter() - started)

    # -- following ------------------------------------------------------------------------------

    async def _round(self) -> int:
        """Read the head; catch every projection up to it; returns the events read."""
        head = await asyncio.to_thread(self.journal.head)
        self.head = max(self.head, head)
        read = 0
        if head > self.applied:
            if self._behind_since is None:
                first = await asyncio.to_thread(self.journal.get, self.applied + 1)
                self._behind_since = first.recorded_at if first is not None else self._clock.now()
            read = await self._follow(head)
            self.applied = head
            self._behind_since = None
        async with self._progress:
            self._progress.notify_all()
        return read

    async def _follow_loop(self) -> None:
        while not self.stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that
            # arrives as the wake-up completes, and the loop would outlive stop().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._round()
            except Exception:
                # The projections stay where they were; health shows the lag growing.
                log.exception("could not follow the journal; trying again")

    async def _listen_loop(self) -> None:
        assert self._notifications is not None
        while True:
            try:
                async for _ in self._notifications():
                    self.listening.set()
                    self._wake.set()
            except JournalError as exc:
                self.listening.clear()
                log.warning(
                    "%s: polling every %.1f s, listening again in %.0f s",
                    exc,
                    self.config.poll_s,
                    RELISTEN_S,
                )
            await asyncio.sleep(RELISTEN_S)

    async def wait_applied(self, position: int) -> None:
        """Return once every projection has applied ``position`` (woken by each round)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.applied >= position)

    # -- while running --------------------------------------------------------------------------

    def ensure_writable(self) -> None:
        """Raise ``NotWritableError`` while stopping; any replica may append otherwise."""
        if self.stopping:
            raise NotWritableError("shutting down: not taking commands")

    async def committed(self, position: int) -> None:
        """After an append of this replica: the head moved; the follower picks it up now."""
        self.head = max(self.head, position)
        self._wake.set()

    def lag(self) -> tuple[int, float]:
        """Positions and seconds this replica's projections are behind the head it knows."""
        events = max(0, self.head - self.applied)
        since = self._behind_since
        seconds = (self._clock.now() - since).total_seconds() if events and since else 0.0
        return events, max(0.0, seconds)

    def health(self) -> HealthStatus:
        """The current health snapshot (no database round trip: what the follower last saw)."""
        lag_events, lag_seconds = self.lag()
        return HealthStatus(
            restored=self.restored,
            caught_up=self.caught_up,
            lease_state=NO_LEASE,
            discord_connected=self._discord_connected(),
            journal_head=self.head,
            shipped=0,
            segments=0,
            restore_seconds=0.0,
            store_available=True,
            stopping=self.stopping,
            projection_faults=self._projection_faults(),
            shards=self.shards,
            shard_count=self.shard_count,
            applied_position=self.applied,
            lag_events=lag_events,
            lag_seconds=lag_seconds,
            max_lag_events=self.config.max_lag_events,
            max_lag_seconds=self.config.max_lag_s,
        )

    # -- stop -----------------------------------------------------------------------------------

    async def stop(self) -> bool:
        """Refuse appends, stop following, stop health; True (every append is in the database)."""
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        # Bounded: a listener stuck in its driver must not hold the graceful stop past its bound.
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_TASKS_S)
            if stuck:
                log.warning(
                    "replica: %d task(s) still stopping after %.0f s", len(stuck), STOP_TASKS_S
                )
        self._tasks.clear()
        if self.health_server is not None:
            await self.health_server.stop()
        log.info("replica stopped (the journal is the database's)")
        return True
