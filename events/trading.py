"""Trade-journal events: a member's trades (the word "journal" alone means the event journal).

Stream: ``trade:{guild_id}:{trade_id}``. Prices and sizes are exact decimals: users see them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from events.base import Event


class TradeOpened(Event, frozen=True, kw_only=True, tag="trade_opened"):
    """A member opened a trade."""

    trade_id: str
    guild_id: int
    user_id: int
    symbol: str
    direction: Literal["long", "short"]
    entry: Decimal
    size: Decimal
    opened_at: datetime
    stop: Decimal | None = None
    target: Decimal | None = None
    strategy: str | None = None
    signal_ref: str | None = None
    tags: list[str] = []
    note: str = ""


class TradeClosed(Event, frozen=True, kw_only=True, tag="trade_closed"):
    """A member closed one of their trades at an exit price."""

    trade_id: str
    guild_id: int
    user_id: int
    exit: Decimal
    closed_at: datetime
    reason: str = ""


class TradeNoteAdded(Event, frozen=True, kw_only=True, tag="trade_note_added"):
    """A member added a note to one of their trades."""

    trade_id: str
    guild_id: int
    user_id: int
    text: str
    noted_at: datetime
