"""/strategies and /strategy show|add|remove|settings: a server's strategy library.

``/strategy add`` takes a YAML file (Discord: an attachment; the console: ``file:./my.yaml``) and
appends ``strategy_added`` through ``library.add_strategy``, the one place a strategy is added.
Managing the library needs Manage Server (``remove`` and ``settings`` always; ``add`` unless the
server opened it to everyone with ``/strategy settings open_add:true``).
"""

from __future__ import annotations

import functools

from analysis.errors import StrategyError
from analysis.strategy import parse_strategy
from commands.core import text as tx
from commands.core.handler import Command, Handler, Outcome, State, reject, reply_footer
from commands.core.models import (
    BLUE,
    GREEN,
    Attachment,
    Invocation,
    Reply,
    Upload,
    backtest_button,
)
from commands.core.ports import Clock
from commands.strategies.library import (
    add_strategy,
    file_text,
    key_for,
    may_add,
    own,
    resolve_shown,
    shipped,
)
from events.base import NewEvent
from events.strategies import StrategyLibraryConfigured, StrategyRemoved, library_stream
from projections.strategy_library import LibraryVersion


@functools.lru_cache(maxsize=256)
def _description(yaml_text: str, key: str) -> str:
    """A stored version's description (its display name when it has none); cached by text."""
    try:
        meta = parse_strategy(yaml_text.encode("utf-8"), f"{key}.yaml").spec.strategy
    except StrategyError:
        return "(no longer valid under this schema)"
    return meta.description or meta.name


def _added_line(v: LibraryVersion) -> str:
    when = f", {v.added_at:%Y-%m-%d}" if v.added_at else ""
    replaces = ", in place of the shipped one" if v.replaced_shipped else ""
    return (
        f"**{v.key}** {v.label} (this server's, added by <@{v.added_by}>{when}{replaces}): "
        f"{tx.escape(_description(v.yaml_text, v.key))}"
    )


