"""The command service: the one entry point of every front end (Discord cogs, the local console).

``execute`` validates options against the spec, gathers what a command needs from outside (its
room's ``gather``: fetches, scans) on the event loop, then on the service's single worker thread
runs the plain handler against the state projections, appends its events plus one
``command_handled`` audit event in one idempotent append (command id = the invocation's), lets the
projections catch up, and returns the reply. Handlers, appends and catch-up all run on that one
thread, so a handler always sees the state its append will follow, and the journal keeps one
writer.

Errors are translated here, once: bad input -> an ephemeral ``ok=False`` reply naming the problem
(only the audit event is appended); anything unexpected -> logged with its traceback, an audit
event with outcome ``error``, and a generic reply carrying a reference (never a traceback). Once a
command's events are committed, its reply is the command's own: a projection that then fails to
follow (the analytics batch, a state fold) is logged and catches up later, never reported as an
error the member would retry (and so commit twice).

The service knows no command by name: the feature rooms give it a ``Route`` per command (its
handler, what to gather first, whether it reads the analytics) and a completer per autocomplete
kind, joined in ``commands.registry``. Rooms reach the service's shared parts through its public
methods (``call`` on the worker, ``state``, ``append``, ``flush_analytics_soon``); the daily run
(``commands.picks.daily``) is such a room's work too.

The DuckDB analytics follow the journal in batches, except market data and scans
(``ANALYTICS_EAGER``), which load at once. A command that reads the analytics
(``Route.reads_analytics``) and the daily run catch them up first, before anything is gathered
or scanned, so they see every earlier event.

Symbols: a member may type at most ``symbol_limit`` symbols into one command (``MAX_SYMBOLS`` for
chat front ends; the CLI's service has none). An omitted ``symbols`` option (the watchlist, every
stored symbol) is not limited; fetches of many symbols go to the provider in batches
(``commands.core.fetching``), reported through an optional progress callback, and are appended
as one command.

Retries: the reply of each command is kept in memory and, bounded and without attachments, in its
``command_handled`` event, so a retried command id answers the same even after a restart.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time as _time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import logs
from commands.core import text as tx
from commands.core.errors import CommandRejectedError
from commands.core.fetching import FetchProgress
from commands.core.handler import MAX_SYMBOLS, Command, Handler, ServiceInfo, State, reject
from commands.core.models import RED, Attachment, Button, DailyRun, Invocation, Reply
from commands.core.ports import (
    Analyzer,
    Clock,
    Drafting,
    MarketFetcher,
    MarketView,
    StrategyInfo,
    TradingCalendar,
)
from commands.core.reply_record import reply_from_record, reply_record
from commands.core.spec import coerce_options, find_command
from commands.core.values import OptionError, audit_options, command_name
from events.audit import CommandHandled
from events.base import Actor, Envelope, NewEvent
from events.journal import Journal
from events.trading import TradeOpened
from events.wording import plural
from projections.guild import GuildBook
from projections.runner import ProjectionRunner, fault_messages
from projections.strategy_library import StrategyBook
from projections.trading import TradeBook

__all__ = [
    "Attachment",
    "Button",
    "CommandService",
    "Completer",
    "DailyRun",
    "FetchProgress",
    "Gather",
    "Invocation",
    "Ports",
    "Projections",
    "Reply",
    "Rooms",
    "Route",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
REPLY_CACHE = 4096
ANALYTICS_BATCH = 1000
"""Journal events after which the analytics catch up even if nobody read them."""
ANALYTICS_EAGER = frozenset(
    {
        "bars_fetched",
        "flow_alerts_fetched",
        "earnings_fetched",
        "fetch_failed",
        "signals_generated",
        "quote_fetched",
    }
)
"""Market data and scans: what other commands read from the analytics, so loaded at once."""
AUTOCOMPLETE_LIMIT = 25


Gather = Callable[["CommandService", Command, FetchProgress | None], Awaitable[Command]]
"""A room's gathering for one command: what it needs from outside (fetched data, a scan, a
strategy's text, a daily run), put in ``command.inputs`` / ``command.context``, on the event
loop; it may reject the input (``CommandRejectedError``) before anything is fetched."""
Completer = Callable[[State, str, Invocation], list[str]]
"""A room's autocomplete for one kind of option: ``(state, partial text, who) -> suggestions``,
run on the worker like a handler."""


@dataclass(frozen=True)
class Route:
    """How the service runs one command: its room's handler, what to gather before it, and
    whether it reads the analytics (then they catch up with the journal first)."""

    handler: Handler
    gather: Gather | None = None
    reads_analytics: bool = False


@dataclass(frozen=True)
class Rooms:
    """What the feature rooms give the service (``commands.registry.ROOMS``)."""

    routes: Mapping[str, Route]
    """A route per command name (``commands.core.spec`` names every command)."""
    completers: Mapping[str, Completer] = field(default_factory=dict)
    """A completer per autocomplete kind (``symbol``, ``strategy``, ``open_trade``)."""


@dataclass(frozen=True)
class Ports:
    """The outside world as commands see it: real adapters in the product, fakes in tests."""

    fetcher: MarketFetcher
    analyzer: Analyzer
    market: MarketView
    clock: Clock
    calendar: TradingCalendar | None = None
    """The exchange's sessions (``None``: no daily run, no next-run times)."""
    drafting: Drafting | None = None
    """Drafting strategies with Claude (``None``: no key, the feature is off)."""


