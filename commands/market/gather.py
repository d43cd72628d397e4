"""What /fetch gathers before its handler runs: the symbols (given, else the watchlist and every
stored one), then the provider's answers, fetched in rounds with progress.

Runs on the event loop through the command service (``commands.core.service.Gather``); the
handlers (``commands.market.handlers``) only read what this put in the command.
"""

from __future__ import annotations

import msgspec

from commands.core.fetching import FetchProgress, fetch_in_rounds
from commands.core.handler import Command
from commands.core.service import CommandService, Gather
from commands.market.handlers import fetch_symbols


async def gather_fetch(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/fetch stocks`` (bars with earnings dates) or ``/fetch flows``: resolve the symbols
    once (rejected before anything is fetched), fetch them, hand both to the handler."""
    now = service.clock.now()
    symbols = await service.call(lambda: fetch_symbols(cmd, service.state()))
    events = await fetch_in_rounds(
        service.fetcher,
        "bars" if cmd.name == "fetch stocks" else "flows",
        symbols,
        now=now,
        step=service.symbol_limit,
        min_premium=float(cmd.options.get("min_premium", 0)),
        progress=progress,
    )
    return msgspec.structs.replace(cmd, inputs=events, context={"symbols": symbols})


GATHERS: dict[str, Gather] = {"fetch stocks": gather_fetch, "fetch flows": gather_fetch}
READS_ANALYTICS = frozenset({"status", "fetch stocks", "fetch flows"})
"""This room's commands that read the analytics (caught up with the journal first)."""
