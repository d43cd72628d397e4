"""The one list of analytics projections; later features add theirs here."""

from __future__ import annotations

from projections.backtests import BacktestsProjection
from projections.base import AnalyticsProjection
from projections.journal_index import CommandAuditProjection, JournalIndexProjection
from projections.market import (
    BarsProjection,
    EarningsProjection,
    FetchesProjection,
    FlowAlertsProjection,
)
from projections.signals import SignalsProjection
from projections.trading import TradesProjection


def all_analytics_projections() -> list[AnalyticsProjection]:
    """A fresh instance of every analytics projection, in a stable order."""
    import events.catalog

    return [
        JournalIndexProjection(frozenset(events.catalog.ALL_EVENT_TYPES)),
        CommandAuditProjection(),
        BarsProjection(),
        FlowAlertsProjection(),
        EarningsProjection(),
        FetchesProjection(),
        SignalsProjection(),
        TradesProjection(),
        BacktestsProjection(),
    ]


def projection_names() -> list[str]:
    """Every analytics projection's name."""
    return [p.name for p in all_analytics_projections()]
