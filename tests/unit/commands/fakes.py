"""Fakes of the command ports: market-data fetcher, analyzer and trading calendar (the clock is
``tests.support.clocks.FakeClock``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from hashlib import sha256

from commands.core.ports import (
    Coverage,
    SignalRow,
    StrategyInfo,
    StrategyRef,
    StrategyText,
    UnknownStrategyError,
)
from commands.core.service import Invocation
from commands.picks.schedule import NEW_YORK
from events.analysis import Signal, SignalsGenerated, SkippedSymbol
from events.base import NewEvent
from events.market import (
    Bar,
    BarsFetched,
    EarningsDate,
    EarningsFetched,
    FetchFailed,
    FlowAlertsFetched,
)


class FakeFetcher:
    """Bars for any symbol (three days) except ``up_to_date`` ones, the ``earnings`` dates given,
    flow alerts none; ``failing`` symbols fail; may raise."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.up_to_date: set[str] = set()
        self.earnings: dict[str, date] = {}
        self.failing_earnings: set[str] = set()
        self.raise_flows = False
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    @property
    def sources(self) -> list[str]:
        return ["fake"]

    async def fetch_bars(self, symbols: Sequence[str], *, now: datetime) -> list[NewEvent]:
        self.calls.append(("bars", tuple(symbols)))
        out: list[NewEvent] = []
        for s in symbols:
            if s in self.failing:
                out.append(
                    NewEvent(
                        "fetch-failures",
                        FetchFailed(kind="bars", symbols=[s], source="fake", error="HTTP 503"),
                    )
                )
                continue
            if s in self.up_to_date:
                continue
            bars = [
                Bar(day=date(2026, 3, d), open=10.0, high=11.0, low=9.0, close=10.0 + d, volume=100)
                for d in (2, 3, 4)
            ]
            out.append(NewEvent(f"bars:{s}", BarsFetched(symbol=s, source="fake", bars=bars)))
        entries = [
            EarningsDate(symbol=s, day=self.earnings[s]) for s in symbols if s in self.earnings
        ]
        if entries:
            out.append(NewEvent("earnings", EarningsFetched(source="fake", entries=entries)))
        if failed := [s for s in symbols if s in self.failing_earnings]:
            failure = FetchFailed(kind="earnings", symbols=failed, source="fake", error="HTTP 500")
            out.append(NewEvent("fetch-failures", failure))
        return out

    async def fetch_flows(
        self, symbols: Sequence[str], *, min_premium: float, now: datetime
    ) -> list[NewEvent]:
        self.calls.append(("flows", tuple(symbols)))
        if self.raise_flows:
            raise ConnectionError("flow provider down")
        event = FlowAlertsFetched(
            symbols=list(symbols), source="fake", alerts=[], min_premium=min_premium
        )
        return [NewEvent("flow:all", event)]


class FakeAnalyzer:
    """Two strategies; a scan picks every symbol in ``picks`` and skips the others, and with
    ``skip_earnings_within`` those whose ``earnings`` date is that near (the engine's reason text).
    ``on_scan`` is called at the start of each scan (to observe what the scan would read)."""

    def __init__(self) -> None:
        self.picks: set[str] = {"AAPL"}
        self.earnings: dict[str, date] = {}
        self.scans: list[tuple[str, tuple[str, ...]]] = []
        self.skip_earnings: list[int | None] = []
        self.on_scan: Callable[[], None] | None = None

    def strategies(self) -> list[StrategyInfo]:
        return [
            StrategyInfo(name="rsi_flow", title="RSI Flow", description="RSI dip with flow"),
            StrategyInfo(name="golden_cross", title="Golden Cross", description="SMA 50 over 200"),
        ]

    def describe(self, name: StrategyRef) -> str:
        if isinstance(name, StrategyText):
            return f"{name.key} {name.version}: from the server's text"
        return f"{name}: indicators RSI(14)"

    def scan(
        self,
        strategy: StrategyRef,
        symbols: Sequence[str],
        *,
        guild_id: int | None,
        scan_id: str,
        now: datetime,
        skip_earnings_within: int | None = None,
    ) -> SignalsGenerated:
        # A server's version scans like a shipped one, recorded under its key, label and hash.
        text = strategy if isinstance(strategy, StrategyText) else None
        key = text.key if text is not None else str(strategy)
        if text is None and key not in {s.name for s in self.strategies()}:
            raise UnknownStrategyError(key)
        if self.on_scan is not None:
            self.on_scan()
        self.scans.append((key, tuple(symbols)))
        self.skip_earnings.append(skip_earnings_within)
        near = {
            s: f"earnings on {d.isoformat()} (within {skip_earnings_within} days)"
            for s, d in self.earnings.items()
            if skip_earnings_within is not None
            and 0 <= (d - now.date()).days <= skip_earnings_within
        }
        return SignalsGenerated(
            scan_id=scan_id,
            strategy_name=key,
            strategy_hash=sha256(text.yaml_text.encode()).hexdigest() if text else "h",
            strategy_version=text.version if text else "",
            evaluated_at=now,
            universe=list(symbols),
            guild_id=guild_id,
            signals=[
                Signal(
                    symbol=s,
                    as_of=now.date(),
                    entry=100.0,
                    stop_loss=95.0,
                    take_profit=110.0,
                    score=1.0,
                )
                for s in symbols
                if s in self.picks and s not in near
            ],
            skipped=[
                SkippedSymbol(symbol=s, reason=near.get(s, "no entry"))
                for s in symbols
                if s not in self.picks or s in near
            ],
        )


class FakeCalendar:
    """Weekdays are sessions except ``holidays``; ``early`` days close at 13:00 New York time."""

    def __init__(self, holidays: set[date] | None = None, early: set[date] | None = None) -> None:
        self.holidays = holidays or set()
        self.early = early or set()

    def is_session(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def close_at(self, day: date) -> datetime:
        return datetime.combine(day, time(13 if day in self.early else 16), tzinfo=NEW_YORK)

    def is_early_close(self, day: date) -> bool:
        return day in self.early


class Members:
    """Invocations with fresh command ids for a few members of two guilds."""

    def __init__(self) -> None:
        self.n = 0

    def inv(
        self, user: int = 1, guild: int = 100, *, admin: bool = False, command_id: str | None = None
    ) -> Invocation:
        self.n += 1
        return Invocation(
            command_id=command_id or f"cmd-{self.n}",
            guild_id=guild,
            user_id=user,
            is_admin=admin,
            channel_id=555,
        )


class FakeMarketView:
    """Known symbols and stored signals held in memory."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.known = known or set()
        self.rows: list[SignalRow] = []

    def known_symbols(self) -> set[str]:
        return set(self.known)

    def coverage(self, symbols: Sequence[str]) -> list[Coverage]:
        return [Coverage(symbol=s) for s in symbols]

    def signals(self, guild_id: int, *, symbol: str | None, since: datetime) -> list[SignalRow]:
        return [r for r in self.rows if symbol in (None, r.symbol) and r.evaluated_at >= since]

    def signal(self, scan_id: str, symbol: str) -> SignalRow | None:
        return next((r for r in self.rows if (r.scan_id, r.symbol) == (scan_id, symbol)), None)
