"""The fetch use-cases: ask a provider, keep what is new, and return events plus a human summary.

The caller (a command handler, the CLI, the scheduler) appends the returned events through the
journal with a fetch id as command id; nothing here touches the journal. What is already known
comes from a small read-model (``KnownBars``), so fetches are incremental:

- bars: a symbol whose last bar is the last closed NYSE session is "up to date" and not asked
  for at all; otherwise only the missing sessions are requested (plus a margin for an unfinished
  session) and only bars newer than the known ones, of closed sessions, become ``bars_fetched``;
- flow alerts: asked for since the newest known alert (within a look-back window) and
  deduplicated on ``(option_chain, created_at)`` against the journal and within the answer.

A provider failure becomes a ``fetch_failed`` event (``source`` = provider name, a scrubbed
reason, whether a retry may help); a user's bad symbol is an ``InvalidSymbolError`` before any
request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from events.base import NewEvent
from events.clock import Clock, SystemClock
from events.market import (
    SYMBOL_PATTERN,
    BarsFetched,
    EarningsDate,
    EarningsFetched,
    EconomicCalendarFetched,
    FetchFailed,
    FlowAlert,
    FlowAlertsFetched,
    ProfileFetched,
    QuoteFetched,
)
from fetchers.calendar import NEW_YORK, last_closed_session, sessions_after
from fetchers.errors import FeatureDisabledError, FetchError, InvalidSymbolError
from fetchers.finnhub import Finnhub
from fetchers.http import HttpSession
from fetchers.provider import MarketDataProvider, ReferenceDataProvider
from fetchers.sample import SampleProvider
from fetchers.unusual_whales import UnusualWhales

HISTORY_BARS = 504  # two years of sessions
FLOW_LOOKBACK = timedelta(days=3)
FLOW_BATCH = 25
FLOW_LIMIT = 1000
CONCURRENCY = 8
FAILURES_STREAM = "fetch-failures"

Status = Literal["fetched", "up_to_date", "no_data", "failed"]


class KnownBars(Protocol):
    """What the journal already holds, from a state projection (the read-model fetches need)."""

    def last_bar_day(self, symbol: str) -> date | None:
        """The day of the newest stored bar of ``symbol``, or ``None``."""
        ...

    def known_alert_ids(self, symbol: str) -> set[tuple[str, datetime]]:
        """The ``(option_chain, created_at)`` of every stored flow alert on ``symbol``."""
        ...


@dataclass(frozen=True, slots=True)
class SymbolOutcome:
    """What one fetch did for one symbol (``symbol`` is ``*`` for market-wide data)."""

    symbol: str
    kind: str
    status: Status
    count: int = 0
    detail: str = ""

    def summary(self) -> str:
        """One line for people: ``AAPL: fetched 12 bars``, ``MSFT: up to date``, ``X: failed``."""
        if self.status == "fetched":
            text = f"{self.symbol}: fetched {self.count} {_NOUNS.get(self.kind, self.kind)}"
        elif self.status == "up_to_date":
            text = f"{self.symbol}: up to date"
        elif self.status == "no_data":
            text = f"{self.symbol}: no data"
        else:
            text = f"{self.symbol}: failed"
        return f"{text}: {self.detail}" if self.detail else text


_NOUNS = {
    "bars": "bars",
    "flow_alerts": "new flow alerts",
    "earnings": "earnings dates",
    "quote": "quote",
    "profile": "profile",
    "economic_calendar": "calendar entries",
}


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The events to append and one outcome per symbol, in the order the symbols were given."""

    kind: str
    source: str
    events: list[NewEvent] = field(default_factory=list)
    outcomes: list[SymbolOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[SymbolOutcome]:
        """The outcomes that failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        """Several lines for people, starting with the source used."""
        lines = [f"{_NOUNS.get(self.kind, self.kind)} from {self.source}:"]
        lines.extend(f"  {o.summary()}" for o in self.outcomes)
        return "\n".join(lines)


def new_fetch_id(kind: str) -> str:
    """A fresh command id for one fetch (reuse it to retry the same append idempotently)."""
    return f"fetch-{kind}-{uuid.uuid4().hex}"


def normalize_symbols(raw: Iterable[str]) -> list[str]:
    """Upper-cased, de-duplicated symbols in input order (commas and spaces split entries).

    ``InvalidSymbolError`` names every entry that is not a ticker, before any request is made.
    """
    symbols: list[str] = []
    bad: list[str] = []
    for entry in raw:
        for part in entry.replace(",", " ").split():
            symbol = part.upper()
            if not SYMBOL_PATTERN.fullmatch(symbol):
                bad.append(part)
            elif symbol not in symbols:
                symbols.append(symbol)
    if bad:
        shown = ", ".join(repr(b[:20]) for b in bad[:5])
        raise InvalidSymbolError(
            f"not a ticker symbol: {shown} (expected 1-10 letters, digits, '.' or '-', "
            "starting with a letter)"
        )
    if not symbols:
        raise InvalidSymbolError("no symbol given")
    return symbols


def _failure(kind: str, symbols: Sequence[str], source: str, exc: FetchError) -> NewEvent:
    return NewEvent(
        FAILURES_STREAM,
        FetchFailed(
            kind=kind,
            symbols=list(symbols),
            source=source,
            error=exc.reason,
            retryable=exc.retryable,
        ),
    )


_Work = Callable[[str], Awaitable[tuple[list[NewEvent], SymbolOutcome]]]


async def _per_symbol(kind: str, source: str, symbols: Sequence[str], work: _Work) -> FetchResult:
    """Run ``work`` for every symbol (bounded concurrency); a ``FetchError`` becomes a failure."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(symbol: str) -> tuple[list[NewEvent], SymbolOutcome]:
        async with gate:
            try:
                return await work(symbol)
            except FetchError as exc:
                outcome = SymbolOutcome(symbol, kind, "failed", detail=exc.reason)
                return [_failure(kind, [symbol], source, exc)], outcome

    done = await asyncio.gather(*(one(s) for s in symbols))
    result = FetchResult(kind, source)
    for events, outcome in done:
        result.events.extend(events)
        result.outcomes.append(outcome)
    return result


async def fetch_bars(
    provider: MarketDataProvider,
    known: KnownBars,
    symbols: Sequence[str],
    *,
    now: datetime,
    history: int = HISTORY_BARS,
) -> FetchResult:
    """Daily bars of closed sessions not yet in the journal, one ``bars_fetched`` per symbol."""
    last_closed = last_closed_session(now)

    async def work(symbol: str) -> tuple[list[NewEvent], SymbolOutcome]:
        last = known.last_bar_day(symbol)
        if last is not None and last >= last_closed:
            return [], SymbolOutcome(symbol, "bars", "up_to_date", detail=f"last bar {last}")
        # The margin covers an unfinished session the provider may list as its newest bar.
        limit = history if last is None else min(history, sessions_after(last, last_closed) + 2)
        bars = await provider.daily_bars(symbol, limit=limit)
        if not bars:
            return [], SymbolOutcome(
                symbol, "bars", "no_data", detail="none in the provider's history window"
            )
        new = [b for b in bars if (last is None or b.day > last) and b.day <= last_closed]
        if not new:
            return [], SymbolOutcome(symbol, "bars", "up_to_date", detail=f"last bar {last}")
        event = BarsFetched(symbol=symbol, source=provider.name, bars=new)
        return [NewEvent(f"bars:{symbol}", event)], SymbolOutcome(
            symbol, "bars", "fetched", len(new), detail=f"{new[0].day} to {new[-1].day}"
        )

    return await _per_symbol("bars", provider.name, symbols, work)


async def fetch_flow_alerts(
    provider: MarketDataProvider,
    known: KnownBars,
    symbols: Sequence[str],
    *,
    now: datetime,
    min_premium: float = 0.0,
    min_volume: int = 0,
    lookback: timedelta = FLOW_LOOKBACK,
    limit: int = FLOW_LIMIT,
) -> FetchResult:
    """New flow alerts, deduplicated on ``(option_chain, created_at)``, one event per symbol.

    Symbols are asked for in batches (a comma list per request) since the oldest of their newest
    known alerts, never further back than ``lookback``.
    """
    result = FetchResult("flow_alerts", provider.name)
    for start in range(0, len(symbols), FLOW_BATCH):
        batch = list(symbols[start : start + FLOW_BATCH])
        seen = {s: {(c, t.astimezone(UTC)) for c, t in known.known_alert_ids(s)} for s in batch}
        floor = now - lookback
        since = min((max((t for _, t in seen[s]), default=floor) for s in batch), default=floor)
        try:
            alerts = await provider.flow_alerts(
                batch,
                min_premium=min_premium,
                min_volume=min_volume,
                newer_than=max(since, floor),
                limit=limit,
            )
        except FetchError as exc:
            result.events.append(_failure("flow_alerts", batch, provider.name, exc))
            result.outcomes.extend(
                SymbolOutcome(s, "flow_alerts", "failed", detail=exc.reason) for s in batch
            )
            continue
        capped = " (the answer hit its limit: older alerts may be missing)"
        note = capped if len(alerts) >= limit else ""
        fresh = deduplicate_alerts(alerts, seen)
        for symbol in batch:
            mine = fresh.get(symbol, [])
            if not mine:
                result.outcomes.append(
                    SymbolOutcome(symbol, "flow_alerts", "up_to_date", detail="no new alerts")
                )
                continue
            event = FlowAlertsFetched(
                symbols=[symbol], source=provider.name, alerts=mine, min_premium=min_premium
            )
            result.events.append(NewEvent(f"flow:{symbol}", event))
            result.outcomes.append(
                SymbolOutcome(symbol, "flow_alerts", "fetched", len(mine), detail=note.strip())
            )
    return result


def deduplicate_alerts(
    alerts: Iterable[FlowAlert], seen: dict[str, set[tuple[str, datetime]]]
) -> dict[str, list[FlowAlert]]:
    """Alerts of the asked symbols not seen before (in the journal or earlier in the answer)."""
    fresh: dict[str, list[FlowAlert]] = {}
    for alert in alerts:
        symbol = alert.ticker.upper()
        ids = seen.get(symbol)
        key = (alert.option_chain, alert.created_at.astimezone(UTC))
        if ids is None or key in ids:
            continue
        ids.add(key)
        fresh.setdefault(symbol, []).append(alert)
    for found in fresh.values():
        found.sort(key=lambda a: a.created_at)
    return fresh


async def fetch_earnings(provider: MarketDataProvider, symbols: Sequence[str]) -> FetchResult:
    """The next earnings date of each symbol, as one ``earnings_fetched`` event."""

    async def work(symbol: str) -> tuple[list[NewEvent], SymbolOutcome]:
        found = await provider.next_earnings(symbol)
        if found is None:
            return [], SymbolOutcome(symbol, "earnings", "no_data", detail="none announced")
        entry = EarningsFetched(source=provider.name, entries=[found])
        return [NewEvent("earnings", entry)], SymbolOutcome(
            symbol, "earnings", "fetched", 1, detail=f"{found.day} ({found.announce_time})"
        )

    return _merge_earnings(await _per_symbol("earnings", provider.name, symbols, work))


async def fetch_earnings_calendar(
    reference: ReferenceDataProvider, start: date, end: date, symbols: Sequence[str] = ()
) -> FetchResult:
    """Earnings dates between ``start`` and ``end`` (of ``symbols`` if given) from Finnhub."""
    result = FetchResult("earnings", reference.name)
    try:
        entries = await reference.earnings_calendar(
            start, end, symbols[0] if len(symbols) == 1 else None
        )
    except FetchError as exc:
        result.events.append(_failure("earnings", list(symbols), reference.name, exc))
        result.outcomes.append(
            SymbolOutcome(",".join(symbols) or "*", "earnings", "failed", detail=exc.reason)
        )
        return result
    wanted = set(symbols)
    kept: list[EarningsDate] = [e for e in entries if not wanted or e.symbol in wanted]
    if kept:
        result.events.append(
            NewEvent("earnings", EarningsFetched(source=reference.name, entries=kept))
        )
    for symbol in symbols or ["*"]:
        count = sum(1 for e in kept if symbol in ("*", e.symbol))
        status: Status = "fetched" if count else "no_data"
        result.outcomes.append(SymbolOutcome(symbol, "earnings", status, count))
    return result


def _merge_earnings(result: FetchResult) -> FetchResult:
    """One ``earnings_fetched`` for all symbols instead of one per symbol."""
    entries: list[EarningsDate] = []
    others: list[NewEvent] = []
    for new in result.events:
        if isinstance(new.event, EarningsFetched):
            entries.extend(new.event.entries)
        else:
            others.append(new)
    merged = [NewEvent("earnings", EarningsFetched(source=result.source, entries=entries))]
    return FetchResult(
        result.kind, result.source, (merged if entries else []) + others, result.outcomes
    )


async def fetch_economic_calendar(provider: MarketDataProvider) -> FetchResult:
    """The economic calendar as one ``economic_calendar_fetched`` event."""

    async def work(_: str) -> tuple[list[NewEvent], SymbolOutcome]:
        entries = await provider.economic_calendar()
        if not entries:
            return [], SymbolOutcome("*", "economic_calendar", "no_data")
        event = EconomicCalendarFetched(source=provider.name, entries=entries)
        return [NewEvent("economic-calendar", event)], SymbolOutcome(
            "*", "economic_calendar", "fetched", len(entries)
        )

    return await _per_symbol("economic_calendar", provider.name, ["*"], work)


async def fetch_quotes(reference: ReferenceDataProvider, symbols: Sequence[str]) -> FetchResult:
    """The latest quote of each symbol, one ``quote_fetched`` per symbol."""

    async def work(symbol: str) -> tuple[list[NewEvent], SymbolOutcome]:
        q = await reference.quote(symbol)
        event = QuoteFetched(
            symbol=symbol,
            source=reference.name,
            price=q.price,
            change=q.change,
            change_pct=q.change_pct,
            as_of=q.as_of,
        )
        return [NewEvent(f"quotes:{symbol}", event)], SymbolOutcome(
            symbol, "quote", "fetched", 1, detail=f"{q.price:.2f}"
        )

    return await _per_symbol("quote", reference.name, symbols, work)


async def fetch_profiles(reference: ReferenceDataProvider, symbols: Sequence[str]) -> FetchResult:
    """Each symbol's company profile, one ``profile_fetched`` per symbol."""

    async def work(symbol: str) -> tuple[list[NewEvent], SymbolOutcome]:
        profile = await reference.company_profile(symbol)
        event = ProfileFetched(source=reference.name, profile=profile)
        return [NewEvent(f"profiles:{symbol}", event)], SymbolOutcome(
            symbol, "profile", "fetched", 1, detail=profile.name
        )

    return await _per_symbol("profile", reference.name, symbols, work)


class MarketData:
    """The fetch service the bot and CLI call: configured providers, a clock, validated input.

    Every method returns a ``FetchResult``; the caller appends ``result.events`` with a fetch id
    (``new_fetch_id``) and shows ``result.summary()``.
    """

    def __init__(
        self,
        market: MarketDataProvider,
        reference: ReferenceDataProvider | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.market = market
        self.reference = reference
        self.clock: Clock = clock or SystemClock()

    @property
    def sources(self) -> str:
        """Which providers are in use, for "which source did you use?" messages."""
        extra = f" and {self.reference.name}" if self.reference is not None else ""
        return f"{self.market.name}{extra}"

    async def bars(self, symbols: Iterable[str], known: KnownBars) -> FetchResult:
        """New daily bars of ``symbols`` (see ``fetch_bars``)."""
        return await fetch_bars(
            self.market, known, normalize_symbols(symbols), now=self.clock.now()
        )

    async def flow_alerts(
        self,
        symbols: Iterable[str],
        known: KnownBars,
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
    ) -> FetchResult:
        """New flow alerts on ``symbols`` (see ``fetch_flow_alerts``)."""
        return await fetch_flow_alerts(
            self.market,
            known,
            normalize_symbols(symbols),
            now=self.clock.now(),
            min_premium=min_premium,
            min_volume=min_volume,
        )

    async def earnings(self, symbols: Iterable[str]) -> FetchResult:
        """Next earnings dates from the market provider."""
        return await fetch_earnings(self.market, normalize_symbols(symbols))

    async def economic_calendar(self) -> FetchResult:
        """The economic calendar from the market provider."""
        return await fetch_economic_calendar(self.market)

    async def quotes(self, symbols: Iterable[str]) -> FetchResult:
        """Latest quotes (Finnhub); ``FeatureDisabledError`` when it has no key."""
        return await fetch_quotes(self._reference(), normalize_symbols(symbols))

    async def profiles(self, symbols: Iterable[str]) -> FetchResult:
        """Company profiles (Finnhub); ``FeatureDisabledError`` when it has no key."""
        return await fetch_profiles(self._reference(), normalize_symbols(symbols))

    async def earnings_calendar(self, days: int = 14, symbols: Iterable[str] = ()) -> FetchResult:
        """Finnhub's earnings calendar for the next ``days`` days."""
        today = self.clock.now().astimezone(NEW_YORK).date()
        given = list(symbols)
        wanted = normalize_symbols(given) if given else []
        return await fetch_earnings_calendar(
            self._reference(), today, today + timedelta(days=days), wanted
        )

    def _reference(self) -> ReferenceDataProvider:
        if self.reference is None:
            raise FeatureDisabledError("Finnhub is off: no `finnhub-api-key` is configured")
        return self.reference


def market_data_from_keys(
    http: HttpSession,
    *,
    uw_api_key: str | None,
    finnhub_api_key: str | None,
    clock: Clock | None = None,
) -> MarketData:
    """Providers by configuration: Unusual Whales with a key, else the offline sample data;
    Finnhub only with its key. ``clock`` is the run's one clock (``settings.Settings.clock``)."""
    clock = clock or SystemClock()
    # The sample data get no fixed date: they end on the clock's New York date at each call, so
    # a long-running bot gets each new session's bar.
    market: MarketDataProvider = (
        UnusualWhales(http, uw_api_key) if uw_api_key else SampleProvider(now=clock.now)
    )
    reference = Finnhub(http, finnhub_api_key) if finnhub_api_key else None
    return MarketData(market, reference, clock=clock)
