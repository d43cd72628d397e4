"""What a backtest reads: the projections at the analytics' position and the journal folded up to
an earlier one give the same inputs, and the chart's buy-and-hold reference."""

from __future__ import annotations

from datetime import date

import numpy as np

from analysis.series import SymbolBars
from commands.backtest.chart import buy_and_hold
from commands.backtest.inputs import JournalMarketData
from commands.core.adapters import StoredMarketData
from commands.core.service import CommandService
from tests.support.backtest_data import append, sample_events
from tests.unit.commands.backtest.conftest import NOW, SYMBOLS


def _same_bars(a: dict[str, SymbolBars], b: dict[str, SymbolBars]) -> None:
    assert sorted(a) == sorted(b)
    for symbol in a:
        for column in ("day", "open", "high", "low", "close", "volume"):
            left, right = getattr(a[symbol], column), getattr(b[symbol], column)
            assert left.dtype == right.dtype
            assert np.array_equal(left, right), (symbol, column)


async def test_the_journal_fold_reads_what_the_projections_hold(service: CommandService) -> None:
    """At the analytics' position, the journal's market-data events folded give exactly the
    projections' bars, flow alerts and earnings dates with when each was learned (so a repeat
    reads what the first run read); at an earlier position, only what was appended by then."""
    runner = service.analytics_runner
    assert runner is not None
    assert runner.analytics is not None
    stored = StoredMarketData(runner.analytics)
    head = service.journal.head()
    folded = JournalMarketData(service.journal)
    _same_bars(stored.bars(SYMBOLS), folded.bars(SYMBOLS, at=head))
    assert stored.flow_alerts(SYMBOLS) == folded.flow_alerts(SYMBOLS, at=head)
    assert stored.known_earnings(SYMBOLS) == folded.known_earnings(SYMBOLS, at=head)
    learned = stored.known_earnings(SYMBOLS)["AAPL"]
    assert [e.learned_at for e in learned] == [NOW]  # the fetch's recorded time
    await append(service, sample_events(["AMZN"]), "fetch-later")
    assert "AMZN" not in folded.bars(["AMZN", "AAPL"], at=head)
    assert "AMZN" not in stored.bars(["AMZN"], at=head)
    assert "AMZN" in JournalMarketData(service.journal).bars(["AMZN"], at=None)


def test_buy_and_hold_splits_the_capital_and_keeps_the_last_close() -> None:
    """Buy-and-hold puts equal parts of the capital in each symbol at the first day's close and
    follows the closes; a day without a bar keeps that symbol's last close."""
    days = [date(2026, 1, d) for d in (5, 6, 7)]
    a = SymbolBars.from_arrays(days, [1.0] * 3, [1.0] * 3, [1.0] * 3, [10.0, 20.0, 30.0], [1] * 3)
    b = SymbolBars.from_arrays(days[:2], [1.0] * 2, [1.0] * 2, [1.0] * 2, [5.0, 5.0], [1] * 2)
    values = buy_and_hold({"A": a, "B": b}, days, 1000.0)
    assert values == [1000.0, 1500.0, 2000.0]
