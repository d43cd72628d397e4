"""The one clock: every "now" of the product (handlers, fetches, the sample data, the scheduler,
``recorded_at``) is read from a ``Clock``.

Production uses ``SystemClock``. A run can pin it with ``IBPICKER_NOW=<ISO instant>``
(``settings.Settings.clock``): a ``FixedClock`` that stands at that instant for the whole run, so
the console, the CLI and the bot behave as on that date (tests, demos, reproducing a report).
Tests inject their own clock (one that moves when told). The instant must carry its UTC offset
(``Z`` or ``+HH:MM``): a wall time without one would mean a different instant on every machine.

Lives in ``events`` because every package may import it (``fetchers`` must not import
``commands``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

NOW_FORMAT = "an ISO 8601 instant with a UTC offset (Z or +HH:MM), e.g. 2026-12-03T21:30:00Z"


class Clock(Protocol):
    """Tells the time (zone-aware)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A clock that stands at one instant (``IBPICKER_NOW``)."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError("a fixed clock needs a zone-aware instant")

    def now(self) -> datetime:
        """The pinned instant, in UTC."""
        return self.at.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """``text`` as an aware UTC instant; ``ValueError`` saying what is expected otherwise.

    Accepts what ``datetime.fromisoformat`` does (``2026-12-03T21:30:00Z``,
    ``2026-12-03 16:30-05:00``) and refuses a date or time without a UTC offset.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an instant: expected {NOW_FORMAT}") from None
    if value.utcoffset() is None:
        raise ValueError(f"no UTC offset: expected {NOW_FORMAT}")
    return value.astimezone(UTC)
