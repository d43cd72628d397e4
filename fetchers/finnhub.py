"""Finnhub (optional): latest quotes, the earnings calendar and company profiles.

Two limits hold on every plan, 60 calls a minute and 30 a second, so the client carries two
limiters. Premium-only endpoints answer 403, which becomes a clear, non-retryable
``AccessDeniedError``. An unknown symbol answers 200 with zeros and nulls (quote) or ``{}``
(profile): both become ``UnknownSymbolError``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec

from events.market import CompanyProfile, EarningsDate
from fetchers.errors import AccessDeniedError, FetchError, UnknownSymbolError
from fetchers.http import HttpAnswer, HttpSession, ProviderClient, RateLimit, RetryPolicy
from fetchers.provider import Quote, SignedAmount, decode

NAME = "finnhub"
DEFAULT_BASE_URL = "https://finnhub.io/api/v1"
DEFAULT_RATES = (RateLimit(60, 60.0), RateLimit(30, 1.0))

# Finnhub's ``hour`` codes in the words the Unusual Whales info endpoint uses.
_ANNOUNCE_TIME = {"bmo": "premarket", "amc": "afterhours", "dmh": "during_market"}


class _Quote(msgspec.Struct):
    c: SignedAmount | None = None
    d: SignedAmount | None = None
    dp: SignedAmount | None = None
    t: int | None = None


class _EarningsRow(msgspec.Struct):
    symbol: str
    date: date
    hour: str | None = None


class _EarningsCalendar(msgspec.Struct, rename="camel"):
    earnings_calendar: list[_EarningsRow]


class _Profile(msgspec.Struct, rename="camel"):
    ticker: str | None = None
    name: str | None = None
    exchange: str | None = None
    currency: str | None = None
    country: str | None = None
    finnhub_industry: str | None = None
    market_capitalization: SignedAmount | None = None
    share_outstanding: SignedAmount | None = None
    ipo: str | None = None
    weburl: str | None = None


def _classify(answer: HttpAnswer, where: str) -> FetchError | None:
    if answer.status == 403:
        return AccessDeniedError(
            f"{where} needs a premium Finnhub plan (HTTP 403: {answer.excerpt()})", provider=NAME
        )
    return None


class Finnhub:
    """The Finnhub provider (implements ``ReferenceDataProvider``)."""

    name = NAME

    def __init__(
        self,
        http: HttpSession,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rates: tuple[RateLimit, ...] = DEFAULT_RATES,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._client = ProviderClient(
            name=NAME,
            http=http,
            base_url=base_url,
            headers={"X-Finnhub-Token": api_key, "Accept": "application/json"},
            secrets=(api_key,),
            limiters=tuple(rate.limiter() for rate in rates),
            policy=policy or RetryPolicy(),
            classify=_classify,
        )

    def __repr__(self) -> str:
        return f"Finnhub(base_url={self._client.base_url!r})"

    async def quote(self, symbol: str) -> Quote:
        """The latest quote (``/quote``)."""
        body = await self._client.get("/quote", {"symbol": symbol})
        raw = decode(body, _Quote, provider=NAME, what=f"quote of {symbol}")
        if not raw.c:
            raise UnknownSymbolError(f"{NAME} does not know {symbol}", provider=NAME)
        return Quote(
            symbol=symbol,
            price=raw.c,
            change=raw.d or 0.0,
            change_pct=raw.dp or 0.0,
            as_of=datetime.fromtimestamp(raw.t, UTC) if raw.t else None,
        )

    async def earnings_calendar(
        self, start: date, end: date, symbol: str | None = None
    ) -> list[EarningsDate]:
        """Earnings dates from ``/calendar/earnings`` between ``start`` and ``end``."""
        params = {"from": start.isoformat(), "to": end.isoformat()}
        if symbol is not None:
            params["symbol"] = symbol
        body = await self._client.get("/calendar/earnings", params)
        rows = decode(body, _EarningsCalendar, provider=NAME, what="earnings calendar")
        return [
            EarningsDate(
                symbol=row.symbol,
                day=row.date,
                announce_time=_ANNOUNCE_TIME.get(row.hour or "", "unknown"),
            )
            for row in rows.earnings_calendar
        ]

    async def company_profile(self, symbol: str) -> CompanyProfile:
        """The company's profile (``/stock/profile2``)."""
        body = await self._client.get("/stock/profile2", {"symbol": symbol})
        raw = decode(body, _Profile, provider=NAME, what=f"profile of {symbol}")
        if not raw.ticker and not raw.name:
            raise UnknownSymbolError(f"{NAME} does not know {symbol}", provider=NAME)
        return CompanyProfile(
            symbol=symbol,
            name=raw.name or "",
            exchange=raw.exchange or "",
            currency=raw.currency or "",
            country=raw.country or "",
            industry=raw.finnhub_industry or "",
            market_cap=raw.market_capitalization,
            shares_outstanding=raw.share_outstanding,
            ipo=_iso_date(raw.ipo),
            web_url=raw.weburl or "",
        )


def _iso_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
