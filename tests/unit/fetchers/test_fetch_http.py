"""HTTP plumbing and edge helpers: retry-after parsing, scrubbing, classification, direction."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from events.market import Bar
from fetchers.errors import (
    AccessDeniedError,
    AuthError,
    InputRejectedError,
    RateLimitedError,
    ShapeError,
    TransientError,
)
from fetchers.http import HttpAnswer, HttpSession, default_classification, parse_retry_after, scrub
from fetchers.provider import decode, flow_direction

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Tue, 24 Nov 2026 15:00:30 GMT", 30.0),
        ("Tue, 24 Nov 2026 14:59:00 GMT", 0.0),
        ("soon", None),
        ("inf", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(header: str | None, expected: float) -> None:
    """Delta-seconds and HTTP dates give a non-negative delay; nonsense gives None."""
    assert parse_retry_after(header, NOW) == expected


def test_scrub_replaces_every_secret() -> None:
    """Each configured secret is masked wherever it appears; empty secrets are ignored."""
    assert scrub("a KEY1 b KEY2 KEY1", ["KEY1", "KEY2", ""]) == "a *** b *** ***"


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (429, RateLimitedError, True),
        (500, TransientError, True),
        (503, TransientError, True),
        (401, AuthError, False),
        (403, AccessDeniedError, False),
        (400, InputRejectedError, False),
        (404, InputRejectedError, False),
        (422, InputRejectedError, False),
    ],
)
def test_status_codes_map_to_errors(status: int, error: type[Exception], retryable: bool) -> None:
    """5xx and 429 are retryable; 4xx input and auth errors never are."""
    found = default_classification(HttpAnswer(status, {}, b"{}"), "p GET /x", "p", NOW)
    assert type(found) is error
    assert found.retryable is retryable


def test_a_429_carries_its_retry_after() -> None:
    """The parsed ``retry-after`` travels on the error for the wait strategy."""
    answer = HttpAnswer(429, {"retry-after": "12"}, b"")
    found = default_classification(answer, "p GET /x", "p", NOW)
    assert isinstance(found, RateLimitedError)
    assert found.retry_after == 12.0


@pytest.mark.parametrize(
    ("option_type", "ask", "bid", "direction"),
    [
        ("call", 151875.0, 405.0, "bullish"),
        ("call", 405.0, 151875.0, "bearish"),
        ("put", 151875.0, 405.0, "bearish"),
        ("put", 405.0, 151875.0, "bullish"),
        ("call", 500.0, 500.0, "neutral"),
        ("put", 0.0, 0.0, "neutral"),
    ],
)
def test_flow_direction_follows_the_ask_and_bid_sides(
    option_type: str, ask: float, bid: float, direction: str
) -> None:
    """Calls bought at the ask and puts sold at the bid are bullish; equal sides neutral."""
    assert flow_direction(option_type, ask, bid) == direction


def test_decode_names_the_provider_and_field() -> None:
    """A decoding error says who answered, what was asked, and where the shape broke."""
    with pytest.raises(ShapeError, match=r"uw bars: unexpected shape: .*`int`.* `\$\[0\]\[5\]`"):
        decode(
            b'[["2020-01-02", "1", "2", "0.5", "1.5", "x"]]', list[Bar], provider="uw", what="bars"
        )
    good = decode(b'[["2020-01-02", "1", "2", "0.5", "1.5", 10]]', list[Bar], provider="uw",
                  what="bars")  # fmt: skip
    assert good == [Bar(day=date(2020, 1, 2), open=1, high=2, low=0.5, close=1.5, volume=10)]


async def test_the_session_must_be_started_and_closes_cleanly() -> None:
    """Using the session before ``start`` is an error; ``async with`` opens and closes it."""
    owner = HttpSession()
    with pytest.raises(RuntimeError, match="not started"):
        _ = owner.session
    async with owner:
        session = owner.session
        open_inside = not session.closed
    assert open_inside
    assert session.closed
    await owner.close()  # idempotent
