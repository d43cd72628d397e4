"""The slash commands, generated from ``commands.core.spec.COMMANDS`` (the one registry of
commands).

Each spec becomes a disnake slash command (``trade open`` a subcommand of ``/trade``) with the
spec's options, choices and autocomplete; its callback is glue only: turn disnake's resolved values
(a member, a channel) into ids and call ``FrontEnd.answer``. So ``/help``, the console and Discord
can never disagree about a command.

Permissions: a top-level command whose every subcommand is admin-only (``/schedule``) carries
``default_member_permissions=Manage Server``, so Discord hides it from members; the server-side
check is the service's (``Invocation.is_admin`` from the interaction's permissions), and it covers
admin subcommands of mixed groups (``/watchlist clear``) too. Every command is server-only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from itertools import groupby
from typing import Any

import disnake
from disnake.ext import commands
from disnake.interactions import ApplicationCommandInteraction

from commands.core.spec import COMMANDS, CommandSpec, OptionSpec
from commands.discord.frontend import FrontEnd
from commands.discord.render import clip

DESCRIPTION_MAX = 100
MANAGE_SERVER = disnake.Permissions(manage_guild=True)
GUILD_ONLY = disnake.InteractionContextTypes(guild=True)
OPTION_TYPES = {
    "str": disnake.OptionType.string,
    "int": disnake.OptionType.integer,
    "float": disnake.OptionType.number,
    "bool": disnake.OptionType.boolean,
    "user": disnake.OptionType.user,
    "channel": disnake.OptionType.channel,
    "attachment": disnake.OptionType.attachment,
}
GROUP_HELP = {
    "fetch": "Fetch market data.",
    "watchlist": "This server's watchlist.",
    "strategy": "One strategy.",
    "trade": "Your trade journal: open, close, note, export.",
    "schedule": "The daily picks (Manage Server).",
}

Inter = ApplicationCommandInteraction[Any]
Callback = Callable[..., Coroutine[Any, Any, None]]


def option_of(spec: OptionSpec) -> disnake.Option:
    """The Discord option of one spec option."""
    return disnake.Option(
        name=spec.name,
        description=clip(spec.description, DESCRIPTION_MAX),
        type=OPTION_TYPES[spec.type],
        required=spec.required,
        choices=[disnake.OptionChoice(c, c) for c in spec.choices] or None,
        autocomplete=spec.autocomplete is not None,
        channel_types=[disnake.ChannelType.text] if spec.type == "channel" else None,
    )


def options_of(spec: CommandSpec) -> list[disnake.Option]:
    """A command's options, required ones first (Discord's rule)."""
    return [option_of(o) for o in sorted(spec.options, key=lambda o: not o.required)]


def plain(value: object) -> object:
    """An option value as the service takes it: members, users and channels by id; a file as
    disnake's attachment (``FrontEnd.answer`` reads it after the defer)."""
    if isinstance(value, disnake.Attachment):
        return value
    if isinstance(value, disnake.abc.Snowflake):
        return value.id
    return value


class SlashCommands(commands.Cog):
    """Every command of the spec as a slash command; see the module docstring."""

    def __init__(self, front: FrontEnd, specs: Iterable[CommandSpec] = COMMANDS) -> None:
        """Build the commands of ``specs`` for ``front``."""
        self.front = front
        built = list(self._build(list(specs)))
        # disnake's Cog keeps a per-instance tuple of its commands; generated ones join it here.
        self.__cog_app_commands__ = (*self.__cog_app_commands__, *built)  # type: ignore[misc,assignment]

    def _build(self, specs: list[CommandSpec]) -> Iterable[commands.InvokableSlashCommand]:
        def root_of(spec: CommandSpec) -> str:
            return spec.name.split(" ")[0]

        ordered = sorted(specs, key=root_of)
        for root, members in groupby(ordered, key=root_of):
            group = list(members)
            admin = all(s.admin_only for s in group)
            if len(group) == 1 and group[0].name == root:
                spec = group[0]
                command = commands.InvokableSlashCommand(
                    self._callback(spec),
                    name=root,
                    description=clip(spec.description, DESCRIPTION_MAX),
                    options=options_of(spec),
                    default_member_permissions=MANAGE_SERVER if admin else None,
                    contexts=GUILD_ONLY,
                )
                self._completers(command, spec)
                yield command
                continue

            async def parent(*_: object) -> None:
                """A group of subcommands: disnake calls it (cog, interaction) before the
                subcommand."""

            command = commands.InvokableSlashCommand(
                parent,
                name=root,
                description=GROUP_HELP.get(root, root),
                options=[],
                default_member_permissions=MANAGE_SERVER if admin else None,
                contexts=GUILD_ONLY,
            )
            for spec in group:
                sub = command.sub_command(
                    name=spec.name.split(" ", 1)[1],
                    description=clip(spec.description, DESCRIPTION_MAX),
                    options=options_of(spec),
                )(self._callback(spec))
                self._completers(sub, spec)
            yield command

    def _callback(self, spec: CommandSpec) -> Callback:
        front = self.front

        async def run(inter: Inter, **options: Any) -> None:
            await front.answer(
                inter, spec.name, {k: plain(v) for k, v in options.items()}, slow=spec.slow
            )

        run.__name__ = "slash_" + spec.name.replace(" ", "_")
        run.__doc__ = spec.description
        return run

    def _completers(
        self, command: commands.InvokableSlashCommand | commands.SubCommand, spec: CommandSpec
    ) -> None:
        front = self.front
        for opt in spec.options:
            kind = opt.autocomplete
            if kind is None:
                continue

            async def complete(inter: Inter, current: str, *, _kind: str = kind) -> list[str]:
                return await front.complete(inter, _kind, current)

            # disnake awaits what an autocompleter returns; its annotation omits coroutines.
            command.autocompleters[opt.name] = complete  # type: ignore[assignment]
