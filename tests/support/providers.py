"""Local aiohttp stand-ins for Unusual Whales and Finnhub (127.0.0.1, a free port); Anthropic's
builds on the same server (``tests.support.anthropic_standin``).

A ``ProviderStandIn`` answers any path from a script: ``queue(method, path, *replies)`` adds
one-shot replies served in order, ``always(method, path, reply)`` the reply once the queue is
empty; anything unscripted answers 404. Every request is recorded (path, query, headers, body,
monotonic arrival time) so tests can assert on what was sent and on the spacing of requests.
Builders below produce rows in the documented shapes (reference: apis.md);
``uw_payloads_from_sample`` serves the offline sample data in Unusual Whales' shape, so the same
data set runs through both providers. ``retry_policy`` puts a retry policy on a ``FakeTime``
(``tests.support.clocks``): instant sleeps on a clock they advance.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestServer

from events.market import Bar, FlowAlert
from fetchers.calendar import session_hours
from fetchers.http import RetryPolicy
from tests.support.clocks import FakeTime


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, a JSON-able body (or raw bytes), headers, a delay first."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"

    def payload(self) -> bytes:
        """The body as bytes (JSON-encoded unless already bytes)."""
        if isinstance(self.body, bytes):
            return self.body
        return msgspec.json.encode(self.body)


@dataclass(frozen=True)
class Recorded:
    """A request the stand-in received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float


class ProviderStandIn:
    """A scripted HTTP server on 127.0.0.1; ``async with`` starts and stops it.

    ``check`` may refuse a request (after the header check, before the script) the way the real
    API would, e.g. a malformed body answered 400."""

    def __init__(
        self,
        *,
        require_headers: Mapping[str, str] | None = None,
        check: Callable[[Recorded], Reply | None] | None = None,
    ) -> None:
        self.requests: list[Recorded] = []
        self._check = check
        self._queued: dict[tuple[str, str], deque[Reply]] = {}
        self._always: dict[tuple[str, str], Reply] = {}
        self._require = dict(require_headers or {})
        self._server: TestServer | None = None
        self.base_url = ""

    def queue(self, method: str, path: str, *replies: Reply) -> None:
        """Serve ``replies`` one per request, in order, before the standing reply."""
        self._queued.setdefault((method, path), deque()).extend(replies)

    def always(self, method: str, path: str, reply: Reply) -> None:
        """Serve ``reply`` whenever no queued reply is left."""
        self._always[(method, path)] = reply

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
                time.monotonic(),
            )
        )
        for name, value in self._require.items():
            if request.headers.get(name) != value:
                return web.json_response({"message": f"missing or wrong {name}"}, status=401)
        refused = self._check(self.requests[-1]) if self._check is not None else None
        key = (request.method, request.path)
        queued = self._queued.get(key)
        if refused is not None:
            reply: Reply | None = refused
        else:
            reply = queued.popleft() if queued else self._always.get(key)
        if reply is None:
            return web.json_response({"message": f"no route {request.path}"}, status=404)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(
            status=reply.status,
            body=reply.payload(),
            headers=dict(reply.headers),
            content_type=reply.content_type,
        )

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a free port; returns the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.base_url = str(self._server.make_url("")).rstrip("/")
        return self.base_url

    async def close(self) -> None:
        """Stop the server."""
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def retry_policy(time: FakeTime, **overrides: Any) -> RetryPolicy:
    """A ``RetryPolicy`` on ``time`` (instant sleeps; real attempt timeouts still apply)."""
    options: dict[str, Any] = {"sleep": time.sleep, "clock": time, "wall_clock": time.now}
    options.update(overrides)
    return RetryPolicy(**options)


# --- Unusual Whales shapes -------------------------------------------------------------------

UW_KEY_HEADERS = {"UW-CLIENT-API-ID": "100001"}


def uw_flow_row(**overrides: Any) -> dict[str, Any]:
    """A flow-alert row exactly as documented (numbers as strings), with overrides."""
    row: dict[str, Any] = {
        "alert_rule": "RepeatedHits",
        "all_opening_trades": False,
        "created_at": "2023-12-12 16:35:52.168490+00:00",
        "expiry": "2023-12-22",
        "expiry_count": 1,
        "has_floor": False,
        "has_multileg": False,
        "has_singleleg": True,
        "has_sweep": True,
        "issue_type": "Common Stock",
        "open_interest": 7913,
        "option_chain": "MSFT231222C00375000",
        "price": "4.05",
        "strike": "375",
        "ticker": "MSFT",
        "total_ask_side_prem": "151875",
        "total_bid_side_prem": "405",
        "total_premium": "186705",
        "total_size": 461,
        "trade_count": 32,
        "type": "call",
        "underlying_price": "372.99",
        "volume": 2442,
        "volume_oi_ratio": "0.3086",
    }
    row.update(overrides)
    return row


