"""Unusual Whales: flow alerts, daily bars, next earnings dates, the economic calendar.

Answers are decoded at the edge into typed structs (numbers arrive as strings; timestamps in both
of the provider's formats become aware UTC datetimes) and normalised into ``events.market``
records. A 403 ``historic_data_access_missing`` means "no data in the plan's window" (an empty
answer, not an outage); a 422 or an empty answer on a symbol's endpoint means an unknown symbol.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

import msgspec

from events.market import Bar, EarningsDate, EconomicEvent, FlowAlert
from fetchers.calendar import NEW_YORK
from fetchers.errors import (
    FetchError,
    InputRejectedError,
    NoDataError,
    ShapeError,
    UnknownSymbolError,
)
from fetchers.http import HttpAnswer, HttpSession, ProviderClient, RateLimit, RetryPolicy
from fetchers.provider import Amount, AwareDateTime, as_utc, decode, flow_direction

NAME = "unusual_whales"
DEFAULT_BASE_URL = "https://api.unusualwhales.com"
DEFAULT_RATE = RateLimit(120, 60.0)
MAX_BARS = 2500
FLOW_PAGE = 200  # the endpoint's maximum ``limit``


class _FlowAlertRow(msgspec.Struct):
    option_chain: str
    ticker: str
    created_at: AwareDateTime
    type: Literal["call", "put"]
    strike: Amount
    expiry: date
    total_premium: Amount
    total_ask_side_prem: Amount
    total_bid_side_prem: Amount
    volume: int
    underlying_price: Amount
    open_interest: int | None = None
    has_sweep: bool = False
    alert_rule: str = ""


class _FlowAlerts(msgspec.Struct):
    data: list[_FlowAlertRow]


class _BarRow(msgspec.Struct):
    open: Amount
    high: Amount
    low: Amount
    close: Amount
    volume: int
    # The day of a daily candle: ``date`` when sent, else the session's ``start_time``.
    date: date | None = None
    start_time: AwareDateTime | None = None


class _Bars(msgspec.Struct):
    data: list[_BarRow]


class _Info(msgspec.Struct):
    next_earnings_date: date | None = None
    announce_time: str | None = None


class _InfoAnswer(msgspec.Struct):
    data: _Info | None


class _EconomicRow(msgspec.Struct):
    event: str
    time: AwareDateTime
    type: str = "report"
    forecast: str | float | None = None
    prev: str | float | None = None
    reported_period: str | None = None


class _EconomicCalendar(msgspec.Struct):
    data: list[_EconomicRow]


class _ErrorBody(msgspec.Struct):
    code: str | None = None


def _classify(answer: HttpAnswer, where: str) -> FetchError | None:
    """UW's 403 for dates outside the plan's history is "no data", not an access error."""
    if answer.status != 403:
        return None
    try:
        code = msgspec.json.decode(answer.body, type=_ErrorBody).code
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if code == "historic_data_access_missing":
        return NoDataError(f"{where}: no data in the plan's history window", provider=NAME)
    return None


class UnusualWhales:
    """The Unusual Whales provider (implements ``MarketDataProvider``)."""

    name = NAME

    def __init__(
        self,
        http: HttpSession,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate: RateLimit = DEFAULT_RATE,
        policy: RetryPolicy | None = None,
        page_size: int = FLOW_PAGE,
    ) -> None:
        self._page_size = max(1, min(page_size, FLOW_PAGE))
        self._client = ProviderClient(
            name=NAME,
            http=http,
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "UW-CLIENT-API-ID": "100001",
            },
            secrets=(api_key,),
            limiters=(rate.limiter(),),
            policy=policy or RetryPolicy(),
            classify=_classify,
        )

    def __repr__(self) -> str:
        return f"UnusualWhales(base_url={self._client.base_url!r})"

    async def daily_bars(self, symbol: str, *, limit: int) -> list[Bar]:
        """The newest ``limit`` daily bars (``/api/stock/{ticker}/ohlc/1d``), oldest first."""
        path = f"/api/stock/{quote(symbol)}/ohlc/1d"
        body = await self._symbol_get(symbol, path, {"limit": max(1, min(limit, MAX_BARS))})
        if body is None:
            return []
        rows = decode(body, _Bars, provider=NAME, what=f"bars of {symbol}").data
        if not rows:
            raise UnknownSymbolError(f"{NAME} has no bars for {symbol}", provider=NAME)
        by_day: dict[date, Bar] = {}
        for i, row in enumerate(rows):
            day = _bar_day(row, f"$.data[{i}]")
            if row.low > min(row.open, row.close) or row.high < max(row.open, row.close):
                raise ShapeError(
                    f"{NAME} bars of {symbol}: implausible bar (low above open/close or high "
                    f"below them) - at `$.data[{i}]`",
                    provider=NAME,
                )
            by_day[day] = Bar(
                day=day,
                open=row.open,
                high=row.high,
                low=row.low,
                close=row.close,
                volume=row.volume,
            )
        return [by_day[d] for d in sorted(by_day)][-limit:]

    async def flow_alerts(
        self,
        symbols: Sequence[str],
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
        newer_than: datetime | None = None,
        limit: int = 200,
    ) -> list[FlowAlert]:
        """Flow alerts (``/api/option-trades/flow-alerts`` by ``ticker_symbol``), newest first.

        The endpoint returns at most 200 rows a request, newest first; beyond that this pages
        back with ``older_than`` (the oldest row's second, so a boundary second is asked twice
        and the caller's dedup drops the repeats) until ``limit`` rows or the end.
        """
        params: dict[str, str | int | float] = {"ticker_symbol": ",".join(symbols)}
        if min_premium > 0:
            params["min_premium"] = int(min_premium)
        if min_volume > 0:
            params["min_volume"] = min_volume
        if newer_than is not None:
            params["newer_than"] = int(newer_than.timestamp())
        alerts: list[FlowAlert] = []
        cursor: int | None = None
        while len(alerts) < limit:
            size = min(self._page_size, limit - len(alerts))
            page = {**params, "limit": size}
            if cursor is not None:
                page["older_than"] = cursor
            try:
                body = await self._client.get("/api/option-trades/flow-alerts", page)
            except NoDataError:
                break
            rows = decode(body, _FlowAlerts, provider=NAME, what="flow alerts").data
            alerts.extend(_flow_alert(row) for row in rows)
            if len(rows) < size:
                break
            oldest = int(min(row.created_at for row in rows).timestamp()) + 1
            if cursor is not None and oldest >= cursor:
                break  # a whole page within one second: paging cannot move on
            cursor = oldest
        return alerts[:limit]

    async def next_earnings(self, symbol: str) -> EarningsDate | None:
        """The next earnings date from ``/api/stock/{ticker}/info`` (``None`` if not announced)."""
        body = await self._symbol_get(symbol, f"/api/stock/{quote(symbol)}/info", None)
        if body is None:
            return None
        info = decode(body, _InfoAnswer, provider=NAME, what=f"info of {symbol}").data
        if info is None:
            raise UnknownSymbolError(f"{NAME} does not know {symbol}", provider=NAME)
        if info.next_earnings_date is None:
            return None
        return EarningsDate(
            symbol=symbol,
            day=info.next_earnings_date,
            announce_time=info.announce_time or "unknown",
        )

    async def economic_calendar(self) -> list[EconomicEvent]:
        """The economic calendar (``/api/market/economic-calendar``)."""
        try:
            body = await self._client.get("/api/market/economic-calendar")
        except NoDataError:
            return []
        rows = decode(body, _EconomicCalendar, provider=NAME, what="economic calendar").data
        return [
            EconomicEvent(
                name=row.event,
                time=as_utc(row.time),
                kind=row.type,
                forecast=_text(row.forecast),
                previous=_text(row.prev),
                reported_period=row.reported_period,
            )
            for row in rows
        ]

    async def _symbol_get(
        self, symbol: str, path: str, params: dict[str, str | int | float] | None
    ) -> bytes | None:
        """GET a symbol's endpoint: ``None`` for no data, ``UnknownSymbolError`` for a 422."""
        try:
            return await self._client.get(path, params)
        except NoDataError:
            return None
        except InputRejectedError as exc:
            raise UnknownSymbolError(
                f"{NAME} rejected {symbol} (unknown symbol?): {exc}", provider=NAME
            ) from None


def _bar_day(row: _BarRow, at: str) -> date:
    if row.date is not None:
        return row.date
    if row.start_time is not None:
        return row.start_time.astimezone(NEW_YORK).date()
    # One of two fields is required: a rule msgspec cannot express, so checked here.
    raise ShapeError(
        f"{NAME} bars: unexpected shape: a row has neither `date` nor `start_time` - at `{at}`",
        provider=NAME,
    )


def _flow_alert(row: _FlowAlertRow) -> FlowAlert:
    return FlowAlert(
        option_chain=row.option_chain,
        ticker=row.ticker,
        created_at=as_utc(row.created_at),
        option_type=row.type,
        strike=row.strike,
        expiry=row.expiry,
        total_premium=row.total_premium,
        ask_side_premium=row.total_ask_side_prem,
        bid_side_premium=row.total_bid_side_prem,
        volume=row.volume,
        open_interest=row.open_interest or 0,
        underlying_price=row.underlying_price,
        has_sweep=row.has_sweep,
        alert_rule=row.alert_rule,
        direction=flow_direction(row.type, row.total_ask_side_prem, row.total_bid_side_prem),
    )


def _text(value: str | float | None) -> str | None:
    return None if value is None else str(value)
