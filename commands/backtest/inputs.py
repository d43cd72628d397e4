"""What a backtest reads, gathered at one journal position: bars, flow alerts and earnings dates
(each with when the journal learned it, so the engine sees a date only from then) from the DuckDB
projections (``StoredMarketData``, the reader scans use, with ``at``), and the
exchange's sessions from the calendar (``fetchers.calendar``: holidays absent, never weekdays).

A run repeated at an earlier position (``at``) reads the journal's market-data events up to it
instead (``JournalMarketData``: the same upsert, later positions winning): the projections keep
one row per bar, so a bar stored again after that position has replaced the row the first run
read. A fresh run reads the projections, which hold exactly that fold of the journal.

Also the checks that need the data: a range with no bars, too little history before the range
for the strategy's indicators (with the number of bars it needs), each refused with what would
be valid; nothing is read twice and nothing is appended here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import msgspec
import numpy as np

from analysis.backtest import KnownEarnings, MarketData
from analysis.series import SymbolBars
from commands.core.handler import reject
from events.base import Envelope, Event
from events.journal import Journal
from events.market import Bar, BarsFetched, EarningsFetched, FlowAlert, FlowAlertsFetched
from events.wording import plural
from fetchers.calendar import sessions_between

DEFAULT_SPAN = timedelta(days=365)
"""The default range: the year before its last session."""


class MarketReader(Protocol):
    """Where a backtest's market data comes from: ``StoredMarketData`` or the journal."""

    def bars(self, symbols: Sequence[str], *, at: int | None = None) -> dict[str, SymbolBars]:
        """The bars of ``symbols`` stored at or before ``at``."""
        ...

    def flow_alerts(
        self, symbols: Sequence[str], *, at: int | None = None
    ) -> dict[str, list[FlowAlert]]:
        """The flow alerts on ``symbols`` stored at or before ``at``, by time then chain."""
        ...

    def known_earnings(
        self, symbols: Sequence[str], *, at: int | None = None
    ) -> dict[str, list[KnownEarnings]]:
        """The earnings dates of ``symbols`` stored at or before ``at``, oldest first, each with
        when the journal learned it (the recorded time of the first fetch that brought it)."""
        ...


