"""Imports every event module so that every tag is registered; the one place to add a module."""

from __future__ import annotations

from events import analysis, audit, backtests, guild, market, strategies, trading
from events.base import Event, registered_event_types

__all__ = [
    "ALL_EVENT_TYPES",
    "Event",
    "analysis",
    "audit",
    "backtests",
    "guild",
    "market",
    "strategies",
    "trading",
]

ALL_EVENT_TYPES: dict[str, type[Event]] = registered_event_types()
