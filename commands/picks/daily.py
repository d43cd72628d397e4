"""The daily picks run: which guilds owe a post, the run itself (fetch, scan, what to post), and
the record of its post.

``due(now)`` says which guilds owe a post, ``run`` fetches (bars with earnings dates, flows),
scans (skipping stocks with earnings within the guild's ``skip_earnings_within`` days) and
returns what to post; the front end records ``record_intent`` before it posts and
``record_post`` after, and ``intent`` tells a later attempt that an earlier one may have posted
already. ``/schedule run`` runs the same (``manual``), posting nothing. Everything runs through
the command service's worker and appends through it: one journal writer per process.

Replicas sharing one journal (PostgreSQL) first ``claim`` a run: an append of
``daily_run_claimed`` to the run's own stream with the stream's expected version. The journal's
optimistic concurrency lets exactly one of several racing replicas win; a loser appends nothing
and posts nothing. A claim lasts ``CLAIM_TTL``: after it, with no post recorded, another replica
may take it over (expected version again), and the exactly-once post machinery above finds
whatever the dead holder left.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import date, datetime, timedelta

import msgspec

import logs
from commands.core import text as tx
from commands.core.errors import CommandRejectedError
from commands.core.fetching import fetch_in_rounds
from commands.core.models import GREY, RED, DailyRun, Reply
from commands.core.ports import UnknownStrategyError
from commands.core.service import CommandService
from commands.picks.handlers import scan_reply
from commands.picks.schedule import (
    LATE_AFTER,
    ScheduleError,
    due_run,
    next_run,
    parse_time,
    run_at,
    session_of,
)
from commands.strategies.library import resolve
from events.analysis import SignalsGenerated
from events.base import Actor, NewEvent
from events.guild import DailyPostPublished, DailyPostStarted, DailyRunClaimed
from events.journal import ConcurrencyError
from events.market import FetchFailed

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(minutes=15)
"""How long a replica's claim of a daily run keeps others off it (a run takes seconds; a holder
that has not posted by then is taken to be dead)."""


class Claim(msgspec.Struct, frozen=True):
    """Who holds a server's daily run for a session, until when, and whether it is the asker."""

    won: bool
    claimant: str
    until: datetime


def claim_stream(guild_id: int, session: date) -> str:
    """The stream of the claims on ``guild_id``'s daily run for ``session``."""
    return f"daily-claim:{guild_id}:{session.isoformat()}"