@dataclass(frozen=True)
class Projections:
    """The projections the service keeps following the journal, and the state ones handlers read."""

    runner: ProjectionRunner
    trades: TradeBook
    guilds: GuildBook
    analytics_runner: ProjectionRunner | None = None
    library: StrategyBook | None = None
    """Every server's strategy library (``None``: shipped strategies only)."""


class CommandService:
    """Runs commands for every front end; see the module docstring."""

    def __init__(
        self,
        *,
        journal: Journal,
        projections: Projections,
        ports: Ports,
        rooms: Rooms,
        version: str = "0",
        features_off: Sequence[str] = (),
        symbol_limit: int | None = MAX_SYMBOLS,
    ) -> None:
        """``symbol_limit``: how many symbols a member may type into one command (``None``
        for a front end that is not a chat, the CLI); see ``commands.core.handler.MAX_SYMBOLS``."""
        self.journal = journal
        self.rooms = rooms
        self.runner = projections.runner
        self.analytics_runner = projections.analytics_runner
        self.trades = projections.trades
        self.guilds = projections.guilds
        self.library = projections.library or StrategyBook()
        self.market = ports.market
        self.fetcher = ports.fetcher
        self.analyzer = ports.analyzer
        self.clock = ports.clock
        self.calendar = ports.calendar
        self.drafting = ports.drafting
        self.version = version
        self.features_off = list(features_off)
        self.symbol_limit = symbol_limit
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commands")
        self._analytics_behind = 0
        self._closed = False
        self._replies: OrderedDict[str, Reply] = OrderedDict()

    # -- plumbing ---------------------------------------------------------------------------------

    async def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on the service's one worker thread, where the projections are read and
        the journal is appended to (rooms' gathering and the daily run use it too)."""
        loop = asyncio.get_running_loop()
        # In the caller's log context (command id, guild), copied: what fn binds stays in it.
        context = contextvars.copy_context()
        return await loop.run_in_executor(self._worker, context.run, lambda: fn(*args))

    def close(self) -> None:
        """Bring the analytics up to date and stop the worker thread (once; again is a no-op)."""
        if self._closed:
            return
        self._closed = True
        self._worker.submit(self.flush_analytics).result()
        self._worker.shutdown(wait=True)

    def flush_analytics(self) -> int:
        """Catch the DuckDB analytics up with the journal (call on the worker, or via
        ``flush_analytics_soon``); returns the events read. Never raises: a failure is logged and
        retried at the next flush, and readers see the analytics as far as they got."""
        if self.analytics_runner is None or not self._analytics_behind:
            return 0
        self._analytics_behind = 0
        try:
            return self.analytics_runner.catch_up()
        except Exception:
            # A command's reply never depends on the analytics batch (its events are committed);
            # the failure is logged with its traceback, and the next flush tries again.
            log.exception("the analytics could not catch up with the journal")
            self._analytics_behind = 1
            return 0

    async def flush_analytics_soon(self) -> int:
        """``flush_analytics`` on the worker: a front end's periodic task calls this (every second
        or so) so analytics follow the journal in batches, not one command at a time."""
        return await self.call(self.flush_analytics)

    def state(self, guild_id: int | None = None) -> State:
        """The state handlers read (call on the worker thread); ``strategies`` lists the shipped
        ones and, for ``guild_id``, that server's own (never another server's)."""
        return State(
            trades=self.trades,
            guilds=self.guilds,
            market=self.market,
            strategies=server_strategies(self.analyzer.strategies(), self.library, guild_id),
            info=ServiceInfo(
                version=self.version,
                sources=list(self.fetcher.sources),
                features_off=self.features_off,
                drafting_model=self.drafting.drafter.model if self.drafting else None,
                journal_head=self.journal.head(),
                projection_faults=fault_messages(self.runner, self.analytics_runner),
            ),
            calendar=self.calendar,
            symbol_limit=self.symbol_limit,
            library=self.library,
        )

    def _remember(self, command_id: str, reply: Reply) -> Reply:
        self._replies[command_id] = reply
        self._replies.move_to_end(command_id)
        while len(self._replies) > REPLY_CACHE:
            self._replies.popitem(last=False)
        return reply

    def _already(self, command_id: str) -> Reply | None:
        """The reply of a command id already appended (a retried interaction), if any."""
        cached = self._replies.get(command_id)
        if cached is not None:
            return cached
        span = self.journal.command_span(command_id)
        if span is None:
            return None
        # Not in memory (a restart in between): rebuild the reply's shape from the audit event.
        for page in self.journal.read(span[0], span[1], tags=(CommandHandled.event_tag(),)):
            for env in page:
                ev = env.event
                assert isinstance(ev, CommandHandled)
                if ev.outcome == "ok":
                    return reply_from_record(ev.reply) or Reply(
                        title=ev.message, description="(already handled)"
                    )
                return Reply(description=ev.message, ok=False, ephemeral=True, color=RED)
        return Reply(description="(already handled)")

    def append(
        self,
        events: Sequence[NewEvent],
        *,
        command_id: str,
        actor: Actor,
        expected: Mapping[str, int] | None = None,
    ) -> list[Envelope]:
        """Append (idempotently), catch the projections up, return what the journal holds
        (on the worker: ``call``)."""
        result = self.journal.append(
            events,
            command_id=command_id,
            actor=actor,
            expected_versions=expected,
            recorded_at=self.clock.now(),
        )
        if result.positions:
            first, last = result.positions[0], result.positions[-1]
            logs.bind(first_position=first, last_position=last)
            done = "already appended" if result.duplicate else "appended"
            log.info("%s %s at positions %d..%d", done, plural(len(events), "event"), first, last)
        # The events are committed: from here on nothing may turn the command's reply into an
        # error (a retry would then commit it twice). A projection that fails is logged and
        # catches up later (the runner isolates an event it cannot apply).
        self._follow(result.positions if not result.duplicate else [], events)
        if not result.positions:
            return []
        stored: list[Envelope] = []
        for page in self.journal.read(result.positions[0], result.positions[-1]):
            stored.extend(page)
        return stored

    def _follow(self, positions: Sequence[int], events: Sequence[NewEvent]) -> None:
        """After a commit: state projections follow every append at once; the DuckDB analytics
        follow in batches (DESIGN.md, The flow of one command), now when a command reads them or
        a batch is due. Never raises: the commit stands whatever a projection does."""
        try:
            self.runner.catch_up()
        except Exception:
            log.exception("the state projections could not follow position %s", positions[-1:])
        if self.analytics_runner is not None and positions:
            self._analytics_behind += len(positions)
            if self._analytics_behind >= ANALYTICS_BATCH or any(
                e.event.event_tag() in ANALYTICS_EAGER for e in events
            ):
                self.flush_analytics()

    # -- commands ---------------------------------------------------------------------------------

    async def execute(
        self,
        command: str,
        options: Mapping[str, object],
        inv: Invocation,
        *,
        progress: FetchProgress | None = None,
    ) -> Reply:
        """Run one command (see the module docstring). Never raises for user errors.

        ``progress(kind, done, total)`` is called on the event loop after each batch of a fetch
        of many symbols (``FETCH_BATCH``), e.g. to update a deferred reply; it must not block."""
        name = command_name(command)
        with logs.context(command=name, command_id=inv.command_id, guild_id=inv.guild_id):
            return await self._execute(name, options, inv, progress)

    async def _execute(
        self,
        name: str,
        options: Mapping[str, object],
        inv: Invocation,
        progress: FetchProgress | None,
    ) -> Reply:
        started = _time.perf_counter()
        raw = {k: v for k, v in options.items() if v is not None}
        audited = audit_options(raw)
        try:
            done = await self.call(self._already, inv.command_id)
            if done is not None:
                log.info("already handled: nothing appended")
                return done
            spec = find_command(name)
            if spec is None:
                raise reject(f"Unknown command /{tx.escape(name)}. /help lists them.")
            if spec.admin_only and not inv.is_admin:
                raise reject(f"/{spec.name} needs the Manage Server permission.")
            try:
                typed = coerce_options(spec, raw)
            except OptionError as exc:
                raise reject(str(exc)) from None
            route = self.rooms.routes[spec.name]
            cmd = Command(name=spec.name, options=typed, inv=inv)
            cmd = await self._gather(cmd, route, progress)
            return await self.call(self._run, cmd, route.handler, audited, started)
        except CommandRejectedError as exc:
            return await self.call(self._finish_rejected, name, inv, audited, exc.message, started)
        except Exception:
            log.exception("command /%s failed (command id %s)", name, inv.command_id)
            return await self.call(self._finish_error, name, inv, audited, started)

    def _audit(
        self,
        name: str,
        options: dict[str, str],
        outcome: str,
        message: str,
        started: float,
        reply: Reply | None = None,
    ) -> NewEvent:
        latency = (_time.perf_counter() - started) * 1000
        event = CommandHandled(
            name=name, options=options, outcome=outcome, message=message[:500], latency_ms=latency,
            reply=reply_record(reply) if reply is not None else "",
        )  # fmt: skip
        return NewEvent(f"commands:{name.replace(' ', '-') or 'unknown'}", event)

    def _run(
        self, cmd: Command, handler: Handler, options: dict[str, str], started: float
    ) -> Reply:
        done = self._already(cmd.inv.command_id)
        if done is not None:
            return done
        if self.journal.url is not None:
            # A journal shared by replicas: the handler decides on what the others appended
            # too, not only on what this replica's follower has applied so far.
            self.runner.catch_up()
        try:
            events, reply = handler(cmd, self.state(cmd.inv.guild_id), self.clock)
        except CommandRejectedError as exc:
            return self._finish_rejected(cmd.name, cmd.inv, options, exc.message, started)
        message = reply.title or reply.description
        audit = self._audit(cmd.name, options, "ok", message, started, reply)
        # A new trade's stream must not exist yet: two trades can never share an id.
        expected = {e.stream: 0 for e in events if isinstance(e.event, TradeOpened)}
        self.append(
            [*events, audit], command_id=cmd.inv.command_id, actor=_actor(cmd.inv),
            expected=expected,
        )  # fmt: skip
        return self._remember(cmd.inv.command_id, reply)

    def _finish_rejected(
        self, name: str, inv: Invocation, options: dict[str, str], message: str, started: float
    ) -> Reply:
        audit = self._audit(name, options, "rejected", message, started)
        self.append([audit], command_id=inv.command_id, actor=_actor(inv))
        reply = Reply(description=message, ok=False, ephemeral=True, color=RED)
        return self._remember(inv.command_id, reply)

    def _finish_error(
        self, name: str, inv: Invocation, options: dict[str, str], started: float
    ) -> Reply:
        message = f"Something went wrong on our side (reference {inv.command_id})."
        try:
            audit = self._audit(name, options, "error", message, started)
            self.append([audit], command_id=inv.command_id, actor=_actor(inv))
        except Exception:
            log.exception("could not record the failure of /%s", name)
        return Reply(description=message, ok=False, ephemeral=True, color=RED)

    async def _gather(
        self, cmd: Command, route: Route, progress: FetchProgress | None = None
    ) -> Command:
        """Fetch or scan what a slow command needs (its room's ``gather``), after validating
        its input.

        The one place where analytics readers catch up: before this gathers anything (a scan
        reads the analytics here) and so before their handler reads them in ``_run``."""
        if route.reads_analytics:
            await self.flush_analytics_soon()
        if route.gather is None:
            return cmd
        return await route.gather(self, cmd, progress)

    # -- autocomplete -----------------------------------------------------------------------------

    async def autocomplete(self, kind: str, partial: str, inv: Invocation) -> list[str]:
        """Up to 25 suggestions from the room that completes ``kind`` (``symbol``, ``strategy``,
        ``open_trade``); none for a kind no room completes."""
        complete = self.rooms.completers.get(kind)
        if complete is None:
            return []
        found = await self.call(lambda: complete(self.state(inv.guild_id), partial, inv))
        return found[:AUTOCOMPLETE_LIMIT]


def server_strategies(
    shipped: Sequence[StrategyInfo], library: StrategyBook, guild_id: int | None
) -> list[StrategyInfo]:
    """The strategies a server sees: the shipped ones (and the operator's), then its own current
    versions; a server's key takes the place of a shipped one it shadows (``replace:true``)."""
    if guild_id is None:
        return list(shipped)
    own = [
        StrategyInfo(
            name=v.key, version=v.label, origin="server", added_by=v.added_by, sha256=v.sha256
        )
        for v in library.current(guild_id)
    ]
    mine = {s.name for s in own}
    return [*(s for s in shipped if s.name not in mine), *own]


def _actor(inv: Invocation) -> Actor:
    return Actor(guild_id=inv.guild_id, user_id=inv.user_id)
