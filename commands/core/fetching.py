"""Fetching many symbols in rounds through the ``MarketFetcher`` port.

Shared by ``/fetch`` (``commands.market.gather``) and the daily run (``commands.picks.daily``):
each round asks the provider for at most one batch of symbols and reports progress; the caller
appends every round's events together, as one command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from commands.core.handler import MAX_SYMBOLS
from commands.core.ports import MarketFetcher
from events.base import NewEvent

FETCH_BATCH = MAX_SYMBOLS
"""Symbols per fetch round when the service has no symbol limit."""
FetchProgress = Callable[[str, int, int], None]
"""``(kind, symbols done, symbols in all)``: a fetch's progress, batch by batch."""


async def fetch_in_rounds(
    fetcher: MarketFetcher,
    kind: str,
    symbols: Sequence[str],
    *,
    now: datetime,
    step: int | None,
    min_premium: float = 0.0,
    progress: FetchProgress | None = None,
) -> list[NewEvent]:
    """Fetch ``kind`` (``bars`` or ``flows``) for ``symbols`` in batches of ``step`` (the
    service's symbol limit; ``FETCH_BATCH`` without one), reporting each batch. Batching bounds
    each provider round and shows progress; the events are returned together."""
    size = step or FETCH_BATCH
    events: list[NewEvent] = []
    for start in range(0, len(symbols), size):
        batch = symbols[start : start + size]
        if kind == "bars":
            events += await fetcher.fetch_bars(batch, now=now)
        else:
            events += await fetcher.fetch_flows(batch, min_premium=min_premium, now=now)
        if progress is not None:
            progress(kind, min(start + size, len(symbols)), len(symbols))
    return events
