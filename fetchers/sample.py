"""The offline sample provider: deterministic, realistic market data that needs no key or network.

It serves the same ``MarketDataProvider`` interface as Unusual Whales, so the embedded default,
the demo and the tests go through the same event path. For a few dozen liquid symbols it makes:

- daily bars on NYSE sessions (``exchange_calendars``) for the two years up to ``today``: a
  mean-reverting geometric random walk in log price around a realistic level, with trending
  regimes (drift and volatility change every one to four months), so that oversold dips, MACD
  crosses and golden crosses happen now and then; volume follows the size of the move;
- flow alerts during the market hours of the last sessions, both calls and puts bought at the ask
  or sold at the bid (so both directions appear, leaning with the trend);
- quarterly earnings dates (none for ETFs) and an economic calendar (CPI, jobs report, FOMC).

Every path starts at a fixed epoch and each symbol has its own seed, so the data are identical
across runs, and a bar does not change when "today" moves on (incremental fetches stay coherent).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np

from events.market import Bar, EarningsDate, EconomicEvent, FlowAlert
from fetchers.calendar import NEW_YORK, session_hours, sessions_between
from fetchers.errors import UnknownSymbolError
from fetchers.provider import flow_direction

NAME = "sample"
EPOCH = date(2019, 1, 2)
HISTORY = timedelta(days=731)
FLOW_SESSIONS = 5
# Draws per path are fixed so that a longer history never reshuffles the earlier days.
_MAX_SESSIONS = 5000
_KAPPA = 0.004  # daily pull of log price back to the symbol's level


@dataclass(frozen=True, slots=True)
class SampleSymbol:
    """A sample symbol's character: price level, annual volatility, daily volume, ETF or not."""

    price: float
    vol: float
    volume: float
    etf: bool = False


SYMBOLS: dict[str, SampleSymbol] = {
    "AAPL": SampleSymbol(230, 0.25, 55e6),
    "MSFT": SampleSymbol(420, 0.22, 22e6),
    "NVDA": SampleSymbol(140, 0.50, 250e6),
    "AMZN": SampleSymbol(200, 0.32, 45e6),
    "GOOGL": SampleSymbol(175, 0.30, 28e6),
    "META": SampleSymbol(580, 0.38, 14e6),
    "TSLA": SampleSymbol(260, 0.60, 95e6),
    "AMD": SampleSymbol(150, 0.50, 45e6),
    "NFLX": SampleSymbol(700, 0.38, 4e6),
    "AVGO": SampleSymbol(170, 0.45, 25e6),
    "INTC": SampleSymbol(22, 0.45, 60e6),
    "CRM": SampleSymbol(300, 0.35, 7e6),
    "ORCL": SampleSymbol(170, 0.35, 9e6),
    "ADBE": SampleSymbol(500, 0.35, 3e6),
    "MU": SampleSymbol(100, 0.50, 22e6),
    "PLTR": SampleSymbol(60, 0.65, 70e6),
    "UBER": SampleSymbol(75, 0.42, 20e6),
    "COIN": SampleSymbol(250, 0.75, 10e6),
    "JPM": SampleSymbol(230, 0.24, 9e6),
    "BAC": SampleSymbol(42, 0.28, 38e6),
    "GS": SampleSymbol(550, 0.28, 2.5e6),
    "BRK.B": SampleSymbol(460, 0.17, 3.5e6),
    "XOM": SampleSymbol(115, 0.25, 16e6),
    "CVX": SampleSymbol(150, 0.24, 8e6),
    "UNH": SampleSymbol(520, 0.28, 4e6),
    "JNJ": SampleSymbol(155, 0.16, 7e6),
    "PFE": SampleSymbol(28, 0.25, 38e6),
    "WMT": SampleSymbol(85, 0.20, 15e6),
    "COST": SampleSymbol(900, 0.22, 2e6),
    "DIS": SampleSymbol(100, 0.30, 9e6),
    "KO": SampleSymbol(68, 0.15, 13e6),
    "PEP": SampleSymbol(160, 0.17, 6e6),
    "BA": SampleSymbol(160, 0.38, 8e6),
    "SPY": SampleSymbol(580, 0.15, 70e6, etf=True),
    "QQQ": SampleSymbol(500, 0.20, 40e6, etf=True),
    "IWM": SampleSymbol(220, 0.22, 30e6, etf=True),
    "DIA": SampleSymbol(430, 0.15, 4e6, etf=True),
    "XLF": SampleSymbol(47, 0.18, 40e6, etf=True),
}

