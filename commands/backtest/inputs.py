"""What a backtest reads, gathered at one journal position: bars, flow alerts and earnings dates
from the DuckDB projections (``StoredMarketData``, the reader scans use, with ``at``), and the
exchange's sessions from the calendar (``fetchers.calendar``: holidays absent, never weekdays).

Also the checks that need the data: a range with no bars, too little history before the range
for the strategy's indicators (with the number of bars it needs), each refused with what would
be valid; nothing is read twice and nothing is appended here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from analysis.backtest import KnownEarnings, MarketData
from analysis.series import SymbolBars
from commands.core.adapters import StoredMarketData
from commands.core.handler import reject
from events.wording import plural
from fetchers.calendar import sessions_between

DEFAULT_SPAN = timedelta(days=365)
"""The default range: the year before its last session."""


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
    stored: StoredMarketData,
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
        earnings={
            s: [KnownEarnings(day) for day in days]
            for s, days in stored.earnings(symbols, at=position).items()
        },
    )
    return Window(start=start, end=last, data=data, position=position)
