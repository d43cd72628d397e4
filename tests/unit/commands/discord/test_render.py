"""Rendering a Reply for Discord: limits met by truncation, pages and their buttons, inert text."""

from __future__ import annotations

import disnake
from hypothesis import given
from hypothesis import strategies as st

from commands.core.models import Attachment, Button, Reply
from commands.discord.render import (
    EMBED_TOTAL_MAX,
    Pager,
    embed_of,
    parse_page_id,
    render,
    render_page,
)


def _embed_length(embed: disnake.Embed) -> int:
    return len(embed)


@given(
    title=st.text(max_size=400),
    description=st.text(max_size=6000),
    fields=st.lists(st.tuples(st.text(max_size=300), st.text(max_size=1500), st.booleans()),
                    max_size=40),
    footer=st.text(max_size=2500),
)  # fmt: skip
def test_any_reply_fits_discords_embed_limits(
    title: str, description: str, fields: list[tuple[str, str, bool]], footer: str
) -> None:
    """Invariant: whatever a reply holds, its embed stays within every Discord embed limit."""
    embed = embed_of(Reply(title=title, description=description, fields=fields, footer=footer))
    assert _embed_length(embed) <= EMBED_TOTAL_MAX
    assert len(embed.title or "") <= 256
    assert len(embed.description or "") <= 4096
    assert len(embed.fields) <= 25
    assert all(len(f.name or "") <= 256 and len(f.value or "") <= 1024 for f in embed.fields)
    assert len(embed.footer.text or "") <= 2048


def test_an_empty_reply_still_says_something() -> None:
    """A reply with no text renders a non-empty embed (Discord refuses an empty message)."""
    assert embed_of(Reply()).description == "Done."
    assert embed_of(Reply(ok=False)).description == "That did not work."


def test_paged_reply_gets_prev_next_buttons_that_parse_back() -> None:
    """Page 1 of 3 has a disabled prev, a 1/3 marker and a next that points at page 2."""
    reply = Reply(title="p1", pages=[Reply(title="p2"), Reply(title="p3")])
    out = render(reply, key="42")
    nav = out.components[-1]
    assert [b.label for b in nav] == ["◀ Prev", "1/3", "Next ▶"]
    assert nav[0].disabled
    assert parse_page_id(nav[2].custom_id or "") == ("42", 1)
    assert parse_page_id("ibpicker:logtrade:scan:AAPL") is None


def test_buttons_are_cut_to_what_fits_beside_the_page_buttons() -> None:
    """30 buttons on a paged reply: at most 4 rows of 5 plus the navigation row."""
    buttons = [Button(label=f"b{n}", custom_id=f"ibpicker:x:{n}") for n in range(30)]
    out = render_page([Reply(buttons=buttons), Reply()], 0, key="k")
    assert len(out.components) == 5
    assert sum(len(row) for row in out.components[:-1]) == 20


def test_attachments_go_with_the_first_page_only() -> None:
    """Files are sent with the first message, not when a page is turned."""
    reply = Reply(attachments=[Attachment("equity.png", b"png")], pages=[Reply()])
    assert [f.filename for f in render(reply, key="k").files] == ["equity.png"]
    assert render_page([reply, *reply.pages], 1, key="k", with_files=False).files == []


def test_pager_forgets_the_oldest_reply() -> None:
    """The pager keeps a bounded number of paged replies; single pages are not kept."""
    pager = Pager(size=2)
    assert pager.keep("solo", Reply()) is None
    for key in ("a", "b", "c"):
        pager.keep(key, Reply(pages=[Reply()]))
    assert pager.get("a") is None
    assert pager.get("c") is not None
