"""Deterministic synthetic market data shaped like the sample data: for tests and benchmarks.

Not the offline sample provider (that one lives in ``fetchers`` and goes through the event path);
this only builds scan inputs directly, fast, for any number of symbols and bars: geometric random
walks with per-symbol price level, volatility and volume, and flow alerts clustered before the
evaluation time (a few after it, which a correct scan must ignore).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from analysis.series import SymbolBars
from events.market import FlowAlert, FlowDirection

_NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class SyntheticMarket:
    """Scan inputs: bars and alerts per symbol, and the moment to evaluate at."""

    bars: dict[str, SymbolBars]
    alerts: dict[str, list[FlowAlert]]
    evaluated_at: datetime

    @property
    def alert_count(self) -> int:
        """How many flow alerts there are in total."""
        return sum(len(a) for a in self.alerts.values())


def generate_market(
    symbols: int = 500,
    bars: int = 500,
    *,
    seed: int = 20_240_101,
    last_day: date = date(2026, 11, 25),
    alerts_per_symbol: float = 8.0,
    short_history_every: int = 0,
    short_history_bars: int = 10,
) -> SyntheticMarket:
    """A reproducible market of ``symbols`` × ``bars`` business days ending on ``last_day``.

    ``short_history_every=k`` gives every k-th symbol only ``short_history_bars`` bars (to
    exercise "too little history").
    """
    rng = np.random.default_rng(seed)
    first = np.busday_offset(np.datetime64(last_day, "D"), -(bars - 1), roll="backward")
    days = np.busday_offset(first, np.arange(bars), roll="forward")
    level = np.exp(rng.uniform(np.log(5.0), np.log(600.0), symbols))[:, None]
    vol = rng.uniform(0.008, 0.035, symbols)[:, None]
    drift = rng.normal(0.0003, 0.0008, symbols)[:, None]
    returns = rng.normal(drift, vol, (symbols, bars))
    close = level * np.exp(np.cumsum(returns, axis=1))
    gap = rng.normal(0.0, vol / 3, (symbols, bars))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1) * np.exp(gap)
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol / 2, (symbols, bars))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol / 2, (symbols, bars))))
    base_volume = np.exp(rng.normal(np.log(2_000_000), 1.0, symbols))[:, None]
    volume = np.round(base_volume * rng.lognormal(0.0, 0.4, (symbols, bars)))

    evaluated_at = datetime.combine(last_day, time(15, 45), _NEW_YORK).astimezone(UTC)
    names = [f"S{i:04d}" for i in range(symbols)]
    market_bars: dict[str, SymbolBars] = {}
    for i, name in enumerate(names):
        short = short_history_every and i % short_history_every == 0
        start = max(bars - short_history_bars, 0) if short else 0
        market_bars[name] = SymbolBars(
            day=days[start:],
            open=open_[i, start:],
            high=high[i, start:],
            low=low[i, start:],
            close=close[i, start:],
            volume=volume[i, start:],
        )
    alerts = {
        name: _alerts(rng, name, float(close[i, -1]), evaluated_at, alerts_per_symbol)
        for i, name in enumerate(names)
    }
    return SyntheticMarket(market_bars, alerts, evaluated_at)


def alerts_through(
    market: SyntheticMarket, sessions: int, per_session: float, *, seed: int = 1
) -> dict[str, list[FlowAlert]]:
    """Flow alerts for every symbol spread over its last ``sessions`` bars (about
    ``per_session`` a session, clustered before each 15:45 like ``generate_market``'s), for
    backtests, which need flow all along the range rather than at its end only."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[FlowAlert]] = {}
    for name, bars in market.bars.items():
        alerts: list[FlowAlert] = []
        for index in range(max(len(bars) - sessions, 0), len(bars)):
            day = bars.day[index].astype(object)
            moment = datetime.combine(day, time(15, 45), _NEW_YORK).astimezone(UTC)
            alerts += _alerts(rng, name, float(bars.close[index]), moment, per_session)
        out[name] = alerts
    return out


def _alerts(
    rng: np.random.Generator, ticker: str, price: float, evaluated_at: datetime, mean: float
) -> list[FlowAlert]:
    count = int(rng.poisson(mean))
    # Most alerts in the last six hours, some days old, a few just after the evaluation time.
    minutes_before = np.where(
        rng.random(count) < 0.7, rng.uniform(-20, 360, count), rng.uniform(360, 4320, count)
    )
    out = []
    for k in range(count):
        created = evaluated_at - timedelta(minutes=float(np.round(minutes_before[k], 2)))
        is_call = bool(rng.random() < 0.6)
        strike = round(price * float(rng.uniform(0.85, 1.15)), 1)
        expiry = (evaluated_at + timedelta(days=int(rng.integers(7, 90)))).date()
        premium = float(np.round(np.exp(rng.normal(np.log(90_000), 1.0)), 2))
        ask_share = float(rng.beta(2, 2))
        ask, bid = premium * ask_share, premium * (1 - ask_share)
        bullish = (ask > bid) == is_call
        direction: FlowDirection = "bullish" if bullish else "bearish"
        if abs(ask - bid) < 0.1 * premium:
            direction = "neutral"
        kind = "C" if is_call else "P"
        out.append(
            FlowAlert(
                option_chain=f"{ticker}{expiry:%y%m%d}{kind}{int(strike * 1000):08d}",
                ticker=ticker,
                created_at=created,
                option_type="call" if is_call else "put",
                strike=strike,
                expiry=expiry,
                total_premium=premium,
                ask_side_premium=round(ask, 2),
                bid_side_premium=round(bid, 2),
                volume=int(rng.integers(50, 5_000)),
                open_interest=int(rng.integers(0, 20_000)),
                underlying_price=price,
                direction=direction,
            )
        )
    return out
