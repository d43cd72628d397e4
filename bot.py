"""The composition root of the Discord bot: settings → secrets → journal → projections → fetchers →
sync runtime → bot, and the process's life from start to a graceful SIGTERM.

``create_app`` wires one ``BotApp`` (tests build it with a fake clock and sleep, on a temp data
folder with the offline sample provider); ``serve`` runs it until SIGTERM (or a lost lease) and
stops it in order, within ``STOP_BOUND_S``:

1. stop taking commands: every interaction is answered "restarting, try again in a moment";
2. let the commands already running finish (at most ``DRAIN_S``), stop the daily-picks loop;
3. ``SyncRuntime.stop()``: the final segment is shipped and the writer lease released;
4. close the bot, the HTTP session, the blob store and the service.

A second SIGTERM exits at once (``sync.runtime.install_sigterm``). Exit status: 0 after a
graceful stop, 1 when the lease was lost, the bot failed, or the stop overran its bound.

With ``IBPICKER_JOURNAL_URL`` (the journal in PostgreSQL) the process is one of several replicas
sharing that journal: ``sync.replica.ReplicaRuntime`` takes the place of ``SyncRuntime`` (no
writer lease, no segments: the database is the durable journal; the projections follow the
shared head), and the daily picks of a server are claimed in the journal before they run, so
exactly one replica posts them (``DailyRuns.claim``).

Nothing imports this module but the ``ibpicker bot`` command in ``cli.py``, the entry point (the
import-linter contracts in pyproject.toml hold every package to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.abc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from commands.core.ports import Clock
from commands.core.service import CommandService
from commands.core.shards import owns_guild
from commands.discord.client import DiscordBot, build_client
from commands.discord.cogs import FrontEnd
from commands.discord.errors import NotWriterError
from commands.discord.scheduler import DailyScheduler, Sleep
from commands.wiring import close_service, open_configured_service
from events.journal import AsyncJournal
from fetchers import calendar
from fetchers.calendar_table import CalendarError
from fetchers.http import HttpSession
from projections.analytics import Analytics
from projections.runner import fault_messages
from projections.workspace import ANALYTICS_FILE, JOURNAL_FILE
from settings import Secrets, Settings
from sync.blobstore import BlobStore
from sync.errors import NotWritableError, SyncError
from sync.journal_snapshot import place_journal_snapshot
from sync.replica import ReplicaConfig, ReplicaRuntime
from sync.runtime import SyncConfig, SyncRuntime, install_sigterm
from sync.stores import open_blob_store

log = logging.getLogger("ibpicker.bot")

STOP_BOUND_S = 25.0
"""Azure Container Apps waits 30 s after SIGTERM before it kills the container."""
DRAIN_S = 3.0
"""Running commands get this long to finish; with the sync grace (20 s) it stays in the bound."""


class SyncGate:
    """The sync runtime as the Discord front end's write gate (``commands.discord.frontend``):
    where the two meet, sync's ``NotWritableError`` becomes the front end's ``NotWriterError``
    (the member reads "restarting, try again"), so the front end never imports sync."""

    def __init__(self, runtime: SyncRuntime | ReplicaRuntime) -> None:
        """Guard appends with ``runtime``."""
        self.runtime = runtime

    def ensure_writable(self) -> None:
        """Raise ``NotWriterError`` unless this instance may append now."""
        try:
            self.runtime.ensure_writable()
        except NotWritableError as exc:
            raise NotWriterError(str(exc)) from exc

    async def committed(self, position: int) -> None:
        """After an append: wake the shipper (and, with durable ack, wait for Blob)."""
        try:
            await self.runtime.committed(position)
        except NotWritableError as exc:
            raise NotWriterError(str(exc)) from exc


@dataclass
class BotApp:
    """One bot process's parts, started in order; ``close`` stops them in reverse."""

    settings: Settings
    service: CommandService
    journal: AsyncJournal
    store: BlobStore | None
    """``None`` on the PostgreSQL journal: nothing is shipped to or restored from Blob."""
    runtime: SyncRuntime | ReplicaRuntime
    http: HttpSession
    front: FrontEnd
    bot: DiscordBot
    scheduler: DailyScheduler
    closed: bool = False
    flushed: bool = False

    async def close(self) -> bool:
        """Stop gracefully (steps 1-4 of the module docstring); True if everything was shipped."""
        if self.closed:
            return self.flushed
        self.closed = True
        self.front.stop_accepting()
        if not await self.front.drained(DRAIN_S):
            log.warning("commands still running after %.0f s; stopping anyway", DRAIN_S)
        await self.scheduler.stop()
        try:
            self.flushed = await self.runtime.stop()
        finally:
            await self.bot.close()
            await self.http.close()
            if self.store is not None:
                await self.store.close()
            close_service(self.service)
            await self.journal.close()
        return self.flushed