def handle_strategies(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The shipped strategies (with the operator's), then this server's own with their version
    and who added them."""
    mine = own(state, cmd.inv.guild_id)
    taken = {v.key for v in mine}
    lines = [
        f"**{s.name}**"
        + (f" {s.version}" if s.version else "")
        + (" (operator)" if s.origin == "operator" else " (shipped)")
        + f": {tx.escape(s.description)}"
        for s in shipped(state)
        if s.name not in taken
    ]
    lines += [_added_line(v) for v in mine]
    base = Reply(title="Strategies", color=BLUE, footer="Add yours: /strategy add file:")
    return [], tx.paged(base, lines, empty="No strategies.")


def handle_strategy_show(cmd: Command, state: State, clock: Clock) -> Outcome:
    """One strategy's summary (gathered from the analyzer) at the version asked for; a server's
    version carries its YAML file."""
    found = resolve_shown(state, cmd.inv.guild_id, cmd.options)
    lines = str(cmd.context.get("strategy_text", "")).splitlines()
    # A blank line ends the list of entry conditions, so the lines after it are not read as
    # part of its last item; long summaries go on pages, never cut.
    shown = [
        line + ("\n" if line.startswith("  - ") and not after.startswith("  - ") else "")
        for line, after in zip(lines, [*lines[1:], ""], strict=True)
    ]
    v = found.version
    backtest = [backtest_button(found.key, v.version if v is not None else None)]
    base = Reply(title=f"Strategy {found.key}", color=BLUE, buttons=backtest)
    if v is not None:
        latest = state.library.latest(cmd.inv.guild_id, v.key)
        status = "latest" if latest == v else "removed" if latest is None else "older"
        base = Reply(
            title=f"Strategy {found.key} {v.label} ({status})",
            color=BLUE,
            fields=[
                ("Added by", f"<@{v.added_by}>", True),
                ("Versions", str(len(state.library.versions(cmd.inv.guild_id, v.key))), True),
                ("SHA-256", f"`{v.sha256}`", False),
            ],
            attachments=[
                Attachment(f"{v.key}-{v.label}.yaml", v.yaml_text.encode("utf-8"), "the file")
            ],
            buttons=backtest,
        )
    return [], tx.paged(base, shown, empty="(no summary)", per_page=25)


def handle_strategy_add(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Validate the file and append its ``strategy_added`` (a new version of a key the server
    has)."""
    may_add(state, cmd.inv)  # before the file is even read
    upload = cmd.options["file"]
    if not isinstance(upload, Upload):
        raise RuntimeError("the value gate let a non-file through")  # a wiring bug
    text = file_text(upload)
    name = cmd.options.get("name")
    key = key_for(upload, str(name) if name else None)
    added = add_strategy(
        state,
        cmd.inv,
        key=key,
        yaml_text=text,
        replace=bool(cmd.options.get("replace", False)),
        source=upload.filename,
    )
    return added.events, added_reply(added.event.key, added.event.version, added.event.sha256,
                                     added.strategy.name, state, clock)  # fmt: skip


def added_reply(
    key: str, version: int, sha256: str, title: str, state: State, clock: Clock
) -> Reply:
    """The reply to a saved strategy (``/strategy add``, a draft's Save)."""
    again = " (a new version: scans now use it)" if version > 1 else ""
    return Reply(
        title=f"Added {key} v{version}",
        description=f"{tx.escape(title)}{again}. Run it: /analyze strategy:{key}",
        fields=[("SHA-256", f"`{sha256}`", False)],
        footer=reply_footer(state, clock),
        color=GREEN,
    )


def handle_strategy_remove(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Remove one of the server's own keys (all versions; past scans keep naming theirs)."""
    guild = cmd.inv.guild_id
    key = str(cmd.options["name"]).strip().lower()
    latest = state.library.latest(guild, key)
    if latest is None:
        if key in {s.name for s in shipped(state)}:
            raise reject(f"{key} is a shipped strategy: shipped strategies cannot be removed.")
        mine = ", ".join(v.key for v in own(state, guild)) or "none"
        raise reject(f"This server has no strategy {tx.escape(key)!s}. Its own: {mine}.")
    notes = [f"Removed {key} ({latest.label} was the latest); past scans keep naming it."]
    if latest.replaced_shipped:
        notes.append(f"The shipped {key} is used again.")
    sched = state.guilds.schedule(guild)
    if sched is not None and sched.strategy == key and not latest.replaced_shipped:
        notes.append("The daily picks use it: choose another with /schedule set strategy:.")
    event = StrategyRemoved(guild_id=guild, key=key, removed_by=cmd.inv.user_id)
    return [NewEvent(library_stream(guild), event)], Reply(
        title=f"Removed {key}", description=" ".join(notes), color=GREEN
    )


def handle_strategy_settings(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Open adding strategies to every member, or close it to Manage Server again."""
    guild = cmd.inv.guild_id
    open_add = bool(cmd.options["open_add"])
    event = StrategyLibraryConfigured(guild_id=guild, open_add=open_add, changed_by=cmd.inv.user_id)
    who = "every member" if open_add else "members with Manage Server"
    return [NewEvent(library_stream(guild), event)], Reply(
        title="Strategy library", description=f"Now {who} may add strategies.", color=GREEN
    )


def complete_strategy(state: State, partial: str, inv: Invocation) -> list[str]:
    """Autocomplete of a strategy option: the shipped strategies and this server's own (never
    another server's) whose key contains what was typed."""
    typed = partial.strip().lower()
    return [s.name for s in state.strategies if typed in s.name.lower()]


HANDLERS: dict[str, Handler] = {
    "strategies": handle_strategies,
    "strategy show": handle_strategy_show,
    "strategy add": handle_strategy_add,
    "strategy remove": handle_strategy_remove,
    "strategy settings": handle_strategy_settings,
}
