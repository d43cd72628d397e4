"""The real implementations of the command ports, over the fetch service and the analysis package.

- ``FetchServiceAdapter``: ``fetchers.service.MarketData`` (providers chosen by configuration;
  the offline sample provider when no key is set) as a ``MarketFetcher``; what is already stored
  (last bar day, known alert ids) comes from the analytics projections, so fetches are incremental.
  A bars fetch also asks for each symbol's next earnings date (the symbols whose bars did not
  fail) and keeps only dates the journal does not hold yet, so every front end (Discord, the
  console, the CLI, the daily run) gets the dates a scan's ``skip_earnings_within`` reads.
- ``StrategyAnalyzer``: ``analysis.strategy`` + ``analysis.scan`` as an ``Analyzer``; scans read
  bars and flow alerts only from the analytics projections (never from a provider), so every pick
  can be reproduced from the journal alone. The flow alerts of the universe are always passed to
  the scan (the predecessor's daily job passed none).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from analysis.backtest import KnownEarnings
from analysis.errors import StrategyError
from analysis.scan import scan as run_scan
from analysis.scan import signals_event
from analysis.series import SymbolBars
from analysis.strategy import (
    Strategy,
    list_strategies,
    load_strategy,
    parse_strategy,
    summary_lines,
)
from commands.core.ports import StrategyInfo, StrategyRef, StrategyText, UnknownStrategyError
from events.analysis import SignalsGenerated
from events.base import NewEvent
from events.market import EarningsFetched, FetchFailed, FlowAlert
from fetchers.service import MarketData
from projections.analytics import Analytics


def _at(position: int | None) -> list[int | None]:
    """The parameters of ``AND (?::BIGINT IS NULL OR position <= ?)``: the rows appended at or
    before a journal position (a backtest repeated at its position); ``None``, every row. A row
    re-fetched later is replaced by it, the later position winning."""
    return [position, position]


class StoredMarketData:
    """What the analytics projections hold: the ``KnownBars`` read model and scan inputs.

    ``bars``, ``flow_alerts`` and ``earnings`` take ``at``: only rows appended at or before that
    journal position (each row keeps the position of the event that stored it)."""

    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.analytics.cursor() as cur:
            return cur.execute(sql, list(params)).fetchall()

    def last_bar_day(self, symbol: str) -> date | None:
        """The newest stored bar's day."""
        rows = self._rows("SELECT max(day) FROM bars WHERE symbol = ?", [symbol])
        return rows[0][0] if rows else None

    def known_alert_ids(self, symbol: str) -> set[tuple[str, datetime]]:
        """Identities of the stored alerts on ``symbol``."""
        rows = self._rows(
            "SELECT option_chain, created_at FROM flow_alerts WHERE ticker = ?", [symbol]
        )
        return {(r[0], r[1].astimezone(UTC)) for r in rows}

    def earnings(self, symbols: Sequence[str], *, at: int | None = None) -> dict[str, list[date]]:
        """Every stored earnings date of ``symbols``, oldest first (``at``: only those appended
        at or before that journal position, as in every reader of this class)."""
        rows = self._rows(
            "SELECT symbol, day FROM earnings WHERE list_contains(?::VARCHAR[], symbol) "
            "AND (?::BIGINT IS NULL OR position <= ?) ORDER BY symbol, day",
            [list(symbols), *_at(at)],
        )
        out: dict[str, list[date]] = {}
        for symbol, day in rows:
            out.setdefault(symbol, []).append(day)
        return out

    def known_earnings(
        self, symbols: Sequence[str], *, at: int | None = None
    ) -> dict[str, list[KnownEarnings]]:
        """The stored earnings dates of ``symbols`` with when each was learned (the first fetch's
        recorded time), oldest first: what a backtest reads (``at`` as in ``earnings``)."""
        rows = self._rows(
            "SELECT symbol, day, learned_at FROM earnings "
            "WHERE list_contains(?::VARCHAR[], symbol) "
            "AND (?::BIGINT IS NULL OR position <= ?) ORDER BY symbol, day",
            [list(symbols), *_at(at)],
        )
        out: dict[str, list[KnownEarnings]] = {}
        for symbol, day, learned in rows:
            learned_at = learned.astimezone(UTC) if learned is not None else None
            out.setdefault(symbol, []).append(KnownEarnings(day, learned_at))
        return out

    def bar_sources(self, symbols: Sequence[str]) -> list[str]:
        """The providers the stored bars of ``symbols`` came from."""
        rows = self._rows(
            "SELECT DISTINCT source FROM bars WHERE list_contains(?::VARCHAR[], symbol) "
            "ORDER BY source",
            [list(symbols)],
        )
        return [r[0] for r in rows]

    def bars(self, symbols: Sequence[str], *, at: int | None = None) -> dict[str, SymbolBars]:
        """Every stored bar of ``symbols`` as columns, one query."""
        with self.analytics.cursor() as cur:
            cols: dict[str, Any] = cur.execute(
                "SELECT symbol, day, open, high, low, close, volume FROM bars "
                "WHERE list_contains(?::VARCHAR[], symbol) "
                "AND (?::BIGINT IS NULL OR position <= ?) ORDER BY symbol, day",
                [list(symbols), *_at(at)],
            ).fetchnumpy()
        out: dict[str, SymbolBars] = {}
        syms = cols["symbol"]
        start = 0
        for i in range(1, len(syms) + 1):
            if i == len(syms) or syms[i] != syms[start]:
                part = slice(start, i)
                out[str(syms[start])] = SymbolBars.from_arrays(
                    cols["day"][part], cols["open"][part], cols["high"][part],
                    cols["low"][part], cols["close"][part], cols["volume"][part],
                )  # fmt: skip
                start = i
        return out

    def flow_alerts(
        self, symbols: Sequence[str], *, at: int | None = None
    ) -> dict[str, list[FlowAlert]]:
        """Every stored flow alert on ``symbols``."""
        rows = self._rows(
            "SELECT option_chain, ticker, created_at, option_type, strike, expiry, total_premium, "
            "ask_side_premium, bid_side_premium, volume, open_interest, underlying_price, "
            "has_sweep, alert_rule, direction FROM flow_alerts "
            "WHERE list_contains(?::VARCHAR[], ticker) "
            "AND (?::BIGINT IS NULL OR position <= ?) ORDER BY created_at, option_chain",
            [list(symbols), *_at(at)],
        )
        out: dict[str, list[FlowAlert]] = {}
        for r in rows:
            alert = FlowAlert(
                option_chain=r[0], ticker=r[1], created_at=r[2].astimezone(UTC),
                option_type=r[3], strike=r[4], expiry=r[5], total_premium=r[6],
                ask_side_premium=r[7], bid_side_premium=r[8], volume=r[9], open_interest=r[10],
                underlying_price=r[11], has_sweep=r[12], alert_rule=r[13], direction=r[14],
            )  # fmt: skip
            out.setdefault(alert.ticker, []).append(alert)
        return out


