"""Trade-journal metrics: every figure the predecessor showed, computed exactly and correctly.

Input is a member's closed trades (``TradeRecord``), from the in-memory trade book or the DuckDB
``trades`` table; both give the same answer (a property test holds them to it). Differences from
the predecessor, on purpose:

- a break-even trade (P&L exactly 0) is neither a win nor a loss; it has its own count;
- win rate is ``wins / trades``, loss rate ``losses / trades``, so expectancy
  ``win_rate * avg_winner - loss_rate * |avg_loser|`` equals the average trade (the predecessor's
  ``1 - win_rate`` counted break-evens as losses);
- a trade without a strategy is filed under ``manual``, never "Unknown"; a strategy is one row
  however its trades named it (its key, or its display name as older trades from a pick did),
  shown under its display name (``StrategyNames``);
- every trade in the window counts (no 10,000-row cap before the date filter).

Money is ``Decimal`` throughout; only ratios are rounded, for display.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from analysis.performance import mean, streaks, trade_stats
from projections.trading import TradeRecord

ZERO = Decimal(0)


class Breakdown(msgspec.Struct, frozen=True, kw_only=True):
    """Aggregates of one group of trades (one strategy, symbol or tag)."""

    key: str
    trades: int
    label: str = ""
    """How the group is shown (a strategy's display name); empty: the key."""
    wins: int
    losses: int
    break_evens: int
    total_pnl: Decimal
    win_rate: Decimal


class CurvePoint(msgspec.Struct, frozen=True, kw_only=True):
    """Cumulative P&L and drawdown after one closed trade."""

    at: datetime
    trade_id: str
    cumulative: Decimal
    drawdown: Decimal


class JournalMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """A member's performance over a window of closed trades."""

    trades: int
    wins: int
    losses: int
    break_evens: int
    total_pnl: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    win_rate: Decimal | None
    average_winner: Decimal | None
    average_loser: Decimal | None
    average_trade: Decimal | None
    largest_winner: Decimal | None
    largest_loser: Decimal | None
    profit_factor: Decimal | None
    """``None`` when there are no losses (infinite or undefined)."""
    expectancy: Decimal | None
    average_r: Decimal | None
    r_trades: int
    longest_win_streak: int
    longest_loss_streak: int
    current_drawdown: Decimal
    max_drawdown: Decimal
    average_holding: timedelta | None
    by_strategy: list[Breakdown]
    by_symbol: list[Breakdown]
    by_tag: list[Breakdown]
    curve: list[CurvePoint]


class StrategyNames:
    """One key per strategy, whichever name a trade recorded, and the display name to show.

    Built from ``(key, display name)`` pairs; a name matching no pair is its own key."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._keys: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        for key, title in pairs:
            self._titles[key] = title or key
            self._keys[key.lower()] = key
        for key, title in self._titles.items():
            # A key wins over another strategy's display name that happens to read the same.
            self._keys.setdefault(title.lower(), key)

    def key(self, trade: TradeRecord) -> str:
        """The key of the strategy ``trade`` is filed under (``manual`` without one)."""
        recorded = trade.strategy_label
        return self._keys.get(recorded.lower(), recorded)

    def label(self, key: str) -> str:
        """The display name of the strategy with ``key`` (the key when it is unknown)."""
        return self._titles.get(key, key)


def closing_order(trades: Iterable[TradeRecord]) -> list[TradeRecord]:
    """Closed trades in the order they were closed (the journal's order breaks time ties)."""
    closed = [t for t in trades if t.closed_at is not None and t.exit is not None]
    closed.sort(key=lambda t: (t.closed_position, t.trade_id))
    return closed


def _pnl(t: TradeRecord) -> Decimal:
    value = t.pnl
    assert value is not None
    return value


def _breakdowns(
    trades: Sequence[TradeRecord],
    keys: Callable[[TradeRecord], Iterable[str]],
    label: Callable[[str], str] = lambda key: "",
) -> list[Breakdown]:
    groups: dict[str, list[TradeRecord]] = {}
    for t in trades:
        for k in keys(t):
            groups.setdefault(k, []).append(t)
    out = []
    for key, group in groups.items():
        stats = trade_stats([_pnl(t) for t in group], ZERO)
        assert stats.win_rate is not None  # a group has at least one trade
        out.append(
            Breakdown(
                key=key,
                label=label(key),
                trades=stats.trades,
                wins=stats.wins,
                losses=stats.losses,
                break_evens=stats.break_evens,
                total_pnl=stats.total,
                win_rate=stats.win_rate,
            )
        )
    out.sort(key=lambda b: (-b.total_pnl, b.key))
    return out


def compute_metrics(
    trades: Iterable[TradeRecord], *, strategies: StrategyNames | None = None
) -> JournalMetrics:
    """Every journal metric over the closed trades given (open ones are ignored); ``strategies``
    groups the by-strategy breakdown by key and names each row by its display name."""
    names = strategies or StrategyNames()
    closed = closing_order(trades)
    pnls = [_pnl(t) for t in closed]
    stats = trade_stats(pnls, ZERO)
    rs = [r for r in (t.r_multiple for t in closed) if r is not None]
    curve: list[CurvePoint] = []
    cumulative = peak = max_dd = ZERO
    for t, p in zip(closed, pnls, strict=True):
        cumulative += p
        peak = max(peak, cumulative)
        max_dd = max(max_dd, peak - cumulative)
        assert t.closed_at is not None
        curve.append(
            CurvePoint(
                at=t.closed_at,
                trade_id=t.trade_id,
                cumulative=cumulative,
                drawdown=peak - cumulative,
            )
        )
    holdings = [t.closed_at - t.opened_at for t in closed if t.closed_at is not None]
    win_streak, loss_streak = streaks(pnls)
    return JournalMetrics(
        trades=stats.trades,
        wins=stats.wins,
        losses=stats.losses,
        break_evens=stats.break_evens,
        total_pnl=stats.total,
        gross_profit=stats.gross_profit,
        gross_loss=stats.gross_loss,
        win_rate=stats.win_rate,
        average_winner=stats.average_winner,
        average_loser=stats.average_loser,
        average_trade=stats.average_trade,
        largest_winner=max(pnls) if stats.wins else None,
        largest_loser=min(pnls) if stats.losses else None,
        profit_factor=stats.profit_factor,
        expectancy=stats.expectancy,
        average_r=mean(rs, ZERO),
        r_trades=len(rs),
        longest_win_streak=win_streak,
        longest_loss_streak=loss_streak,
        current_drawdown=curve[-1].drawdown if curve else ZERO,
        max_drawdown=max_dd,
        average_holding=sum(holdings, timedelta()) / len(holdings) if holdings else None,
        by_strategy=_breakdowns(closed, lambda t: (names.key(t),), names.label),
        by_symbol=_breakdowns(closed, lambda t: (t.symbol,)),
        by_tag=_breakdowns(closed, lambda t: t.tags or ("untagged",)),
        curve=curve,
    )


def in_window(trades: Iterable[TradeRecord], since: datetime | None) -> list[TradeRecord]:
    """The trades closed at or after ``since`` (all closed trades when ``None``)."""
    return [
        t for t in trades if t.closed_at is not None and (since is None or t.closed_at >= since)
    ]
