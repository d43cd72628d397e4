"""What /strategy show gathers before its handler runs: the summary of the version asked for,
from the analyzer (shipped files are the analyzer's; a server's version is given by its text)."""

from __future__ import annotations

import msgspec

from commands.core.fetching import FetchProgress
from commands.core.handler import Command
from commands.core.service import CommandService, Gather
from commands.strategies.library import resolve_shown


def _describe(service: CommandService, cmd: Command) -> str:
    """(On the worker) the summary of the strategy ``/strategy show`` names, its input checked."""
    found = resolve_shown(service.state(cmd.inv.guild_id), cmd.inv.guild_id, cmd.options)
    return service.analyzer.describe(found.ref)


async def gather_strategy_text(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/strategy show``: the strategy's summary from the analyzer."""
    text = await service.call(_describe, service, cmd)
    return msgspec.structs.replace(cmd, context={"strategy_text": text})


GATHERS: dict[str, Gather] = {"strategy show": gather_strategy_text}
READS_ANALYTICS: frozenset[str] = frozenset()
"""This room's commands that read the analytics: none."""
