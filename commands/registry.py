"""Every command's route and every autocomplete, joined from the feature rooms.

A room owns its handlers (its ``handlers.py`` lists them in ``HANDLERS``), what they gather first
(its ``gather.py``: ``GATHERS``, ``READS_ANALYTICS``) and its completers; this module joins them
into the ``Rooms`` the composition (``commands.wiring``) hands the service, so the core never
imports a room.
"""

from __future__ import annotations

from commands.backtest import gather as backtest
from commands.backtest.handlers import HANDLERS as BACKTEST
from commands.core.service import Completer, Rooms, Route
from commands.core.spec import COMMANDS
from commands.general.handlers import HANDLERS as GENERAL
from commands.journal.handlers import HANDLERS as JOURNAL
from commands.journal.handlers import complete_open_trade
from commands.market import gather as market
from commands.market.handlers import HANDLERS as MARKET
from commands.market.handlers import complete_symbol
from commands.picks import gather as picks
from commands.picks.handlers import HANDLERS as PICKS
from commands.strategies import draft
from commands.strategies import gather as strategies
from commands.strategies.handlers import HANDLERS as STRATEGIES
from commands.strategies.handlers import complete_strategy

HANDLERS = {**GENERAL, **MARKET, **PICKS, **STRATEGIES, **draft.HANDLERS, **JOURNAL, **BACKTEST}
GATHERS = {
    **market.GATHERS, **picks.GATHERS, **strategies.GATHERS, **draft.GATHERS, **backtest.GATHERS
}  # fmt: skip
READS_ANALYTICS = (
    (market.READS_ANALYTICS | picks.READS_ANALYTICS | strategies.READS_ANALYTICS)
    | backtest.READS_ANALYTICS
    | draft.READS_ANALYTICS
)
COMPLETERS: dict[str, Completer] = {
    "symbol": complete_symbol,
    "strategy": complete_strategy,
    "open_trade": complete_open_trade,
}
"""Autocomplete kinds, as ``commands.core.spec`` names them on options."""

ROOMS = Rooms(
    routes={
        spec.name: Route(
            HANDLERS[spec.name],
            gather=GATHERS.get(spec.name),
            reads_analytics=spec.name in READS_ANALYTICS,
        )
        for spec in COMMANDS
    },
    completers=COMPLETERS,
)
"""A route for every command the spec registry names (a spec without a handler fails here, at
import, not when a member first runs it)."""