def uw_flow_row_from(alert: FlowAlert) -> dict[str, Any]:
    """A documented-shape row carrying a normalised alert's values."""
    return uw_flow_row(
        alert_rule=alert.alert_rule,
        created_at=alert.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        expiry=alert.expiry.isoformat(),
        has_sweep=alert.has_sweep,
        open_interest=alert.open_interest,
        option_chain=alert.option_chain,
        strike=_num(alert.strike),
        ticker=alert.ticker,
        total_ask_side_prem=_num(alert.ask_side_premium),
        total_bid_side_prem=_num(alert.bid_side_premium),
        total_premium=_num(alert.total_premium),
        type=alert.option_type,
        underlying_price=_num(alert.underlying_price),
        volume=alert.volume,
    )


def uw_bar_row(bar: Bar) -> dict[str, Any]:
    """A daily candle as UW sends it: strings for prices, the session's start and end times."""
    opens, closes = session_hours(bar.day)
    return {
        "open": _num(bar.open),
        "high": _num(bar.high),
        "low": _num(bar.low),
        "close": _num(bar.close),
        "volume": bar.volume,
        "total_volume": bar.volume + 1000,
        "start_time": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": closes.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "market_time": "r",
    }


def uw_info(next_earnings_date: date | None, announce_time: str = "afterhours") -> dict[str, Any]:
    """An ``/api/stock/{ticker}/info`` answer."""
    return {
        "data": {
            "full_name": "Example Corp",
            "issue_type": "Common Stock",
            "has_options": True,
            "next_earnings_date": next_earnings_date.isoformat() if next_earnings_date else None,
            "announce_time": announce_time,
            "sector": "Technology",
            "marketcap": "3000000000000",
            "avg30_volume": "50000000",
        }
    }


def uw_economic_row(event: str, when: datetime, kind: str = "report") -> dict[str, Any]:
    """An economic-calendar row."""
    return {
        "event": event,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": kind,
        "forecast": "0.3%",
        "prev": "0.2%",
        "reported_period": "October",
    }


UW_422 = Reply(
    422,
    {"msg": "Invalid ticker", "path": "/api/stock/ZZZZ/info", "query": {}, "url": "/api"},
)
UW_403_HISTORY = Reply(
    403, {"code": "historic_data_access_missing", "message": "outside your plan's window"}
)
UW_500 = Reply(500, b"Internal Server Error", content_type="text/plain")


def uw_payloads_from_sample(
    bars: Mapping[str, list[Bar]], alerts: list[FlowAlert]
) -> dict[str, Reply]:
    """Standing replies (path -> reply) serving given data in Unusual Whales' shapes."""
    routes = {
        f"/api/stock/{symbol}/ohlc/1d": Reply(body={"data": [uw_bar_row(b) for b in rows[::-1]]})
        for symbol, rows in bars.items()
    }
    routes["/api/option-trades/flow-alerts"] = Reply(
        body={"data": [uw_flow_row_from(a) for a in alerts]}
    )
    return routes


# --- Finnhub shapes --------------------------------------------------------------------------


def finnhub_quote(price: float = 231.42, t: int = 1768597200) -> dict[str, Any]:
    """A ``/quote`` answer (real JSON numbers)."""
    return {"c": price, "d": 1.87, "dp": 0.8146, "h": 232.1, "l": 229.05, "o": 229.6,
            "pc": 229.55, "t": t}  # fmt: skip


FINNHUB_UNKNOWN_QUOTE = {"c": 0, "d": None, "dp": None, "h": 0, "l": 0, "o": 0, "pc": 0, "t": 0}
FINNHUB_403 = Reply(403, {"error": "You don't have access to this resource."})


def finnhub_earnings_row(symbol: str, day: date, hour: str = "amc") -> dict[str, Any]:
    """One ``earningsCalendar`` row."""
    return {"symbol": symbol, "date": day.isoformat(), "hour": hour, "year": day.year,
            "quarter": 4, "epsEstimate": 2.1, "epsActual": None, "revenueEstimate": 1.2e11,
            "revenueActual": None}  # fmt: skip


def finnhub_profile(ticker: str = "AAPL") -> dict[str, Any]:
    """A ``/stock/profile2`` answer."""
    return {"country": "US", "currency": "USD", "exchange": "NASDAQ NMS - GLOBAL MARKET",
            "name": "Apple Inc", "ticker": ticker, "ipo": "1980-12-12",
            "marketCapitalization": 3500000.5, "shareOutstanding": 15000.1,
            "logo": "https://example.invalid/logo.png", "weburl": "https://www.apple.com/",
            "finnhubIndustry": "Technology"}  # fmt: skip


def _num(value: float) -> str:
    """A number as UW writes it: a string, no trailing ``.0``."""
    return repr(value) if value != int(value) else str(int(value))
