"""A server's strategy library through the real disnake client and the Discord stand-in: a YAML
file attached to /strategy add (downloaded from the stand-in's attachment URL), autocomplete that
offers a server's own strategies and never another server's, and files refused by their declared
size or type before anything is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.bot_harness import Running
from tests.e2e.discord_standin import RecordedFile

GOLDEN = Path(__file__).parents[1] / "fixtures" / "compat_strategies" / "golden_cross.yaml"
TEXT = GOLDEN.read_bytes()


def attached(
    data: bytes, filename: str = "golden_cross.yaml", content_type: str = "text/yaml"
) -> RecordedFile:
    """A file a member attaches to a slash command."""
    return RecordedFile("file", filename, content_type, data)


def downloads(running: Running) -> list[str]:
    """The attachment URLs the bot fetched from the stand-in."""
    return [r.path for r in running.standin.requests if r.path.startswith("/attachments/")]


async def choices(running: Running, guild_id: int, typed: str) -> list[str]:
    """What autocomplete offers the member typing ``typed`` into /analyze strategy:."""
    found = await running.standin.autocomplete(
        guild_id, running.world.member.id, "analyze", {"strategy": typed}, focused="strategy"
    )
    return [c["value"] for c in found]


async def test_an_attached_file_is_added_and_offered_only_to_its_server(running: Running) -> None:
    """A manager attaches golden_cross.yaml: the bot downloads it from its URL, adds it (v1,
    its hash shown), /strategies lists it; autocomplete offers it in that server and not in the
    other one the member is in, where /analyze does not know it."""
    added = await running.run("strategy add", {"file": attached(TEXT)}, user=running.world.admin)
    assert "Added golden_cross v1" in added.text(), added.text()
    assert len(downloads(running)) == 1
    listed = await running.run("strategies")
    assert "golden_cross" in listed.text()
    assert "golden_cross" in await choices(running, running.world.guild.id, "gold")
    other = running.world.other_guild.id
    assert "golden_cross" not in await choices(running, other, "gold")
    elsewhere = await running.run("analyze", {"strategy": "golden_cross"}, guild_id=other)
    assert "Unknown strategy" in elsewhere.text()
    scanned = await running.run("analyze", {"strategy": "golden_cross", "symbols": "AAPL,MSFT"})
    assert "golden_cross v1" in scanned.text()


@pytest.mark.parametrize(
    ("file", "refusal"),
    [
        (attached(TEXT + b"#" * (64 * 1024)), "at most 65,536 bytes"),
        (attached(b"\x89PNG...", "chart.png", "image/png"), "not a text file"),
    ],
    ids=["too-big", "image"],
)
async def test_a_file_too_big_or_not_text_is_refused_without_downloading_it(
    running: Running, file: RecordedFile, refusal: str
) -> None:
    """The declared size (over 64 KiB) or content type (an image) refuses the file, with a
    message naming it, and the bot never fetches its URL."""
    reply = await running.run("strategy add", {"file": file}, user=running.world.admin)
    assert refusal in reply.text().replace("\\", ""), reply.text()
    assert downloads(running) == []
    assert "golden_cross" not in await choices(running, running.world.guild.id, "gold")


async def test_adding_needs_manage_server(running: Running) -> None:
    """A member without Manage Server is told so (and nothing is added)."""
    reply = await running.run("strategy add", {"file": attached(TEXT)})
    assert "Manage Server" in reply.text()
    assert "golden_cross" not in await choices(running, running.world.guild.id, "gold")