class FetchServiceAdapter:
    """``MarketData`` as the command service's ``MarketFetcher``."""

    def __init__(self, market_data: MarketData, stored: StoredMarketData) -> None:
        self.market_data = market_data
        self.stored = stored

    @property
    def sources(self) -> list[str]:
        """The providers in use."""
        return [self.market_data.sources]

    async def fetch_bars(self, symbols: Sequence[str], *, now: datetime) -> list[NewEvent]:
        """New bars (incremental from the last stored day), then the next earnings dates not
        stored yet of the symbols whose bars did not fail (failures as ``fetch_failed``)."""
        events = list((await self.market_data.bars(symbols, self.stored)).events)
        failed = {s for e in events if isinstance(e.event, FetchFailed) for s in e.event.symbols}
        asked = [s for s in symbols if s not in failed]
        if not asked:
            return events
        earnings = await self.market_data.earnings(asked)
        return events + new_earnings(earnings.events, self.stored.earnings(asked))

    async def fetch_flows(
        self, symbols: Sequence[str], *, min_premium: float, now: datetime
    ) -> list[NewEvent]:
        """New flow alerts (those not stored yet)."""
        result = await self.market_data.flow_alerts(symbols, self.stored, min_premium=min_premium)
        return list(result.events)


def new_earnings(events: Sequence[NewEvent], stored: dict[str, list[date]]) -> list[NewEvent]:
    """``events`` with the earnings dates already stored removed (and emptied events dropped)."""
    out: list[NewEvent] = []
    for new in events:
        ev = new.event
        if isinstance(ev, EarningsFetched):
            fresh = [e for e in ev.entries if e.day not in stored.get(e.symbol, ())]
            if not fresh:
                continue
            new = NewEvent(new.stream, msgspec.structs.replace(ev, entries=fresh))
        out.append(new)
    return out


