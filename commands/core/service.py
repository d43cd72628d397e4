"""The command service: the one entry point of every front end (Discord cogs, the local console).

``execute`` validates options against the spec, gathers what a command needs from outside (fetches,
scans) on the event loop, then on the service's single worker thread runs the plain handler against
the state projections, appends its events plus one ``command_handled`` audit event in one
idempotent append (command id = the invocation's), lets the projections catch up, and returns the
reply. Handlers, appends and catch-up all run on that one thread, so a handler always sees the
state its append will follow, and the journal keeps one writer.

Errors are translated here, once: bad input -> an ephemeral ``ok=False`` reply naming the problem
(only the audit event is appended); anything unexpected -> logged with its traceback, an audit
event with outcome ``error``, and a generic reply carrying a reference (never a traceback). Once a
command's events are committed, its reply is the command's own: a projection that then fails to
follow (the analytics batch, a state fold) is logged and catches up later, never reported as an
error the member would retry (and so commit twice).

The DuckDB analytics follow the journal in batches, except market data and scans
(``ANALYTICS_EAGER``), which load at once. A command that reads the analytics
(``ANALYTICS_READERS``) and the daily run catch them up first, before anything is gathered or
scanned, so they see every earlier event.

Symbols: a member may type at most ``symbol_limit`` symbols into one command (``MAX_SYMBOLS`` for
chat front ends; the CLI's service has none). An omitted ``symbols`` option (the watchlist, every
stored symbol) is not limited; fetches of many symbols go to the provider in batches
(``FETCH_BATCH``), reported through an optional progress callback, and are appended as one command.

Retries: the reply of each command is kept in memory and, bounded and without attachments, in its
``command_handled`` event, so a retried command id answers the same even after a restart.

The daily picks: ``due_daily(now)`` says which guilds owe a post, ``run_daily`` fetches (bars with
earnings dates, flows), scans (skipping stocks with earnings within the guild's
``skip_earnings_within`` days) and returns what to post; the front end records
``record_daily_intent`` before it posts and ``record_daily_post`` after, and ``daily_intent``
tells a later attempt that an earlier one may have posted already.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, TypeVar

import msgspec

from commands.core import text as tx
from commands.core.errors import CommandRejectedError
from commands.core.handler import MAX_SYMBOLS, Command, ServiceInfo, State, check_strategy, reject
from commands.core.models import GREY, RED, Attachment, Button, DailyRun, Invocation, Reply
from commands.core.ports import (
    Analyzer,
    Clock,
    MarketFetcher,
    MarketView,
    TradingCalendar,
    UnknownStrategyError,
)
from commands.core.spec import coerce_options, find_command
from commands.core.values import OptionError, audit_options, command_name
from commands.market.handlers import fetch_symbols
from commands.picks.handlers import analyze_symbols, scan_reply, skip_earnings_days
from commands.picks.schedule import (
    LATE_AFTER,
    ScheduleError,
    due_run,
    next_run,
    parse_time,
    run_at,
    session_of,
)
from commands.registry import HANDLERS
from events.analysis import SignalsGenerated
from events.audit import CommandHandled
from events.base import Actor, Envelope, NewEvent
from events.guild import DailyPostPublished, DailyPostStarted
from events.journal import Journal
from events.market import FetchFailed
from events.trading import TradeOpened
from projections.guild import GuildBook
from projections.runner import ProjectionRunner, fault_messages
from projections.trading import TradeBook

__all__ = [
    "Attachment",
    "Button",
    "CommandService",
    "DailyRun",
    "FetchProgress",
    "Invocation",
    "Reply",
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
ANALYTICS_READERS = frozenset(
    {"status", "signals", "analyze", "fetch stocks", "fetch flows", "schedule run"}
)
"""Commands that read the analytics: caught up with the journal before they read anything
(``_gather``), so they see every event appended before they started, eager or not."""
AUTOCOMPLETE_LIMIT = 25
FETCH_BATCH = MAX_SYMBOLS
"""Symbols per fetch round when the service has no symbol limit."""
FetchProgress = Callable[[str, int, int], None]
"""``(kind, symbols done, symbols in all)``: a fetch's progress, batch by batch."""
REPLY_RECORD_MAX = 8000
"""Characters of a reply kept in its ``command_handled`` event (a Discord embed holds 6000)."""


