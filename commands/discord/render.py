"""A ``Reply`` (plain data from the command service) as what disnake sends: an embed, files,
buttons, and prev/next buttons for a reply with pages.

Rules kept here, for every message the bot sends:

- ``allowed_mentions`` is none: nothing the bot says pings anyone (``NO_MENTIONS``).
- Text a member typed is escaped by the service's handlers before it reaches a reply
  (``commands.core.text.escape``, the one escaper: only the code that writes a reply's markdown
  knows which parts are a member's, so escaping happens there, in the pure handlers, not here;
  the console renders the same escaped markdown). disnake's ``escape_markdown`` is not used.
- Discord's limits are met by truncating (embed title 256, description 4,096, 25 fields of
  256/1,024, footer 2,048, 6,000 in all; 5 rows of 5 buttons, labels 80), so a long reply is
  shortened, never refused by Discord.
- A reply with ``pages`` shows page 1 with prev/next buttons; the pages stay in a bounded
  in-memory ``Pager`` keyed by the interaction id (after a restart the buttons say "expired").
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import disnake
import msgspec

from commands.core.models import Button, Reply

NO_MENTIONS = disnake.AllowedMentions.none()
PAGE_PREFIX = "ibpicker:page:"
PAGER_SIZE = 512

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
LABEL_MAX = 80
ROWS_MAX = 5
BUTTONS_PER_ROW = 5
OK_COLOR = 0x3498DB
ERROR_COLOR = 0xE74C3C


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Rendered:
    """What one message carries."""

    embed: disnake.Embed
    files: list[disnake.File] = field(default_factory=list)
    components: list[list[disnake.ui.Button[Any]]] = field(default_factory=list)
    """Rows of buttons (at most 5 of 5)."""


def embed_of(reply: Reply) -> disnake.Embed:
    """One page of a reply as an embed within Discord's limits."""
    color = reply.color if reply.color is not None else (OK_COLOR if reply.ok else ERROR_COLOR)
    title = clip(reply.title, TITLE_MAX)
    description = clip(reply.description, DESCRIPTION_MAX)
    footer = clip(reply.footer, FOOTER_MAX)
    budget = EMBED_TOTAL_MAX - len(title) - len(description) - len(footer)
    embed = disnake.Embed(title=title or None, description=description or None, color=color)
    for name, value, inline in reply.fields[:FIELDS_MAX]:
        name = clip(name, FIELD_NAME_MAX) or "\u200b"
        value = clip(value, FIELD_VALUE_MAX) or "\u200b"
        budget -= len(name) + len(value)
        if budget < 0:
            break
        embed.add_field(name=name, value=value, inline=inline)
    if footer:
        embed.set_footer(text=footer)
    if not (title or description or embed.fields):
        embed.description = "Done." if reply.ok else "That did not work."
    return embed


def files_of(reply: Reply) -> list[disnake.File]:
    """The reply's attachments (a chart PNG, a CSV export) as uploads."""
    return [
        disnake.File(io.BytesIO(a.data), filename=a.filename, description=a.description or None)
        for a in reply.attachments
    ]


def _rows(buttons: Sequence[disnake.ui.Button[Any]]) -> list[list[disnake.ui.Button[Any]]]:
    return [list(buttons[i : i + BUTTONS_PER_ROW]) for i in range(0, len(buttons), BUTTONS_PER_ROW)]


def _button(button: Button) -> disnake.ui.Button[Any]:
    return disnake.ui.Button(
        style=disnake.ButtonStyle.primary,
        label=clip(button.label, LABEL_MAX),
        custom_id=button.custom_id,
    )


def nav_buttons(key: str, index: int, count: int) -> list[disnake.ui.Button[Any]]:
    """Prev, "i/n" and next buttons of page ``index`` of ``count`` pages stored under ``key``."""
    prev_target, next_target = max(index - 1, 0), min(index + 1, count - 1)
    return [
        disnake.ui.Button(
            label="◀ Prev",
            custom_id=f"{PAGE_PREFIX}{key}:{prev_target}:prev",
            disabled=index == 0,
        ),
        disnake.ui.Button(
            label=f"{index + 1}/{count}",
            custom_id=f"{PAGE_PREFIX}{key}:{index}:at",
            disabled=True,
        ),
        disnake.ui.Button(
            label="Next ▶",
            custom_id=f"{PAGE_PREFIX}{key}:{next_target}:next",
            disabled=index == count - 1,
        ),
    ]


def parse_page_id(custom_id: str) -> tuple[str, int] | None:
    """``(key, page index)`` of a prev/next button, or ``None`` for another custom id."""
    if not custom_id.startswith(PAGE_PREFIX):
        return None
    key, _, rest = custom_id.removeprefix(PAGE_PREFIX).partition(":")
    index, _, _ = rest.partition(":")
    return (key, int(index)) if index.isdigit() else None


def pages_of(reply: Reply) -> list[Reply]:
    """Every page of a reply: itself, then its extra pages."""
    return [reply, *reply.pages]


def render_page(
    pages: Sequence[Reply], index: int, *, key: str | None, with_files: bool = True
) -> Rendered:
    """Page ``index`` with its buttons (and prev/next when there are pages and a ``key``)."""
    page = pages[index]
    nav = nav_buttons(key, index, len(pages)) if key is not None and len(pages) > 1 else []
    room = (ROWS_MAX - (1 if nav else 0)) * BUTTONS_PER_ROW
    rows = _rows([_button(b) for b in page.buttons[:room]])
    if nav:
        rows.append(nav)
    files = files_of(pages[0]) if with_files else []
    return Rendered(embed=embed_of(page), files=files, components=rows)


def render(reply: Reply, *, key: str | None = None) -> Rendered:
    """The first message of a reply (page 1, its files, its buttons, prev/next if paged)."""
    return render_page(pages_of(reply), 0, key=key)


class Pager:
    """The pages of recent paged replies, by key (the interaction id), least recent dropped."""

    def __init__(self, size: int = PAGER_SIZE) -> None:
        """Keep at most ``size`` replies."""
        self.size = size
        self._pages: OrderedDict[str, list[Reply]] = OrderedDict()

    def keep(self, key: str, reply: Reply) -> str | None:
        """Remember a reply's pages; the key to page it with (``None``: a single page)."""
        if not reply.pages:
            return None
        # Files go with the first message only: the pages need not keep them alive.
        self._pages[key] = pages_of(msgspec.structs.replace(reply, attachments=[]))
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
        return key

    def get(self, key: str) -> list[Reply] | None:
        """The pages stored under ``key``, if still kept."""
        return self._pages.get(key)