class JournalMarketData:
    """The market data as the projections held it at a journal position, folded from the
    journal's ``bars_fetched``, ``flow_alerts_fetched`` and ``earnings_fetched`` events (one read
    of those events up to the position; later positions win, as in the projections)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._read: tuple[int | None, list[Envelope]] | None = None

    def _envelopes(self, at: int | None) -> list[Envelope]:
        if self._read is not None and self._read[0] == at:
            return self._read[1]
        tags = (BarsFetched.event_tag(), FlowAlertsFetched.event_tag(),
                EarningsFetched.event_tag())  # fmt: skip
        found = [env for page in self.journal.read(1, at, tags=tags) for env in page]
        self._read = (at, found)
        return found

    def _events(self, at: int | None) -> list[Event]:
        return [env.event for env in self._envelopes(at)]

    def bars(self, symbols: Sequence[str], *, at: int | None = None) -> dict[str, SymbolBars]:
        """See ``MarketReader.bars``."""
        wanted = set(symbols)
        rows: dict[str, dict[date, Bar]] = {}
        for ev in self._events(at):
            if isinstance(ev, BarsFetched) and ev.symbol in wanted:
                rows.setdefault(ev.symbol, {}).update((b.day, b) for b in ev.bars)
        return {s: SymbolBars.from_bars(list(rows[s].values())) for s in sorted(rows)}

    def flow_alerts(
        self, symbols: Sequence[str], *, at: int | None = None
    ) -> dict[str, list[FlowAlert]]:
        """See ``MarketReader.flow_alerts``."""
        wanted = set(symbols)
        rows: dict[tuple[str, datetime], FlowAlert] = {}
        for ev in self._events(at):
            if isinstance(ev, FlowAlertsFetched):
                for a in ev.alerts:
                    if a.ticker in wanted:
                        created = a.created_at.astimezone(UTC)
                        rows[(a.option_chain, created)] = msgspec.structs.replace(
                            a, created_at=created
                        )
        out: dict[str, list[FlowAlert]] = {}
        for key in sorted(rows, key=lambda k: (k[1], k[0])):
            alert = rows[key]
            out.setdefault(alert.ticker, []).append(alert)
        return out

    def known_earnings(
        self, symbols: Sequence[str], *, at: int | None = None
    ) -> dict[str, list[KnownEarnings]]:
        """See ``MarketReader.known_earnings`` (the first event naming a date, in journal order,
        is when it was learned, as in the projection)."""
        wanted = set(symbols)
        learned: dict[str, dict[date, datetime]] = {}
        for env in self._envelopes(at):
            ev = env.event
            if isinstance(ev, EarningsFetched):
                for e in ev.entries:
                    if e.symbol in wanted:
                        learned.setdefault(e.symbol, {}).setdefault(e.day, env.recorded_at)
        return {
            s: [KnownEarnings(day, learned[s][day].astimezone(UTC)) for day in sorted(learned[s])]
            for s in sorted(learned)
        }


@dataclass(frozen=True)
class Window:
    """The sessions a backtest covers (inclusive) and the data it reads."""

    start: date
    end: date
    data: MarketData
    position: int


def _day(value: np.datetime64) -> date:
    day: date = value.astype("datetime64[D]").item()
    return day


def _range_of(bars: Mapping[str, SymbolBars]) -> tuple[date, date] | None:
    days = [(_day(b.day[0]), _day(b.day[-1])) for b in bars.values() if len(b)]
    if not days:
        return None
    return min(d[0] for d in days), max(d[1] for d in days)


def _bars_before(bars: SymbolBars, day: date) -> int:
    return int(np.searchsorted(bars.day, np.datetime64(day, "D"), side="left"))


def _first_possible(bars: Mapping[str, SymbolBars], needed: int) -> date | None:
    """The first day on which some symbol has ``needed`` bars before it."""
    days = [_day(b.day[needed]) for b in bars.values() if len(b) > needed]
    return min(days) if days else None


def read_window(
    stored: MarketReader,
    symbols: Sequence[str],
    *,
    start: date | None,
    end: date | None,
    position: int,
    needed: int,
    strategy: str,
) -> Window:
    """The data of ``symbols`` appended at or before ``position``, up to ``end`` (no bar after
    the range is read), and the range itself: ``end`` defaults to the last stored bar, ``start``
    to a year before it (later when the history is shorter). ``needed``: bars of history the
    strategy needs before its first signal. Refuses a range without bars, or one that starts
    before any symbol has that much history."""
    every = stored.bars(symbols, at=position)
    span = _range_of(every)
    names = ", ".join(symbols)
    if span is None:
        raise reject(
            f"No bars for {names} in the journal (position {position}): fetch them first "
            "(/fetch stocks, or ibpicker fetch bars)."
        )
    last = min(end, span[1]) if end is not None else span[1]
    bars = {s: b.up_to(last) for s, b in every.items()}
    first_possible = _first_possible(bars, needed)
    in_range = [
        s for s, b in bars.items() if len(b) and (start is None or _day(b.day[-1]) >= start)
    ]
    if not in_range or (end is not None and end < span[0]):
        raise reject(
            f"No bars for {names} between {start or span[0]} and {end or span[1]}: the stored "
            f"bars run from {span[0]} to {span[1]}."
        )
    if first_possible is None or (start is not None and start < first_possible):
        deepest = max(_bars_before(b, start or last) for b in bars.values())
        after = f" Start on or after {first_possible}." if first_possible else ""
        raise reject(
            f"Too little history for {strategy}: its indicators need {plural(needed, 'bar')} "
            f"before the first session, and the stored bars give at most {deepest} before "
            f"{start or last}.{after} Or fetch a longer history."
        )
    if start is None:
        start = max(last - DEFAULT_SPAN, first_possible)
    if start > last:
        raise reject(f"No sessions between {start} and {last}: the range is empty.")
    data = MarketData(
        bars=bars,
        sessions=sessions_between(span[0], last),
        alerts=stored.flow_alerts(symbols, at=position),
        earnings=stored.known_earnings(symbols, at=position),
    )
    return Window(start=start, end=last, data=data, position=position)
