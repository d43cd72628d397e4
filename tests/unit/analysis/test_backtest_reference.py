"""The engine against an independent one: ``backtesting`` (PyPI, a test-only dependency).

One simple strategy on one symbol under fill rules both engines share: enter when the close
crosses above its SMA(20), decided at the close and filled at the next open; stop 5 % and target
8 % below/above the signal's close, checked against each later bar's low and high (the entry bar's
too), the stop first when a bar touches both, a gap through a level filled at the open; sized to
risk 1 % of equity down to the stop (whole shares), one position at a time; a fixed commission of
1 per order; no slippage (``backtesting`` applies its spread to entries only, ours is against the
trade on both sides, so they agree only at 0). Same trades, same final equity.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy  # type: ignore[import-untyped]

from analysis.backtest import BacktestParams, MarketData, run
from tests.support.synthetic import generate_market
from tests.unit.analysis.builders import strategy

STOP, TARGET, RISK, COMMISSION = 0.05, 0.08, 0.01, 1.0
SMA_CROSS = strategy(
    "    - type: price_action\n      indicator: close\n      operator: cross_above\n"
    "      value: sma\n",
    indicators="  - name: sma\n    type: SMA\n    params:\n      period: 20\n",
    exit_="  take_profit:\n    type: percentage\n    value: 8\n"
    "  stop_loss:\n    type: percentage\n    value: 5\n",
)


class SmaCross(Strategy):  # type: ignore[misc]
    """The same rule written for ``backtesting`` (its own SMA from pandas)."""

    def init(self) -> None:
        self.sma = self.I(lambda c: pd.Series(c).rolling(20).mean().to_numpy(), self.data.Close)

    def next(self) -> None:
        close, sma = self.data.Close, self.sma
        if self.position or not (close[-2] <= sma[-2] and close[-1] > sma[-1]):
            return
        entry = float(close[-1])
        stop, target = entry * (1 - STOP), entry * (1 + TARGET)
        shares = math.floor(min(self.equity * RISK / (entry - stop), self.equity / entry))
        if shares >= 1:
            self.buy(size=shares, sl=stop, tp=target)


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_same_trades_and_final_equity_as_backtesting(seed: int) -> None:
    """On 400 generated bars: the same entry and exit dates and prices, share counts, P&L per
    trade and final equity (open position marked to the last close) as ``backtesting``."""
    market = generate_market(1, 400, seed=seed, alerts_per_symbol=0.0)
    [(symbol, bars)] = market.bars.items()
    frame = pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.DatetimeIndex(bars.day.astype("datetime64[ns]")),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats: Any = Backtest(frame, SmaCross, cash=100_000, commission=(COMMISSION, 0.0)).run()
    theirs = stats["_trades"]
    params = BacktestParams(
        commission=COMMISSION, max_positions=1, start=bars.day[0].astype(object)
    )
    ours = run(SMA_CROSS, MarketData(bars={symbol: bars}, sessions=bars.day), params)

    assert not any("not taken" in note for note in ours.notes)
    assert len(ours.trades) == len(theirs) > 3
    for trade, (_, row) in zip(ours.trades, theirs.iterrows(), strict=True):
        assert trade.entry_date == row["EntryTime"].date()
        assert trade.exit_date == row["ExitTime"].date()
        assert trade.shares == row["Size"]
        assert trade.entry_price == pytest.approx(row["EntryPrice"], rel=1e-12)
        assert trade.exit_price == pytest.approx(row["ExitPrice"], rel=1e-12)
        assert trade.pnl == pytest.approx(row["PnL"], rel=1e-9)
    assert ours.metrics.final_equity == pytest.approx(stats["Equity Final [$]"], rel=1e-12)
    curve = stats["_equity_curve"]["Equity"].to_numpy()
    ours_curve = np.asarray([p.value for p in ours.equity])
    np.testing.assert_allclose(ours_curve, curve[-len(ours_curve) :], rtol=1e-12)
