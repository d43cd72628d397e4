"""/ping, /help and /about: the commands about the bot itself."""

from __future__ import annotations

import math

import msgspec

from commands.core import text as tx
from commands.core.handler import Command, Handler, Outcome, State, reject, reply_footer
from commands.core.models import BLUE, GREEN, Reply
from commands.core.ports import Clock
from commands.core.spec import COMMANDS, find_command, usage


def handle_ping(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Answer, with the journal head (the front end adds its timings: ``with_ping_timings``)."""
    return [], Reply(
        title="Pong!",
        description=f"Journal head: {state.info.journal_head}",
        color=GREEN,
        ephemeral=True,
    )


def with_ping_timings(reply: Reply, *, gateway_latency: float | None, answered_in: float) -> Reply:
    """/ping's reply with what only the front end measures: the gateway's heartbeat latency
    (``None``: there is no gateway, the console; infinite or NaN: no heartbeat answered yet) and
    the seconds from receiving the command to sending this answer."""
    if gateway_latency is None:
        gateway = "none (local console)"
    elif not math.isfinite(gateway_latency):
        gateway = "not measured yet (no heartbeat answered)"
    else:
        gateway = f"{gateway_latency * 1000:.0f} ms"
    fields = [
        ("Gateway latency", gateway, True),
        ("Answered in", f"{answered_in * 1000:.0f} ms", True),
    ]
    return msgspec.structs.replace(reply, fields=[*reply.fields, *fields])


def handle_help(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The command list grouped by area, or one command's options (generated from the specs)."""
    wanted = cmd.options.get("command")
    if wanted:
        spec = find_command(str(wanted).lstrip("/"))
        if spec is None:
            raise reject(f"No command {tx.escape(str(wanted))}. /help lists them.")
        lines = [spec.description, "", f"`{usage(spec)}`"]
        for o in spec.options:
            need = "required" if o.required else "optional"
            choices = f" ({' | '.join(o.choices)})" if o.choices else ""
            lines.append(f"• **{o.name}** ({o.type}, {need}){choices}: {o.description}")
        if spec.admin_only:
            lines.append("Needs the Manage Server permission.")
        return [], Reply(
            title=f"/{spec.name}", description="\n".join(lines), color=BLUE, ephemeral=True
        )
    groups: dict[str, list[str]] = {}
    for spec in COMMANDS:
        mark = " (admin)" if spec.admin_only else ""
        groups.setdefault(spec.group, []).append(f"`/{spec.name}`{mark}: {spec.description}")
    fields = [(group.capitalize(), "\n".join(lines), False) for group, lines in groups.items()]
    return [], Reply(
        title="ibpicker commands",
        description='Options are name:value; `/help command:"trade open"` shows one command.',
        fields=fields,
        color=BLUE,
        ephemeral=True,
    )


def handle_about(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Version, data sources, features that are off, and the journal head."""
    info = state.info
    return [], Reply(
        title="About ibpicker",
        description="Daily picks, options flow and a trade journal, event-sourced.",
        fields=[
            ("Version", info.version, True),
            ("Journal head", str(info.journal_head), True),
            ("Data sources", ", ".join(info.sources) or "none", False),
            ("Strategy drafting with Claude", _drafting(info.drafting_model), False),
            ("Features off", "\n".join(info.features_off) or "none", False),
            *[("Projection stopped", fault, False) for fault in info.projection_faults],
        ],
        footer=reply_footer(state, clock),
        color=BLUE,
    )


def _drafting(model: str | None) -> str:
    """``/strategy draft``'s state: on with its model, or off and how to turn it on."""
    if model is None:
        return "off: set the anthropic-api-key secret (ANTHROPIC_API_KEY) to turn it on"
    return f"on ({tx.escape(model)}): /strategy draft"


HANDLERS: dict[str, Handler] = {
    "ping": handle_ping,
    "help": handle_help,
    "about": handle_about,
}
