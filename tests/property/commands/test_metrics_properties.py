"""Properties of the journal metrics over random trade histories (Hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import duckdb
import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.journal.metrics import JournalMetrics, compute_metrics
from events.base import Actor, Envelope, Event
from events.trading import TradeClosed, TradeOpened
from projections.trading import TradeBook, TradesProjection, closed_trades

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
GUILD, USER = 7, 42

cents = st.integers(min_value=1, max_value=500_000).map(lambda n: Decimal(n) / 100)


class T(msgspec.Struct, frozen=True):
    """One generated trade."""

    direction: Literal["long", "short"]
    entry: Decimal
    exit: Decimal
    size: Decimal
    symbol: str
    strategy: str | None
    tags: list[str]
    hours: int
    closed: bool


trade = st.builds(
    T,
    direction=st.sampled_from(["long", "short"]),
    entry=cents,
    exit=cents,
    size=st.integers(min_value=1, max_value=1000).map(Decimal),
    symbol=st.sampled_from(["AAPL", "MSFT", "NVDA"]),
    strategy=st.sampled_from([None, "rsi", "trend"]),
    tags=st.lists(st.sampled_from(["swing", "scalp", "earnings"]), max_size=2, unique=True),
    hours=st.integers(min_value=1, max_value=500),
    closed=st.booleans(),
)
histories = st.lists(trade, max_size=25)


def _envelopes(history: list[T]) -> list[Envelope]:
    """Opens in order, then closes in reverse order (so closing order differs from opening)."""
    envs: list[Envelope] = []

    def add(event: Event, at: datetime) -> None:
        pos = len(envs) + 1
        envs.append(
            Envelope(
                position=pos,
                stream="trade",
                version=1,
                recorded_at=at,
                command_id=f"c{pos}",
                actor=Actor(guild_id=GUILD, user_id=USER),
                event=event,
            )
        )

    for i, t in enumerate(history):
        opened = TradeOpened(
            trade_id=f"T{i:04d}",
            guild_id=GUILD,
            user_id=USER,
            symbol=t.symbol,
            direction=t.direction,
            entry=t.entry,
            size=t.size,
            opened_at=T0 + timedelta(minutes=i),
            strategy=t.strategy,
            tags=t.tags,
        )
        add(opened, T0)
    for i, t in reversed(list(enumerate(history))):
        if t.closed:
            at = T0 + timedelta(hours=t.hours)
            closed = TradeClosed(
                trade_id=f"T{i:04d}", guild_id=GUILD, user_id=USER, exit=t.exit, closed_at=at
            )
            add(closed, at)
    return envs


def _from_book(envs: list[Envelope]) -> JournalMetrics:
    book = TradeBook()
    for e in envs:
        book.apply(e)
    return compute_metrics(book.trades(GUILD, USER))


def _from_duckdb(envs: list[Envelope], page: int) -> JournalMetrics:
    con = duckdb.connect(":memory:")
    try:
        projection = TradesProjection()
        projection.create(con)
        for start in range(0, len(envs), page):
            projection.load(con, envs[start : start + page])
        return compute_metrics(closed_trades(con, GUILD, USER))
    finally:
        con.close()


@settings(max_examples=60, deadline=None)
@given(histories)
def test_win_rate_is_a_ratio_and_outcomes_partition_the_trades(history: list[T]) -> None:
    """Invariant: 0 <= win rate <= 1, and wins + losses + break-evens == closed trades."""
    m = _from_book(_envelopes(history))
    assert m.wins + m.losses + m.break_evens == m.trades == sum(1 for t in history if t.closed)
    if m.trades:
        assert m.win_rate is not None
        assert 0 <= m.win_rate <= 1
    else:
        assert m.win_rate is None


@settings(max_examples=60, deadline=None)
@given(histories)
def test_breakdowns_sum_to_the_total(history: list[T]) -> None:
    """Invariant: per-symbol and per-strategy P&L and counts sum to the totals (exact decimals)."""
    m = _from_book(_envelopes(history))
    for rows in (m.by_symbol, m.by_strategy):
        assert sum((b.total_pnl for b in rows), Decimal(0)) == m.total_pnl
        assert sum(b.trades for b in rows) == m.trades
    assert all(b.key != "Unknown" for b in m.by_strategy)


@settings(max_examples=30, deadline=None)
@given(histories, st.integers(min_value=1, max_value=7))
def test_metrics_from_the_duckdb_projection_equal_metrics_from_the_events(
    history: list[T], page: int
) -> None:
    """Invariant: metrics over the DuckDB trades table (loaded in any page size) == metrics over
    the in-memory fold of the same events == P&L recomputed by hand from the raw events."""
    envs = _envelopes(history)
    from_book = _from_book(envs)
    assert _from_duckdb(envs, page) == from_book
    by_hand = Decimal(0)
    for t in history:
        if t.closed:
            move = t.exit - t.entry
            by_hand += (move if t.direction == "long" else -move) * t.size
    assert from_book.total_pnl == by_hand


@settings(max_examples=60, deadline=None)
@given(histories)
def test_shorts_mirror_longs(history: list[T]) -> None:
    """Invariant: flipping every trade's direction negates each P&L: the total changes sign, wins
    and losses swap, break-evens stay, and the largest winner becomes minus the largest loser."""
    flipped = [
        msgspec.structs.replace(t, direction="short" if t.direction == "long" else "long")
        for t in history
    ]
    a = _from_book(_envelopes(history))
    b = _from_book(_envelopes(flipped))
    assert b.total_pnl == -a.total_pnl
    assert (b.wins, b.losses, b.break_evens) == (a.losses, a.wins, a.break_evens)
    assert b.largest_winner == (None if a.largest_loser is None else -a.largest_loser)


@settings(max_examples=60, deadline=None)
@given(histories)
def test_drawdown_and_expectancy_follow_the_equity_curve(history: list[T]) -> None:
    """Invariant: max drawdown == the largest fall of cumulative P&L from a running peak (from 0),
    0 <= current <= max, and expectancy == average trade (break-evens are not losses)."""
    m = _from_book(_envelopes(history))
    peak = cum = worst = Decimal(0)
    for point in m.curve:
        cum = point.cumulative
        peak = max(peak, cum)
        worst = max(worst, peak - cum)
    assert m.max_drawdown == worst
    assert 0 <= m.current_drawdown <= m.max_drawdown
    assert m.expectancy == m.average_trade
    assert msgspec.structs.asdict(m)["trades"] == len(m.curve)


def _table(envs: list[Envelope], cut: int) -> list[tuple[object, ...]]:
    con = duckdb.connect(":memory:")
    try:
        projection = TradesProjection()
        projection.create(con)
        for part in (envs[:cut], envs[cut:]):
            if part:
                projection.load(con, part)
        return con.execute("SELECT * FROM trades ORDER BY guild_id, trade_id").fetchall()
    finally:
        con.close()


@settings(max_examples=30, deadline=None)
@given(histories, st.data())
def test_trades_table_prefix_then_rest_equals_all_at_once(
    history: list[T], data: st.DataObject
) -> None:
    """Invariant: loading events[:k] then events[k:] gives the same trades table as loading them
    all at once, for every k (rebuild(prefix) + catch-up(rest) == rebuild(all))."""
    envs = _envelopes(history)
    cut = data.draw(st.integers(min_value=0, max_value=len(envs)))
    assert _table(envs, cut) == _table(envs, len(envs))