class _RefusePandas(importlib.abc.MetaPathFinder):
    """An import finder that refuses pandas (see ``keep_pandas_out``)."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        """Refuse ``pandas`` and its submodules; leave every other name to the next finder."""
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is kept out of the bot process", name=fullname)


def keep_pandas_out() -> None:
    """Make ``import pandas`` fail in this process unless pandas is already loaded.

    Called by the bot's own process entry (``main``) and by the tools that measure that
    process (``benchmarks/bot.py``, ``tests/e2e/bot_modules_probe.py``), never by
    ``create_app``: a test process that starts bots must keep importing what its other tests use.

    No code of the bot uses pandas (the NYSE calendar is computed in a child process), but
    pyarrow imports it the first time ``pa.array`` is given a list, only to ask whether the list
    is a pandas object: ~43 MiB of RSS kept for good in the container's 0.5 GiB. A finder first
    on ``sys.meta_path`` that refuses it makes pyarrow take pandas as absent; ``sys.modules``
    gets no entry (DuckDB reads a ``pandas`` entry there as pandas being loaded).
    """
    if "pandas" not in sys.modules and not any(isinstance(f, _RefusePandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefusePandas())


async def create_app(
    settings: Settings,
    secrets: Secrets,
    *,
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
    guild_ids: Sequence[int] | None = None,
    sync_config: SyncConfig | None = None,
    replica_config: ReplicaConfig | None = None,
) -> BotApp:
    """Wire and start everything but the Discord connection: restore, catch up, take the lease
    (on the PostgreSQL journal: catch up and follow the shared head instead).

    ``guild_ids`` default to ``DISCORD_GUILD_ID`` (none: global commands); ``clock`` to the
    settings' (``IBPICKER_NOW``, else the real time); ``replica_config`` to the settings'.
    """
    clock = clock or settings.clock()
    http = HttpSession()
    await http.start()
    analytics_path = settings.data_dir / ANALYTICS_FILE
    had_analytics = analytics_path.exists()
    shared = settings.journal_database is not None
    store = open_blob_store(settings) if not shared else None
    try:
        # An empty disk starts from the shipped journal snapshot, put in place before the
        # journal is opened; the runtime's restore then appends only the segments after it.
        placed = (
            await place_journal_snapshot(store, settings.data_dir / JOURNAL_FILE)
            if store is not None
            else None
        )
        service = open_configured_service(
            settings,
            secrets,
            http,
            clock=clock,
            # A replica's projections catch up in its runtime's start, off the event loop and
            # with /healthz answering (a fresh container rebuilds them from the whole shared
            # journal); so do a placed journal snapshot's, after the analytics snapshot.
            catch_up=not shared and placed is None,
        )
    except BaseException:
        await http.close()
        if store is not None:
            await store.close()
        raise
    journal = AsyncJournal(service.journal)
    scheduler_ref: list[DailyScheduler] = []
    front = FrontEnd(service, on_schedule_changed=lambda: scheduler_ref[0].poke())
    if guild_ids is None and settings.discord_guild_id is not None:
        guild_ids = [settings.discord_guild_id]
    bot = build_client(
        front, guild_ids=guild_ids, shards=settings.shards, shard_ids=settings.shard_ids
    )
    # A sharded replica runs the daily picks of the servers on its shards only.
    owns = functools.partial(owns_guild, shard_count=settings.shards, shard_ids=settings.shard_ids)
    scheduler = DailyScheduler(service, bot, clock=clock, sleep=sleep, owns=owns)
    scheduler_ref.append(scheduler)

    if shared:
        # Replicas share the journal: a run's claim in it decides which one posts. Host and
        # process tell apart an old and a new revision of one replica (same IBPICKER_REPLICA_ID)
        # while both run; a container restarting its process keeps both.
        replica = settings.replica_id or "bot"
        scheduler.claimant = f"{replica}@{socket.gethostname()}:{os.getpid()}"
    analytics = service.analytics_runner.analytics if service.analytics_runner else None
    # A cold start (a new container: no analytics file, an empty journal) may start the analytics
    # from the shipped snapshot: the runtime renames it over the empty file the service opened.
    cold = (
        analytics is not None
        and not had_analytics
        and (service.journal.head() == 0 or placed is not None)
    )

    async def catch_up() -> None:
        # Nothing else touches the projections before the bot connects.
        await asyncio.to_thread(service.runner.catch_up)
        if service.analytics_runner is None:
            return
        # Restored events reach the analytics before the first command reads them (the service
        # only flushes after its own appends). After a snapshot was placed, this reopens it (new
        # inode) and applies only the events after it.
        applied = await asyncio.to_thread(service.analytics_runner.catch_up)
        if runtime.snapshot_position is not None:
            log.info(
                "analytics from the snapshot at position %d: %d later events applied",
                runtime.snapshot_position,
                applied,
            )

    sync_config = sync_config or SyncConfig.from_settings(settings)

    def discord_connected() -> bool:
        return bot.is_ready() and not bot.is_closed()

    runtime: SyncRuntime | ReplicaRuntime
    if store is None:
        runtime = _replica_runtime(
            settings,
            service,
            replica_config or ReplicaConfig.from_settings(settings, sync_config),
            clock=clock,
            discord_connected=discord_connected,
        )
    else:
        runtime = SyncRuntime(
            journal,
            store,
            sync_config,
            catch_up=catch_up,
            discord_connected=discord_connected,
            analytics_path=analytics_path if cold else None,
            analytics_replaceable=lambda: analytics is not None and _untouched(analytics),
            snapshot_source=lambda: analytics,
            projection_faults=lambda: fault_messages(service.runner, service.analytics_runner),
            shards=settings.shard_ids,
            shard_count=settings.shards,
        )
    app = BotApp(settings, service, journal, store, runtime, http, front, bot, scheduler)
    front.gate = SyncGate(runtime)
    try:
        report = await runtime.start()
    except BaseException:
        app.closed = True
        await http.close()
        if store is not None:
            await store.close()
        close_service(service)
        await journal.close()
        raise
    try:
        # Off the event loop: on a fresh container the first build is a child process, which
        # would otherwise block the loop (and the health server) when the scheduler first asks.
        await asyncio.to_thread(calendar.prepare, clock.now().date())
    except CalendarError as exc:  # the scheduler asks again and reports it where it fails
        log.warning("the NYSE calendar is not ready yet: %s", exc)
    log.info(
        "journal at %d (%d events %s in %.2f s)",
        service.journal.head(),
        report.events,
        "read by the projections" if shared else "restored",
        report.seconds,
    )
    return app


def _replica_runtime(
    settings: Settings,
    service: CommandService,
    config: ReplicaConfig,
    *,
    clock: Clock,
    discord_connected: Callable[[], bool],
) -> ReplicaRuntime:
    """The runtime of a replica on the shared journal: its projections follow the head."""

    def follow_to(head: int) -> int:
        # On the service's worker, where the projections are read and appended to.
        read = service.runner.catch_up(to=head)
        if service.analytics_runner is not None:
            read = max(read, service.analytics_runner.catch_up(to=head))
        return read

    async def follow(head: int) -> int:
        return await service.call(follow_to, head)

    return ReplicaRuntime(
        service.journal,
        config,
        follow=follow,
        clock=clock,
        discord_connected=discord_connected,
        projection_faults=lambda: fault_messages(service.runner, service.analytics_runner),
        shards=settings.shard_ids,
        shard_count=settings.shards,
    )


def _untouched(analytics: Analytics) -> bool:
    """True while no projection has applied any event to ``analytics`` (it may be replaced)."""
    return not any(t.position for t in analytics.tracking().values())


async def serve(app: BotApp, token: str, *, stop_bound_s: float = STOP_BOUND_S) -> int:
    """Connect to Discord and run until SIGTERM/SIGINT, a lost lease, or the bot ending."""
    stop = asyncio.Event()
    install_sigterm(stop.set)
    bot_task = asyncio.create_task(app.bot.start(token), name="ibpicker: discord")
    app.scheduler.start()
    stopped = asyncio.create_task(stop.wait())
    fatal = asyncio.create_task(app.runtime.fatal.wait())
    code = 0
    try:
        await asyncio.wait({bot_task, stopped, fatal}, return_when=asyncio.FIRST_COMPLETED)
        if fatal.done():
            log.error("this instance must stop (lease lost or shipping stopped)")
            code = 1
        elif bot_task.done() and not stop.is_set():
            log.error("the Discord connection ended", exc_info=bot_task.exception())
            code = 1
        try:
            async with asyncio.timeout(stop_bound_s):
                flushed = await app.close()
            if app.store is None:  # PostgreSQL: every acknowledged append is in the database
                log.info("stopped (the journal is the database's)")
            else:
                log.info("stopped (%s)", "journal shipped" if flushed else "backlog kept locally")
        except TimeoutError:
            log.error("graceful stop overran %.0f s", stop_bound_s)
            code = 1
    finally:
        for task in (stopped, fatal, bot_task):
            task.cancel()
        await asyncio.gather(stopped, fatal, bot_task, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return code


async def main(settings: Settings) -> int:
    """``ibpicker bot``: load the secrets, start, serve; the process's exit status."""
    from settings import SettingsError, load_secrets

    keep_pandas_out()

    try:
        secrets = await load_secrets(settings, required=("discord-token",))
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    token = secrets.get("discord-token")
    assert token is not None  # required above
    try:
        app = await create_app(settings, secrets)
    except (SettingsError, SyncError) as exc:
        # Restore refused, split brain, a bad blob setting: the message says what to do.
        log.error("cannot start: %s", exc)
        return 1
    with contextlib.suppress(asyncio.CancelledError):
        return await serve(app, token.get_secret_value())
    return 1