_ALERT_RULES = ("RepeatedHits", "RepeatedHitsAscendingFill", "FloorTradeLargeCap", "Sweeps")
_DTE_CHOICES = (3, 8, 15, 31, 45, 60)


def _seed(*parts: object) -> int:
    """A stable seed (Python's ``hash`` of a str changes between runs)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode())


@dataclass(frozen=True, slots=True)
class _Path:
    """One symbol's whole generated history from the epoch, as arrays."""

    days: list[date]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[int]
    trend: list[float]  # the regime's annual drift each day


def _regimes(
    rng: np.random.Generator, n: int, vol: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Per-day annual drift and volatility multiplier, constant within 30-90-session regimes."""
    lengths = rng.integers(30, 90, size=_MAX_SESSIONS // 30 + 1)
    drifts = rng.normal(0.08, 1.5 * vol, size=lengths.size)
    vol_mult = rng.uniform(0.7, 1.5, size=lengths.size)
    which = np.repeat(np.arange(lengths.size), lengths)[:n]
    return drifts[which], vol_mult[which]


def _path(symbol: str, spec: SampleSymbol, days: list[date]) -> _Path:
    n = len(days)
    rng = np.random.default_rng(_seed("bars", symbol))
    shocks = rng.standard_normal((_MAX_SESSIONS, 4))[:n]
    annual_drift, vol_mult = _regimes(rng, n, spec.vol)
    sigma = spec.vol / np.sqrt(252.0) * vol_mult
    step = annual_drift / 252.0 + sigma * shocks[:, 0]
    # x_t = phi * x_{t-1} + step_t, solved in closed form: phi^t * cumsum(step_k * phi^-k).
    phi = 1.0 - _KAPPA
    k = np.arange(n, dtype=np.float64)
    x = phi**k * np.cumsum(step * phi**-k)
    close = spec.price * np.exp(x)
    previous = np.concatenate(([spec.price], close[:-1]))
    open_ = previous * np.exp(0.3 * sigma * shocks[:, 1])
    high = np.maximum(open_, close) * np.exp(np.abs(0.5 * sigma * shocks[:, 2]))
    low = np.minimum(open_, close) * np.exp(-np.abs(0.5 * sigma * shocks[:, 3]))
    move = np.abs(step) / sigma
    volume = spec.volume * np.exp(0.25 * shocks[:, 2]) * (0.7 + 0.45 * move)
    return _Path(
        days=days,
        open=np.round(open_, 2).tolist(),
        high=np.round(high, 2).tolist(),
        low=np.round(low, 2).tolist(),
        close=np.round(close, 2).tolist(),
        volume=np.maximum(volume, 1.0).astype(np.int64).tolist(),
        trend=annual_drift.tolist(),
    )


class SampleProvider:
    """Deterministic offline market data up to ``today`` (implements ``MarketDataProvider``).

    ``today`` fixes the last day; without it, it is the New York date of ``now()`` at each call,
    so a long-running bot sees new sessions. ``now`` also hides flow alerts created after it.
    """

    name = NAME

    def __init__(
        self, today: date | None = None, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self._fixed_today = today
        self._now = now
        self._paths: dict[tuple[str, date], _Path] = {}
        self._sessions: dict[date, list[date]] = {}

    def __repr__(self) -> str:
        return f"SampleProvider(today={self.today.isoformat()})"

    @property
    def today(self) -> date:
        """The last day of the data."""
        if self._fixed_today is not None:
            return self._fixed_today
        moment = self._now() if self._now is not None else datetime.now(UTC)
        return moment.astimezone(NEW_YORK).date()

    @property
    def symbols(self) -> list[str]:
        """The symbols this provider knows."""
        return list(SYMBOLS)

    def path(self, symbol: str) -> _Path:
        """The symbol's whole generated history (cached); ``UnknownSymbolError`` if not sampled."""
        today = self.today
        found = self._paths.get((symbol, today))
        if found is None:
            if any(day != today for _, day in self._paths):
                # The date moved on (a long-running bot): earlier days' paths are never asked
                # for again, and a year of them would hold gigabytes.
                self._paths = {k: v for k, v in self._paths.items() if k[1] == today}
                self._sessions = {today: self._sessions[today]} if today in self._sessions else {}
            spec = SYMBOLS.get(symbol)
            if spec is None:
                raise UnknownSymbolError(f"the sample data have no {symbol}", provider=NAME)
            days = self._sessions.get(today)
            if days is None:
                days = self._sessions[today] = sessions_between(EPOCH, today)
                if len(days) > _MAX_SESSIONS:
                    raise ValueError(f"the sample data end before {today.isoformat()}")
            found = self._paths[(symbol, today)] = _path(symbol, spec, days)
        return found

    def bars(self, symbol: str) -> list[Bar]:
        """The two years of daily bars up to ``today``, oldest first."""
        p = self.path(symbol)
        start = p.days[-1] - HISTORY
        first = next(i for i, d in enumerate(p.days) if d > start)
        return [
            Bar(day=p.days[i], open=p.open[i], high=p.high[i], low=p.low[i], close=p.close[i],
                volume=p.volume[i])
            for i in range(first, len(p.days))
        ]  # fmt: skip

    async def daily_bars(self, symbol: str, *, limit: int) -> list[Bar]:
        """The newest ``limit`` bars of the two-year history, oldest first."""
        return self.bars(symbol)[-limit:] if limit > 0 else []

    def alerts(self, symbol: str) -> list[FlowAlert]:
        """Every sample flow alert of ``symbol`` in the last sessions, oldest first."""
        p = self.path(symbol)
        out: list[FlowAlert] = []
        for i in range(max(0, len(p.days) - FLOW_SESSIONS), len(p.days)):
            out.extend(_session_alerts(symbol, p.days[i], p.close[i], p.trend[i]))
        return out

    async def flow_alerts(
        self,
        symbols: Sequence[str],
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
        newer_than: datetime | None = None,
        limit: int = 200,
    ) -> list[FlowAlert]:
        """Sample alerts matching the filters, newest first (unknown symbols have none)."""
        now = self._now() if self._now is not None else None
        found = [
            a
            for s in symbols
            if s in SYMBOLS
            for a in self.alerts(s)
            if a.total_premium >= min_premium
            and a.volume >= min_volume
            and (newer_than is None or a.created_at > newer_than)
            and (now is None or a.created_at <= now)
        ]
        found.sort(key=lambda a: a.created_at, reverse=True)
        return found[:limit]

    async def next_earnings(self, symbol: str) -> EarningsDate | None:
        """The next quarterly earnings date on or after ``today`` (``None`` for ETFs)."""
        spec = SYMBOLS.get(symbol)
        if spec is None:
            raise UnknownSymbolError(f"the sample data have no {symbol}", provider=NAME)
        if spec.etf:
            return None
        offset = _seed("earnings", symbol) % 91
        cycle = EPOCH + timedelta(days=offset)
        elapsed = (self.today - cycle).days
        day = cycle + timedelta(days=-(-elapsed // 91) * 91)
        while day.weekday() >= 5:  # reports land on weekdays
            day += timedelta(days=1)
        announce = "afterhours" if _seed("announce", symbol) % 3 else "premarket"
        return EarningsDate(symbol=symbol, day=day, announce_time=announce)

    async def economic_calendar(self) -> list[EconomicEvent]:
        """CPI, the jobs report and FOMC decisions from a week ago to a month ahead."""
        start, end = self.today - timedelta(days=7), self.today + timedelta(days=31)
        entries: list[EconomicEvent] = []
        month = date(start.year, start.month, 1)
        while month <= end:
            entries.extend(_month_events(month))
            month = (month + timedelta(days=32)).replace(day=1)
        return sorted(
            (e for e in entries if start <= e.time.astimezone(NEW_YORK).date() <= end),
            key=lambda e: e.time,
        )


def _session_alerts(symbol: str, day: date, close: float, trend: float) -> list[FlowAlert]:
    """The alerts of one symbol in one session, from their own seed."""
    rng = random.Random(_seed("flow", symbol, day.isoformat()))  # cheaper than numpy per scalar
    opens, closes = session_hours(day)
    minutes = int((closes - opens).total_seconds() // 60)
    lean = 0.5 + (0.2 if trend > 0 else -0.2)
    increment = 1.0 if close < 200 else 5.0
    alerts: list[FlowAlert] = []
    for _ in range(rng.randint(0, 6)):
        option_type: Literal["call", "put"] = "call" if rng.random() < 0.55 else "put"
        created = opens + timedelta(
            minutes=rng.randint(5, minutes - 1), milliseconds=rng.randrange(60_000)
        )
        strike = max(increment, round(close * (1 + rng.gauss(0.0, 0.05)) / increment) * increment)
        expiry = _friday_on_or_after(day + timedelta(days=rng.choice(_DTE_CHOICES)))
        premium = round(min(8e6, max(30_000.0, rng.lognormvariate(math.log(250_000), 0.9))), 2)
        dominant = round(premium * rng.uniform(0.6, 0.98), 2)
        roll = rng.random()
        if roll < 0.05:  # a crossed print: both sides equal, neutral
            ask = bid = premium / 2
        else:
            bullish = roll < 0.05 + 0.95 * lean
            at_ask = bullish == (option_type == "call")
            ask, bid = (dominant, premium - dominant) if at_ask else (premium - dominant, dominant)
        option_price = max(0.05, close * 0.02 * math.sqrt((expiry - day).days / 30))
        volume = max(1, int(premium / (option_price * 100)))
        alerts.append(
            FlowAlert(
                option_chain=f"{symbol.replace('.', '')}{expiry:%y%m%d}"
                f"{option_type[0].upper()}{round(strike * 1000):08d}",
                ticker=symbol,
                created_at=created,
                option_type=option_type,
                strike=strike,
                expiry=expiry,
                total_premium=premium,
                ask_side_premium=round(ask, 2),
                bid_side_premium=round(bid, 2),
                volume=volume,
                open_interest=int(volume * rng.uniform(0.3, 5.0)),
                underlying_price=close,
                has_sweep=rng.random() < 0.3,
                alert_rule=rng.choice(_ALERT_RULES),
                direction=flow_direction(option_type, round(ask, 2), round(bid, 2)),
            )
        )
    alerts.sort(key=lambda a: a.created_at)
    return alerts


def _friday_on_or_after(day: date) -> date:
    return day + timedelta(days=(4 - day.weekday()) % 7)


def _nth_weekday(month: date, weekday: int, n: int) -> date:
    first = month + timedelta(days=(weekday - month.weekday()) % 7)
    return first + timedelta(weeks=n - 1)


_FOMC_MONTHS = frozenset({1, 3, 5, 6, 7, 9, 10, 12})


def _month_events(month: date) -> list[EconomicEvent]:
    """The month's CPI (around the 12th), jobs report (first Friday) and FOMC (third Wednesday)."""

    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)

    cpi_day = month.replace(day=12)
    while cpi_day.weekday() >= 5:
        cpi_day += timedelta(days=1)
    events = [
        EconomicEvent(name="Consumer Price Index", time=at(cpi_day, 8, 30), kind="report",
                      reported_period=f"{(month - timedelta(days=1)):%B}"),
        EconomicEvent(name="Nonfarm payrolls", time=at(_nth_weekday(month, 4, 1), 8, 30),
                      kind="report", reported_period=f"{(month - timedelta(days=1)):%B}"),
    ]  # fmt: skip
    if month.month in _FOMC_MONTHS:
        events.append(
            EconomicEvent(
                name="FOMC rate decision", time=at(_nth_weekday(month, 2, 3), 14), kind="fomc"
            )
        )
    return events


def main(argv: Sequence[str] | None = None) -> None:
    """Time the generation of every symbol: ``python -m fetchers.sample [YYYY-MM-DD]``.

    Prints one JSON object: the calendar's one-off build time and the generation time (best of
    five, each with a fresh provider).
    """
    import json
    import sys
    import time as clock

    args = list(sys.argv[1:] if argv is None else argv)
    today = date.fromisoformat(args[0]) if args else datetime.now(UTC).astimezone(NEW_YORK).date()
    started = clock.perf_counter()
    sessions_between(today, today)
    calendar_s = clock.perf_counter() - started
    runs: list[float] = []
    bars = alerts = 0
    for _ in range(5):
        started = clock.perf_counter()
        provider = SampleProvider(today)
        bars = sum(len(provider.bars(s)) for s in SYMBOLS)
        alerts = sum(len(provider.alerts(s)) for s in SYMBOLS)
        runs.append(clock.perf_counter() - started)
    figures = {
        "today": today.isoformat(),
        "symbols": len(SYMBOLS),
        "bars": bars,
        "alerts": alerts,
        "calendar_build_s": round(calendar_s, 3),
        "generate_all_s": round(min(runs), 3),
        "generate_all_worst_s": round(max(runs), 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
