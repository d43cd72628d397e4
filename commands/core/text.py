"""Small text helpers for replies: escaping member text, money, tables, pages, symbols, ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from commands.core.models import Reply
from events.wording import plural as plural

_MD = re.compile(r"([\\*_~`|>#\[\]])")
ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""Trade-id letters: no 0/O, 1/I/L, so ids read aloud and typed on a phone survive."""
TRADE_ID_LENGTH = 5
PAGE_LINES = 15


def escape(text: str) -> str:
    """Member text made inert: markdown escaped, mentions broken (a zero-width space after @)."""
    return _MD.sub(r"\\\1", text).replace("@", "@\u200b")


def money(value: Decimal | None) -> str:
    """A signed amount with thousands separators and at least two decimals, never rounded."""
    if value is None:
        return "—"
    if value == value.quantize(Decimal("0.01")):
        return f"{value:+,.2f}"
    return f"{value.normalize():+,f}"


def loss(value: Decimal) -> str:
    """A loss given as its size (a drawdown of 200 is ``-200.00``; none is ``0.00``)."""
    return money(-value) if value else "0.00"


def price(value: Decimal | float | None) -> str:
    """A price as typed (exact decimals) or to two places (analytics floats)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value.normalize():,f}" if value != value.to_integral() else f"{value:,.0f}"


def pct(value: Decimal | float | None, *, signed: bool = False) -> str:
    """A ratio in [0, 1] (or a signed percentage when ``signed``) for display."""
    if value is None:
        return "—"
    if signed:
        return f"{float(value):+.2f}%"
    return f"{float(value) * 100:.1f}%"


def duration(value: timedelta | None) -> str:
    """A holding time such as ``3d 4h`` or ``2h 5m``."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 60 * 24)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def footer(sources: Sequence[str], at: datetime) -> str:
    """Where the data comes from and as of when."""
    src = ", ".join(sources) if sources else "journal"
    return f"Data: {src} · as of {at:%Y-%m-%d %H:%M} UTC"


def paged(base: Reply, lines: Sequence[str], *, empty: str, per_page: int = PAGE_LINES) -> Reply:
    """``base`` with ``lines`` as its description, split into pages of ``per_page`` lines."""
    import msgspec

    if not lines:
        return msgspec.structs.replace(base, description=empty)
    chunks = [lines[i : i + per_page] for i in range(0, len(lines), per_page)]
    total = len(chunks)

    def page(i: int) -> Reply:
        suffix = f" (page {i + 1}/{total})" if total > 1 else ""
        return msgspec.structs.replace(
            base, title=base.title + suffix, description="\n".join(chunks[i]), pages=[]
        )

    first = page(0)
    return msgspec.structs.replace(first, pages=[page(i) for i in range(1, total)])


def split_list(text: str | None) -> list[str]:
    """Comma- or space-separated items, trimmed, empty ones dropped, order kept, no repeats."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for item in re.split(r"[,\s]+", text):
        item = item.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def normalise_symbol(text: str) -> str:
    """``$aapl`` -> ``AAPL``."""
    return text.strip().lstrip("$").upper()


def trade_id_for(command_id: str, taken: Callable[[str], bool]) -> str:
    """A short trade id derived from the command id (a retry yields the same id), unused so far."""
    attempt = 0
    while True:
        digest = hashlib.blake2b(f"{command_id}:{attempt}".encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(TRADE_ID_LENGTH):
            number, digit = divmod(number, len(ID_ALPHABET))
            chars.append(ID_ALPHABET[digit])
        candidate = "".join(chars)
        if not taken(candidate):
            return candidate
        attempt += 1


def short_hash(text: str, length: int = 10) -> str:
    """A stable short hex id derived from ``text``."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:length]