class CommandService:
    """Runs commands for every front end; see the module docstring."""

    def __init__(
        self,
        *,
        journal: Journal,
        runner: ProjectionRunner,
        trades: TradeBook,
        guilds: GuildBook,
        market: MarketView,
        fetcher: MarketFetcher,
        analyzer: Analyzer,
        clock: Clock,
        calendar: TradingCalendar | None = None,
        version: str = "0",
        features_off: Sequence[str] = (),
        analytics_runner: ProjectionRunner | None = None,
        symbol_limit: int | None = MAX_SYMBOLS,
    ) -> None:
        """``symbol_limit``: how many symbols a member may type into one command (``None``
        for a front end that is not a chat, the CLI); see ``commands.core.handler.MAX_SYMBOLS``."""
        self.journal = journal
        self.runner = runner
        self.analytics_runner = analytics_runner
        self.trades = trades
        self.guilds = guilds
        self.market = market
        self.fetcher = fetcher
        self.analyzer = analyzer
        self.clock = clock
        self.calendar = calendar
        self.version = version
        self.features_off = list(features_off)
        self.symbol_limit = symbol_limit
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commands")
        self._analytics_behind = 0
        self._closed = False
        self._replies: OrderedDict[str, Reply] = OrderedDict()

    # -- plumbing ---------------------------------------------------------------------------------

    async def _on_worker(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: fn(*args))

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
        return await self._on_worker(self.flush_analytics)

    def state(self) -> State:
        """The state handlers read (call on the worker thread)."""
        return State(
            trades=self.trades,
            guilds=self.guilds,
            market=self.market,
            strategies=self.analyzer.strategies(),
            info=ServiceInfo(
                version=self.version,
                sources=list(self.fetcher.sources),
                features_off=self.features_off,
                journal_head=self.journal.head(),
                projection_faults=fault_messages(self.runner, self.analytics_runner),
            ),
            calendar=self.calendar,
            symbol_limit=self.symbol_limit,
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

    def _append(
        self,
        events: Sequence[NewEvent],
        *,
        command_id: str,
        actor: Actor,
        expected: Mapping[str, int] | None = None,
    ) -> list[Envelope]:
        """Append (idempotently), catch the projections up, return what the journal holds."""
        result = self.journal.append(
            events,
            command_id=command_id,
            actor=actor,
            expected_versions=expected,
            recorded_at=self.clock.now(),
        )
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
        started = _time.perf_counter()
        name = command_name(command)
        raw = {k: v for k, v in options.items() if v is not None}
        audited = audit_options(raw)
        try:
            done = await self._on_worker(self._already, inv.command_id)
            if done is not None:
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
            cmd = Command(name=spec.name, options=typed, inv=inv)
            cmd = await self._gather(cmd, progress)
            return await self._on_worker(self._run, cmd, audited, started)
        except CommandRejectedError as exc:
            return await self._on_worker(
                self._finish_rejected, name, inv, audited, exc.message, started
            )
        except Exception:
            log.exception("command /%s failed (command id %s)", name, inv.command_id)
            return await self._on_worker(self._finish_error, name, inv, audited, started)

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

    def _run(self, cmd: Command, options: dict[str, str], started: float) -> Reply:
        done = self._already(cmd.inv.command_id)
        if done is not None:
            return done
        handler = HANDLERS[cmd.name]
        try:
            events, reply = handler(cmd, self.state(), self.clock)
        except CommandRejectedError as exc:
            return self._finish_rejected(cmd.name, cmd.inv, options, exc.message, started)
        message = reply.title or reply.description
        audit = self._audit(cmd.name, options, "ok", message, started, reply)
        # A new trade's stream must not exist yet: two trades can never share an id.
        expected = {e.stream: 0 for e in events if isinstance(e.event, TradeOpened)}
        self._append(
            [*events, audit], command_id=cmd.inv.command_id, actor=_actor(cmd.inv),
            expected=expected,
        )  # fmt: skip
        return self._remember(cmd.inv.command_id, reply)

    def _finish_rejected(
        self, name: str, inv: Invocation, options: dict[str, str], message: str, started: float
    ) -> Reply:
        audit = self._audit(name, options, "rejected", message, started)
        self._append([audit], command_id=inv.command_id, actor=_actor(inv))
        reply = Reply(description=message, ok=False, ephemeral=True, color=RED)
        return self._remember(inv.command_id, reply)

    def _finish_error(
        self, name: str, inv: Invocation, options: dict[str, str], started: float
    ) -> Reply:
        message = f"Something went wrong on our side (reference {inv.command_id})."
        try:
            audit = self._audit(name, options, "error", message, started)
            self._append([audit], command_id=inv.command_id, actor=_actor(inv))
        except Exception:
            log.exception("could not record the failure of /%s", name)
        return Reply(description=message, ok=False, ephemeral=True, color=RED)

    async def _fetch(
        self,
        kind: str,
        symbols: Sequence[str],
        *,
        now: datetime,
        min_premium: float = 0.0,
        progress: FetchProgress | None = None,
    ) -> list[NewEvent]:
        """Fetch ``kind`` (``bars`` or ``flows``) for ``symbols`` in batches of the symbol limit
        (``FETCH_BATCH`` without one), reporting each batch. The events are appended together
        by the caller, as one command: batching bounds each provider round and shows progress."""
        step = self.symbol_limit or FETCH_BATCH
        events: list[NewEvent] = []
        for start in range(0, len(symbols), step):
            batch = symbols[start : start + step]
            if kind == "bars":
                events += await self.fetcher.fetch_bars(batch, now=now)
            else:
                events += await self.fetcher.fetch_flows(batch, min_premium=min_premium, now=now)
            if progress is not None:
                progress(kind, min(start + step, len(symbols)), len(symbols))
        return events

    async def _gather(self, cmd: Command, progress: FetchProgress | None = None) -> Command:
        """Fetch or scan what a slow command needs, after validating its input.

        The one place where analytics readers catch up: before this gathers anything (a scan
        reads the analytics here) and so before their handler reads them in ``_run``."""
        if cmd.name in ANALYTICS_READERS:
            await self.flush_analytics_soon()
        now = self.clock.now()
        if cmd.name in ("fetch stocks", "fetch flows"):
            symbols = await self._on_worker(fetch_symbols, cmd, self.state())
            events = await self._fetch(
                "bars" if cmd.name == "fetch stocks" else "flows", symbols, now=now,
                min_premium=float(cmd.options.get("min_premium", 0)), progress=progress,
            )  # fmt: skip
            return msgspec.structs.replace(cmd, inputs=events, context={"symbols": symbols})
        if cmd.name == "analyze":
            scan = await self._on_worker(self._scan_for, cmd, now)
            return msgspec.structs.replace(
                cmd, inputs=[NewEvent(f"signals:{cmd.inv.guild_id}", scan)]
            )
        if cmd.name == "strategy show":
            name = check_strategy(str(cmd.options["name"]), self.state())
            text = await self._on_worker(self.analyzer.describe, name)
            return msgspec.structs.replace(cmd, context={"strategy_text": text})
        if cmd.name == "schedule run":
            run = await self._daily(
                cmd.inv.guild_id, now=now, run_id=f"manual:{cmd.inv.command_id}", manual=True,
                channel_id=cmd.inv.channel_id,
            )  # fmt: skip
            return msgspec.structs.replace(cmd, context={"daily": run})
        return cmd

    def _scan_for(self, cmd: Command, now: datetime) -> SignalsGenerated:
        state = self.state()
        strategy = check_strategy(str(cmd.options["strategy"]), state)
        symbols = analyze_symbols(cmd, state)
        return self.analyzer.scan(
            strategy, symbols, guild_id=cmd.inv.guild_id,
            scan_id=f"scan-{tx.short_hash(cmd.inv.command_id)}", now=now,
            skip_earnings_within=skip_earnings_days(cmd.options) or None,
        )  # fmt: skip

    # -- autocomplete and the "Log trade" modal ---------------------------------------------------

    async def autocomplete(self, kind: str, partial: str, inv: Invocation) -> list[str]:
        """Up to 25 suggestions: ``symbol``, ``strategy`` or ``open_trade`` (the member's own)."""
        return await self._on_worker(self._autocomplete, kind, partial, inv)

    def _autocomplete(self, kind: str, partial: str, inv: Invocation) -> list[str]:
        # Symbol lists are comma-separated: complete the last item, keep the ones before it.
        head, _, last = partial.rpartition(",")
        prefix = partial.strip().upper()
        if kind == "symbol":
            prefix = last.strip().upper()
            pool = list(
                dict.fromkeys(
                    [
                        *self.guilds.watched_symbols(inv.guild_id),
                        *sorted(self.market.known_symbols()),
                    ]
                )
            )
            lead = f"{head}," if head else ""
            return [lead + s for s in pool if s.startswith(prefix)][:AUTOCOMPLETE_LIMIT]
        if kind == "strategy":
            names = [s.name for s in self.analyzer.strategies()]
            return [n for n in names if prefix.lower() in n.lower()][:AUTOCOMPLETE_LIMIT]
        if kind == "open_trade":
            trades = self.trades.open_trades(inv.guild_id, inv.user_id)
            return [t.trade_id for t in reversed(trades) if t.trade_id.startswith(prefix)][
                :AUTOCOMPLETE_LIMIT
            ]
        return []

    async def log_trade_prefill(self, custom_id: str, inv: Invocation) -> dict[str, str]:
        """Defaults for the "Log trade" modal of a pick's button (empty when the pick is gone)."""
        parts = custom_id.split(":")
        if len(parts) != 4 or parts[:2] != ["ibpicker", "logtrade"]:
            return {}
        row = await self._on_worker(self.market.signal, parts[2], parts[3])
        if row is None:
            return {"symbol": parts[3]}
        out = {
            "symbol": row.symbol,
            "direction": row.direction,
            "entry": f"{row.entry:.2f}",
            "signal": f"{row.scan_id}:{row.symbol}",
            "strategy": row.strategy_name,
        }
        if row.stop_loss is not None:
            out["stop"] = f"{row.stop_loss:.2f}"
        if row.take_profit is not None:
            out["target"] = f"{row.take_profit:.2f}"
        return out

    # -- the daily picks --------------------------------------------------------------------------

    def due_daily(self, now: datetime) -> list[int]:
        """Guilds whose daily post is owed at ``now`` (enabled, with a channel, not yet posted)."""
        if self.calendar is None:
            return []
        due = []
        for s in self.guilds.schedules():
            if not s.enabled or s.channel_id is None or s.strategy is None:
                continue
            try:
                at = parse_time(s.time)
                owed = due_run(now, at, self.calendar, functools.partial(self._posted, s.guild_id))
            except ScheduleError:
                log.warning("guild %s has an unusable schedule %r", s.guild_id, s.time)
                continue
            if owed is not None:
                due.append(s.guild_id)
        return due

    def next_daily_wakeup(self, now: datetime) -> datetime | None:
        """When the scheduler should look again: the earliest next run of any enabled schedule."""
        if self.calendar is None:
            return None
        times = []
        for s in self.guilds.schedules():
            if s.enabled and s.channel_id is not None:
                try:
                    times.append(next_run(now, parse_time(s.time), self.calendar)[1])
                except ScheduleError:
                    continue
        return min(times) if times else None

    def _posted(self, guild_id: int, session: date) -> bool:
        return self.guilds.daily_post(guild_id, session) is not None

    async def run_daily(self, guild_id: int, *, now: datetime) -> DailyRun:
        """The scheduler's job for one guild: fetch, scan, and return what to post.

        ``already_posted`` set means this session's post exists: post nothing. A failing provider
        or strategy yields a post that says what failed. Like an analytics reader, it scans
        analytics caught up with the journal.
        """
        await self.flush_analytics_soon()
        return await self._daily(guild_id, now=now, run_id=None, manual=False, channel_id=None)

    async def _daily(
        self,
        guild_id: int,
        *,
        now: datetime,
        run_id: str | None,
        manual: bool,
        channel_id: int | None,
    ) -> DailyRun:
        sched = self.guilds.schedule(guild_id)
        strategy = sched.strategy if sched and sched.strategy else ""
        session = now.date()
        late = False
        early_close: datetime | None = None
        if self.calendar is not None:
            session, _ = session_of(now, self.calendar)
            if sched is not None and not manual and self.calendar.is_session(session):
                scheduled = run_at(session, parse_time(sched.time), self.calendar)
                late = now - scheduled > LATE_AFTER
                if self.calendar.is_early_close(session):
                    early_close = self.calendar.close_at(session)
        run_id = run_id or f"daily:{guild_id}:{session.isoformat()}"
        channel = channel_id if manual else (sched.channel_id if sched else None)
        base = DailyRun(
            guild_id=guild_id, session=session, run_id=run_id, channel_id=channel,
            strategy=strategy, late=late, picks=[], failures=[], reply=Reply(), started_at=now,
        )  # fmt: skip
        if not manual and self._posted(guild_id, session):
            return msgspec.structs.replace(
                base,
                already_posted=True,
                reply=Reply(description=f"The picks for {session} were posted already."),
            )
        title = f"Daily picks {session}" + (f" · {strategy}" if strategy else "")
        symbols = self.guilds.watched_symbols(guild_id)
        if not strategy or not symbols:
            why = (
                "no strategy is configured (/schedule set strategy:)"
                if not strategy
                else ("the watchlist is empty (/watchlist add)")
            )
            return msgspec.structs.replace(
                base, reply=Reply(title=title, description=f"No picks: {why}.", color=GREY)
            )
        actor = Actor(guild_id=guild_id)
        failures: list[str] = []
        for kind in ("bars", "flows"):
            try:
                events = await self._fetch(kind, symbols, now=now)
            except Exception as exc:  # the post must say what failed, not go silent
                log.exception("daily %s fetch failed for guild %s", kind, guild_id)
                events = [
                    NewEvent(
                        "fetch-failures",
                        FetchFailed(
                            kind=kind, symbols=list(symbols), source=",".join(self.fetcher.sources),
                            error=f"{type(exc).__name__}: {exc}",
                        ),
                    )
                ]  # fmt: skip
            failures += [
                f"{e.event.kind}: {e.event.error}"
                for e in events
                if isinstance(e.event, FetchFailed)
            ]
            if events:
                await self._on_worker(
                    lambda ev=events, k=kind: self._append(
                        ev, command_id=f"{run_id}:{k}", actor=actor
                    )
                )
        scan: SignalsGenerated | None = None
        skip = (sched.skip_earnings_within if sched else 0) or None
        try:
            scan = await self._on_worker(
                self._daily_scan, strategy, symbols, guild_id, run_id, now, skip
            )
        except UnknownStrategyError:
            failures.append(f"strategy {strategy!r} no longer exists")
        except Exception as exc:
            log.exception("daily scan failed for guild %s", guild_id)
            failures.append(f"scan: {type(exc).__name__}: {exc}")
        return msgspec.structs.replace(
            base,
            picks=list(scan.signals) if scan else [],
            failures=failures,
            scan_id=scan.scan_id if scan else None,
            reply=self._daily_reply(title, scan, failures, late, early_close, now),
        )

    def _daily_scan(
        self,
        strategy: str,
        symbols: list[str],
        guild_id: int,
        run_id: str,
        now: datetime,
        skip_earnings_within: int | None,
    ) -> SignalsGenerated:
        scan = self.analyzer.scan(
            strategy, symbols, guild_id=guild_id, scan_id=f"scan-{tx.short_hash(run_id)}",
            now=now, skip_earnings_within=skip_earnings_within,
        )  # fmt: skip
        stored = self._append(
            [NewEvent(f"signals:{guild_id}", scan)],
            command_id=f"{run_id}:scan",
            actor=Actor(guild_id=guild_id),
        )
        # A retry in the same session reuses the scan the journal already holds.
        for env in stored:
            if isinstance(env.event, SignalsGenerated):
                return env.event
        return scan

    def _daily_reply(
        self,
        title: str,
        scan: SignalsGenerated | None,
        failures: list[str],
        late: bool,
        early_close: datetime | None,
        now: datetime,
    ) -> Reply:
        footer = tx.footer(self.fetcher.sources, now)
        if scan is not None:
            reply = scan_reply(scan, title=title, footer=footer)
        else:
            reply = Reply(title=title, description="No picks: the scan did not run.", color=RED)
        notes = []
        if late:
            notes.append("Posted late: the bot was not running at the scheduled time.")
        if early_close is not None:
            notes.append(f"Early close today at {early_close:%H:%M} ET.")
        fields = list(reply.fields)
        if failures:
            fields.append(("What failed", "\n".join(tx.escape(f) for f in failures)[:1000], False))
        description = "\n".join([*notes, reply.description])
        return msgspec.structs.replace(
            reply, description=description, fields=fields, color=RED if failures else reply.color
        )

    async def daily_intent(self, run: DailyRun) -> DailyPostStarted | None:
        """The ``daily_post_started`` of ``run`` already in the journal (a post may be out)."""

        def read() -> DailyPostStarted | None:
            span = self.journal.command_span(_intent_command_id(run))
            env = self.journal.get(span[0]) if span is not None else None
            started = env.event if env is not None else None
            return started if isinstance(started, DailyPostStarted) else None

        return await self._on_worker(read)

    async def record_daily_intent(self, run: DailyRun, *, channel_id: int, marker: str) -> None:
        """Append ``daily_post_started`` for ``run`` before its post is sent (once per run)."""
        event = DailyPostStarted(
            guild_id=run.guild_id, session=run.session, run_id=run.run_id, channel_id=channel_id,
            marker=marker, started_at=self.clock.now(),
        )  # fmt: skip
        await self._on_worker(
            lambda: self._append(
                [NewEvent(f"daily:{run.guild_id}", event)],
                command_id=_intent_command_id(run),
                actor=Actor(guild_id=run.guild_id),
            )
        )

    async def record_daily_post(
        self,
        run: DailyRun,
        *,
        message_id: int,
        channel_id: int | None = None,
        posted_at: datetime | None = None,
    ) -> bool:
        """Record that ``run`` was posted (once per guild and session); False if already was."""
        channel = channel_id if channel_id is not None else run.channel_id
        event = DailyPostPublished(
            guild_id=run.guild_id, session=run.session, channel_id=int(channel or 0),
            message_id=message_id, strategy=run.strategy, picks=len(run.picks), late=run.late,
            scan_id=run.scan_id, failures=list(run.failures),
            posted_at=posted_at or self.clock.now(),
        )  # fmt: skip

        def write() -> bool:
            if self._posted(run.guild_id, run.session):
                return False
            stored = self._append(
                [NewEvent(f"daily:{run.guild_id}", event)],
                command_id=f"daily-post:{run.guild_id}:{run.session.isoformat()}",
                actor=Actor(guild_id=run.guild_id),
            )
            return bool(stored)

        return await self._on_worker(write)


def _intent_command_id(run: DailyRun) -> str:
    return f"daily-post-started:{run.run_id}"


def _actor(inv: Invocation) -> Actor:
    return Actor(guild_id=inv.guild_id, user_id=inv.user_id)


def _reply_doc(reply: Reply) -> dict[str, Any]:
    """``reply`` as JSON-ready data without attachments and without default-valued parts."""
    plain = msgspec.to_builtins(msgspec.structs.replace(reply, attachments=[], pages=[]))
    doc = {k: v for k, v in plain.items() if v != _REPLY_DEFAULTS[k]}
    if reply.pages:
        doc["pages"] = [_reply_doc(p) for p in reply.pages]
    return doc


_REPLY_DEFAULTS: dict[str, Any] = msgspec.to_builtins(Reply())


def reply_record(reply: Reply, limit: int = REPLY_RECORD_MAX) -> str:
    """The reply as kept in ``command_handled``: compact JSON of what the member saw, at most
    ``limit`` characters. Attachments (charts, CSV) are never kept: they can be large, and the
    journal is shipped to blob storage. Too long: further pages go first, then fields, then the
    description is cut; "" when even that does not fit. Replies never carry secrets (provider
    errors are scrubbed at the fetcher edge), so neither does this."""
    cut = msgspec.structs.replace(reply, pages=[], fields=[])
    for candidate in (
        reply,
        msgspec.structs.replace(reply, pages=[]),
        cut,
        msgspec.structs.replace(cut, description=cut.description[: limit // 4]),
    ):
        text = msgspec.json.encode(_reply_doc(candidate)).decode()
        if len(text) <= limit:
            return text
    return ""


def reply_from_record(text: str) -> Reply | None:
    """The reply ``reply_record`` kept (``None`` for events written before it was kept)."""
    if not text:
        return None
    try:
        return msgspec.json.decode(text, type=Reply)
    except msgspec.DecodeError:
        log.warning("an audit event keeps a reply this version cannot read: %.80s", text)
        return None