class DailyRuns:
    """The daily picks of every guild, run through ``service``; see the module docstring."""

    def __init__(self, service: CommandService) -> None:
        """Runs over ``service``'s projections, ports (the calendar among them) and journal."""
        self.service = service

    def due(self, now: datetime) -> list[int]:
        """Guilds whose daily post is owed at ``now`` (enabled, with a channel, not yet posted)."""
        calendar = self.service.calendar
        if calendar is None:
            return []
        due = []
        for s in self.service.guilds.schedules():
            if not s.enabled or s.channel_id is None or s.strategy is None:
                continue
            try:
                at = parse_time(s.time)
                owed = due_run(now, at, calendar, functools.partial(self.posted, s.guild_id))
            except ScheduleError:
                log.warning("guild %s has an unusable schedule %r", s.guild_id, s.time)
                continue
            if owed is not None:
                due.append(s.guild_id)
        return due

    def next_wakeup(self, now: datetime) -> datetime | None:
        """When the scheduler should look again: the earliest next run of any enabled schedule."""
        calendar = self.service.calendar
        if calendar is None:
            return None
        times = []
        for s in self.service.guilds.schedules():
            if s.enabled and s.channel_id is not None:
                try:
                    times.append(next_run(now, parse_time(s.time), calendar)[1])
                except ScheduleError:
                    continue
        return min(times) if times else None

    def session(self, now: datetime) -> date:
        """The trading session a run at ``now`` is for (``now``'s date without a calendar)."""
        if self.service.calendar is None:
            return now.date()
        return session_of(now, self.service.calendar)[0]

    async def claim(self, guild_id: int, session: date, *, claimant: str, now: datetime) -> Claim:
        """Claim ``guild_id``'s daily run for ``session`` for ``claimant`` (see the module
        docstring): won when this append succeeds or ``claimant`` holds it already; lost, with
        the holder and its expiry, when another replica's claim stands or won the race."""
        stream = claim_stream(guild_id, session)

        def write() -> Claim:
            version = self.service.journal.stream_version(stream)
            held = self._last_claim(stream)
            if held is not None and (held.claimant == claimant or held.until > now):
                return Claim(
                    won=held.claimant == claimant, claimant=held.claimant, until=held.until
                )
            event = DailyRunClaimed(
                guild_id=guild_id, session=session, claimant=claimant, until=now + CLAIM_TTL
            )
            with contextlib.suppress(ConcurrencyError):  # another replica's claim came first
                self.service.append(
                    [NewEvent(stream, event)],
                    # The claimant is in the id: two replicas' claims are two commands.
                    command_id=f"daily-claim:{guild_id}:{session.isoformat()}:{version + 1}:"
                    f"{claimant}",
                    actor=Actor(guild_id=guild_id),
                    expected={stream: version},
                )
            winner = self._last_claim(stream)
            assert winner is not None  # this claim, or the one that refused it
            return Claim(
                won=winner.claimant == claimant, claimant=winner.claimant, until=winner.until
            )

        return await self.service.call(write)

    def _last_claim(self, stream: str) -> DailyRunClaimed | None:
        """The latest claim on ``stream``, read from the journal (not from a projection: the
        decision must see other replicas' appends now)."""
        env = self.service.journal.last_in_stream(stream)
        return env.event if env is not None and isinstance(env.event, DailyRunClaimed) else None

    def posted(self, guild_id: int, session: date) -> bool:
        """Whether ``guild_id``'s post for ``session`` is in the journal."""
        return self.service.guilds.daily_post(guild_id, session) is not None

    async def run(self, guild_id: int, *, now: datetime) -> DailyRun:
        """The scheduler's job for one guild: fetch, scan, and return what to post.

        ``already_posted`` set means this session's post exists: post nothing. A failing provider
        or strategy yields a post that says what failed. Like an analytics reader, it scans
        analytics caught up with the journal.
        """
        await self.service.flush_analytics_soon()
        return await self._run(guild_id, now=now, run_id=None, manual=False, channel_id=None)

    async def manual(
        self, guild_id: int, *, now: datetime, command_id: str, channel_id: int | None
    ) -> DailyRun:
        """``/schedule run``: the run, now, whether or not a post is due or done (the service
        has caught the analytics up: the command reads them)."""
        return await self._run(
            guild_id, now=now, run_id=f"manual:{command_id}", manual=True, channel_id=channel_id
        )

    async def _run(
        self,
        guild_id: int,
        *,
        now: datetime,
        run_id: str | None,
        manual: bool,
        channel_id: int | None,
    ) -> DailyRun:
        sched = self.service.guilds.schedule(guild_id)
        strategy = sched.strategy if sched and sched.strategy else ""
        session = now.date()
        late = False
        early_close: datetime | None = None
        if self.service.calendar is not None:
            session, _ = session_of(now, self.service.calendar)
            if sched is not None and not manual and self.service.calendar.is_session(session):
                scheduled = run_at(session, parse_time(sched.time), self.service.calendar)
                late = now - scheduled > LATE_AFTER
                if self.service.calendar.is_early_close(session):
                    early_close = self.service.calendar.close_at(session)
        run_id = run_id or f"daily:{guild_id}:{session.isoformat()}"
        logs.bind(run_id=run_id)  # on the lines of its fetches, scan and post (and the caller's)
        channel = channel_id if manual else (sched.channel_id if sched else None)
        base = DailyRun(
            guild_id=guild_id, session=session, run_id=run_id, channel_id=channel,
            strategy=strategy, late=late, picks=[], failures=[], reply=Reply(), started_at=now,
        )  # fmt: skip
        if not manual and self.posted(guild_id, session):
            return msgspec.structs.replace(
                base,
                already_posted=True,
                reply=Reply(description=f"The picks for {session} were posted already."),
            )
        title = f"Daily picks {session}" + (f" · {strategy}" if strategy else "")
        symbols = self.service.guilds.watched_symbols(guild_id)
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
                events = await fetch_in_rounds(
                    self.service.fetcher, kind, symbols, now=now, step=self.service.symbol_limit
                )
            except Exception as exc:  # the post must say what failed, not go silent
                log.exception("daily %s fetch failed for guild %s", kind, guild_id)
                events = [
                    NewEvent(
                        "fetch-failures",
                        FetchFailed(
                            kind=kind, symbols=list(symbols),
                            source=",".join(self.service.fetcher.sources),
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
                await self.service.call(
                    lambda ev=events, k=kind: self.service.append(
                        ev, command_id=f"{run_id}:{k}", actor=actor
                    )
                )
        scan: SignalsGenerated | None = None
        skip = (sched.skip_earnings_within if sched else 0) or None
        try:
            scan = await self.service.call(
                self._scan, strategy, symbols, guild_id, run_id, now, skip
            )
        except (UnknownStrategyError, CommandRejectedError):
            failures.append(f"strategy {strategy!r} no longer exists")
        except Exception as exc:
            log.exception("daily scan failed for guild %s", guild_id)
            failures.append(f"scan: {type(exc).__name__}: {exc}")
        if scan is not None and scan.strategy_name == strategy and scan.strategy_version:
            title += f" {scan.strategy_version}"  # a server's version (v2), as the scan records
        return msgspec.structs.replace(
            base,
            picks=list(scan.signals) if scan else [],
            failures=failures,
            scan_id=scan.scan_id if scan else None,
            reply=self._reply(title, scan, failures, late, early_close, now),
        )

    def _scan(
        self,
        strategy: str,
        symbols: list[str],
        guild_id: int,
        run_id: str,
        now: datetime,
        skip_earnings_within: int | None,
    ) -> SignalsGenerated:
        # The server's strategy of that name at its latest version (or a shipped one).
        found = resolve(self.service.state(guild_id), guild_id, strategy)
        scan = self.service.analyzer.scan(
            found.ref, symbols, guild_id=guild_id, scan_id=f"scan-{tx.short_hash(run_id)}",
            now=now, skip_earnings_within=skip_earnings_within,
        )  # fmt: skip
        stored = self.service.append(
            [NewEvent(f"signals:{guild_id}", scan)],
            command_id=f"{run_id}:scan",
            actor=Actor(guild_id=guild_id),
        )
        # A retry in the same session reuses the scan the journal already holds.
        for env in stored:
            if isinstance(env.event, SignalsGenerated):
                return env.event
        return scan

    def _reply(
        self,
        title: str,
        scan: SignalsGenerated | None,
        failures: list[str],
        late: bool,
        early_close: datetime | None,
        now: datetime,
    ) -> Reply:
        footer = tx.footer(self.service.fetcher.sources, now)
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

    async def intent(self, run: DailyRun) -> DailyPostStarted | None:
        """The ``daily_post_started`` of ``run`` already in the journal (a post may be out)."""

        def read() -> DailyPostStarted | None:
            span = self.service.journal.command_span(_intent_command_id(run))
            env = self.service.journal.get(span[0]) if span is not None else None
            started = env.event if env is not None else None
            return started if isinstance(started, DailyPostStarted) else None

        return await self.service.call(read)

    async def record_intent(self, run: DailyRun, *, channel_id: int, marker: str) -> None:
        """Append ``daily_post_started`` for ``run`` before its post is sent (once per run)."""
        event = DailyPostStarted(
            guild_id=run.guild_id, session=run.session, run_id=run.run_id, channel_id=channel_id,
            marker=marker, started_at=self.service.clock.now(),
        )  # fmt: skip
        await self.service.call(
            lambda: self.service.append(
                [NewEvent(f"daily:{run.guild_id}", event)],
                command_id=_intent_command_id(run),
                actor=Actor(guild_id=run.guild_id),
            )
        )

    async def record_post(
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
            posted_at=posted_at or self.service.clock.now(),
        )  # fmt: skip

        def write() -> bool:
            if self.posted(run.guild_id, run.session):
                return False
            stored = self.service.append(
                [NewEvent(f"daily:{run.guild_id}", event)],
                command_id=f"daily-post:{run.guild_id}:{run.session.isoformat()}",
                actor=Actor(guild_id=run.guild_id),
            )
            return bool(stored)

        return await self.service.call(write)


def _intent_command_id(run: DailyRun) -> str:
    return f"daily-post-started:{run.run_id}"
