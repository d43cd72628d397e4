"""The data that crosses the seam between handlers and front ends (cogs, console).

``commands.core.service`` re-exports these; front ends import them from there. A reply is plain
data: the cog renders it as an embed, the console as text.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from events.analysis import Signal


class Invocation(msgspec.Struct, frozen=True):
    """Who runs a command, where, and the id that makes its append idempotent."""

    command_id: str
    """Discord interaction id, or the console's line id: the journal's command id."""
    guild_id: int
    user_id: int
    user_name: str = ""
    is_admin: bool = False
    channel_id: int | None = None


class Attachment(msgspec.Struct, frozen=True):
    """A file sent with a reply (a chart PNG, a CSV export)."""

    filename: str
    data: bytes
    description: str = ""


class Upload(msgspec.Struct, frozen=True, kw_only=True):
    """A file a member sent as an option (a Discord attachment, a path typed in the console).

    ``size`` is what the sender declared; a front end does not download a file over the limit
    its command takes (``data`` stays empty), so the handler can refuse it by size. ``problem``
    says why a front end could not read the file (the handler refuses with it)."""

    filename: str
    data: bytes = b""
    size: int = 0
    content_type: str | None = None
    problem: str = ""

    def __str__(self) -> str:
        """How audit events and logs name the file: its name and size, never its bytes."""
        return f"{self.filename} ({self.size:,} bytes)"


class Button(msgspec.Struct, frozen=True):
    """A persistent button; ``custom_id`` is namespaced (``ibpicker:logtrade:<scan>:<symbol>``)."""

    label: str
    custom_id: str


BACKTEST_PREFIX = "ibpicker:backtest:"
"""A strategy's "Backtest" button: ``ibpicker:backtest:<key>`` or ``…:<key>:<server version>``;
a click runs ``/backtest`` with that strategy (``commands.discord.views.backtest_action``)."""


def backtest_button(key: str, version: int | None = None) -> Button:
    """The "Backtest" button of a strategy (a server's own at ``version``), for any room's reply."""
    return Button("Backtest", BACKTEST_PREFIX + key + ("" if version is None else f":{version}"))


class Reply(msgspec.Struct, frozen=True):
    """What a command answers: an embed's parts, files, buttons, and further pages."""

    title: str = ""
    description: str = ""
    fields: list[tuple[str, str, bool]] = []
    """(name, value, inline)"""
    footer: str = ""
    """The data source and as-of time."""
    color: int | None = None
    ephemeral: bool = False
    ok: bool = True
    partial: bool = False
    """The command ran but part of it failed (a provider for some symbol, a daily run that could
    not scan): the reply says what; front ends with an exit status report a failure (1)."""
    attachments: list[Attachment] = []
    buttons: list[Button] = []
    pages: list[Reply] = []
    """Long lists: extra pages after this one."""


class DailyRun(msgspec.Struct, frozen=True, kw_only=True):
    """One daily-picks run of a guild: what to post, where, and what happened."""

    guild_id: int
    session: date
    run_id: str
    channel_id: int | None
    strategy: str
    late: bool
    picks: list[Signal]
    failures: list[str]
    reply: Reply
    scan_id: str | None = None
    started_at: datetime | None = None
    already_posted: bool = False
    """True when this session's post exists already: post nothing."""


GREEN = 0x2ECC71
RED = 0xE74C3C
BLUE = 0x3498DB
GREY = 0x95A5A6
