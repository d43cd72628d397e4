"""Every command's handler, by command name: the feature rooms' tables joined.

A room owns its handlers and lists them in its own ``HANDLERS``; this one table is what the
composition (``commands.wiring``) hands the service, so the core never imports a room.
"""

from __future__ import annotations

from collections.abc import Mapping

from commands.core.handler import Handler
from commands.general.handlers import HANDLERS as GENERAL
from commands.journal.handlers import HANDLERS as JOURNAL
from commands.market.handlers import HANDLERS as MARKET
from commands.picks.handlers import HANDLERS as PICKS

HANDLERS: Mapping[str, Handler] = {**GENERAL, **MARKET, **PICKS, **JOURNAL}