class StrategyAnalyzer:
    """The packaged strategies (by file key), the operator's folder (offered as packaged ones),
    a server's versions given by their text, and scans over the stored market data."""

    def __init__(
        self,
        stored: StoredMarketData,
        *,
        files: Sequence[Strategy] = (),
        shipped: Sequence[Strategy] = (),
    ) -> None:
        """``files``: strategies loaded from files, offered under their path (the CLI's
        ``scan --strategy FILE``); ``shipped``: the operator's strategies
        (``IBPICKER_STRATEGIES_DIR``), offered under their key like the packaged ones."""
        self.stored = stored
        self._strategies: dict[str, Strategy] = {s.key: s for s in list_strategies()}
        self._operator = {s.key for s in shipped}
        self._strategies.update((s.key, s) for s in shipped)
        self._strategies.update((s.source, s) for s in files)

    def strategies(self) -> list[StrategyInfo]:
        """Every packaged and operator strategy."""
        return [
            StrategyInfo(
                name=key,
                title=s.name,
                description=s.spec.strategy.description or s.name,
                version=s.spec.strategy.version,
                tags=list(s.spec.strategy.tags),
                origin="operator" if key in self._operator else "shipped",
            )
            for key, s in sorted(self._strategies.items())
        ]

    def load(self, ref: StrategyRef) -> Strategy:
        """The strategy ``ref`` names: a packaged or operator key, a file path, or a server's
        version by its text (raises ``UnknownStrategyError``)."""
        if isinstance(ref, StrategyText):
            return parse_text(ref)
        found = self._strategies.get(ref)
        if found is not None:
            return found
        try:
            return load_strategy(ref)
        except StrategyError:
            raise UnknownStrategyError(ref) from None

    def describe(self, name: StrategyRef) -> str:
        """The strategy's summary (``analysis.strategy.summary_lines``), one line each."""
        return "\n".join(summary_lines(self.load(name)))

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
        """Scan with the stored bars and flow alerts of ``symbols``; with
        ``skip_earnings_within=N``, symbols whose stored earnings dates fall within N days are
        skipped. A server's version is recorded under its key and version label (``v2``) with
        the hash of its exact text."""
        loaded = self.load(strategy)
        skipping = skip_earnings_within is not None
        result = run_scan(
            loaded,
            self.stored.bars(symbols),
            self.stored.flow_alerts(symbols),
            evaluated_at=now,
            universe=symbols,
            earnings=self.stored.earnings(symbols) if skipping else None,
            skip_earnings_within=skip_earnings_within,
        )
        event = signals_event(result, loaded, scan_id, guild_id=guild_id)
        if isinstance(strategy, StrategyText):
            event = msgspec.structs.replace(
                event, strategy_name=strategy.key, strategy_version=strategy.version
            )
        return event


@functools.lru_cache(maxsize=256)
def _parsed(yaml_text: str, source: str) -> Strategy:
    return parse_strategy(yaml_text.encode("utf-8"), source)


def parse_text(ref: StrategyText) -> Strategy:
    """A server's version parsed (cached by its text: a version never changes). Its hash is the
    SHA-256 of the text's UTF-8 bytes, the bytes the member sent."""
    try:
        return _parsed(ref.yaml_text, f"{ref.key}.yaml")
    except StrategyError:
        # Stored versions were validated when added; a later, stricter schema may refuse one.
        raise UnknownStrategyError(ref.key) from None
