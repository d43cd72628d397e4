"""What /analyze and /schedule run gather before their handlers run: a scan (of the server's
strategy at its exact version, ``commands.strategies.library.resolve``), a manual daily run.

Runs on the event loop through the command service (``commands.core.service.Gather``); the
handlers (``commands.picks.handlers``) only read what this put in the command.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from commands.core import text as tx
from commands.core.fetching import FetchProgress
from commands.core.handler import Command
from commands.core.service import CommandService, Gather
from commands.picks.daily import DailyRuns
from commands.picks.handlers import analyze_symbols, skip_earnings_days
from commands.strategies.library import resolve
from events.analysis import SignalsGenerated
from events.base import NewEvent


def _scan_for(service: CommandService, cmd: Command, now: datetime) -> SignalsGenerated:
    """(On the worker) the scan ``/analyze`` asks for, its input checked first."""
    state = service.state(cmd.inv.guild_id)
    strategy = resolve(state, cmd.inv.guild_id, str(cmd.options["strategy"]))
    symbols = analyze_symbols(cmd, state)
    return service.analyzer.scan(
        strategy.ref, symbols, guild_id=cmd.inv.guild_id,
        scan_id=f"scan-{tx.short_hash(cmd.inv.command_id)}", now=now,
        skip_earnings_within=skip_earnings_days(cmd.options) or None,
    )  # fmt: skip


async def gather_scan(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/analyze``: scan the symbols with the strategy; the handler appends the scan."""
    scan = await service.call(_scan_for, service, cmd, service.clock.now())
    return msgspec.structs.replace(cmd, inputs=[NewEvent(f"signals:{cmd.inv.guild_id}", scan)])


async def gather_daily_run(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/schedule run``: the daily run, now, into the member's channel's reply."""
    run = await DailyRuns(service).manual(
        cmd.inv.guild_id, now=service.clock.now(), command_id=cmd.inv.command_id,
        channel_id=cmd.inv.channel_id,
    )  # fmt: skip
    return msgspec.structs.replace(cmd, context={"daily": run})


GATHERS: dict[str, Gather] = {
    "analyze": gather_scan,
    "schedule run": gather_daily_run,
}
READS_ANALYTICS = frozenset({"signals", "analyze", "schedule run"})
"""This room's commands that read the analytics (caught up with the journal first)."""
