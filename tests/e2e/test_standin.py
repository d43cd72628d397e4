"""The Discord stand-in, proven against a tiny real disnake bot defined here.

Each test runs the unmodified disnake client against the stand-in over 127.0.0.1 and checks one
thing a Discord user can do (or one guarantee of the stand-in itself).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import struct
import zlib
from typing import Any

import aiohttp
import disnake
import pytest
from disnake.ext import commands
from disnake.interactions import ApplicationCommandInteraction, MessageInteraction, ModalInteraction

from tests.e2e.discord_standin import (
    CommandHiddenError,
    CommandShapeError,
    DiscordStandin,
    Reply,
    StandinFailureError,
    UserSpec,
    run_bot,
)


def _png() -> bytes:
    """A valid 1x1 PNG, built by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()
CSV = b"trade_id,symbol,pnl\nT1,AAPL,12.50\n"
LOG_TRADE_BUTTON = "standin-test:log_trade"
LOG_TRADE_MODAL = "standin-test:log_trade_modal"
NO_PINGS = disnake.AllowedMentions.none()
CommandInter = ApplicationCommandInteraction[commands.InteractionBot]
ButtonInter = MessageInteraction[commands.InteractionBot]


class LogTradeModal(disnake.ui.Modal):
    """A modal prefilled from a signal, as the real bot's "Log trade" button opens."""

    def __init__(self, symbol: str) -> None:
        super().__init__(
            title="Log trade",
            custom_id=LOG_TRADE_MODAL,
            components=[
                disnake.ui.Label("Symbol", disnake.ui.TextInput(custom_id="symbol", value=symbol)),
                disnake.ui.Label("Entry", disnake.ui.TextInput(custom_id="entry")),
            ],
        )

    async def callback(self, inter: ModalInteraction[Any]) -> None:
        """Confirm what the member typed."""
        values = inter.text_values
        await inter.response.send_message(
            f"logged {values['symbol']} at {values['entry']}", ephemeral=True
        )


class LogTradeView(disnake.ui.View):
    """A persistent view: no timeout and a namespaced custom id, so it survives a restart."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @disnake.ui.button(label="Log trade", custom_id=LOG_TRADE_BUTTON)
    async def log_trade(self, button: disnake.ui.Button[Any], inter: ButtonInter) -> None:
        """Open the modal prefilled with the signal's symbol."""
        await inter.response.send_modal(LogTradeModal("AAPL"))


def make_bot(standin: DiscordStandin, **options: Any) -> commands.InteractionBot:
    """The tiny bot: one command per feature the stand-in must carry."""
    world = standin.world
    bot = commands.InteractionBot(test_guilds=[world.guild.id, world.other_guild.id], **options)
    bot.add_view(LogTradeView())

    @bot.slash_command()
    async def echo(inter: CommandInter, text: str, times: int = 1) -> None:
        """Repeat the text."""
        await inter.response.send_message(text * times, allowed_mentions=NO_PINGS)

    @bot.slash_command()
    async def trade(inter: CommandInter) -> None:
        """Trades."""

    @trade.sub_command(name="open")
    async def trade_open(
        inter: CommandInter,
        symbol: str,
        entry: float,
        size: int = commands.Param(gt=0),
        direction: str = commands.Param(choices=["long", "short"], default="long"),
    ) -> None:
        """Open a trade."""
        await inter.response.send_message(f"{direction} {size} {symbol} @ {entry:.2f}")

    @trade_open.autocomplete("symbol")
    async def symbols(inter: CommandInter, current: str) -> list[str]:
        return [s for s in ("AAPL", "AMD", "MSFT") if s.startswith(current.upper())]

    @trade.sub_command_group()
    async def notes(inter: CommandInter) -> None:
        """Trade notes."""

    @notes.sub_command(name="add")
    async def notes_add(inter: CommandInter, trade_id: str, text: str) -> None:
        """Add a note."""
        await inter.response.send_message(f"note on {trade_id}: {text}")

    @bot.slash_command()
    async def report(inter: CommandInter) -> None:
        """Defer, edit the original with a chart, then follow up with a CSV."""
        await inter.response.defer()
        await inter.edit_original_response(
            content="chart", file=disnake.File(io.BytesIO(PNG), "equity.png")
        )
        await inter.followup.send(
            "export", file=disnake.File(io.BytesIO(CSV), "trades.csv"), ephemeral=True
        )

    @bot.slash_command()
    async def secret(inter: CommandInter) -> None:
        """An ephemeral reply."""
        await inter.response.send_message("only you", ephemeral=True)

    @bot.slash_command()
    async def signal(inter: CommandInter) -> None:
        """A signal with its "Log trade" button."""
        await inter.response.send_message("AAPL long", view=LogTradeView())

    @bot.slash_command()
    async def post(inter: CommandInter, channel: disnake.TextChannel, text: str) -> None:
        """Post in a channel, as the scheduler does."""
        await channel.send(text, allowed_mentions=NO_PINGS)
        await inter.response.send_message("posted", ephemeral=True)

    @bot.slash_command(default_member_permissions=disnake.Permissions(manage_guild=True))
    async def schedule(inter: CommandInter) -> None:
        """Hidden by Discord from members without Manage Server."""
        await inter.response.send_message("schedule")

    @bot.slash_command()
    @commands.has_permissions(manage_guild=True)
    async def admin(inter: CommandInter) -> None:
        """Checked by the bot itself."""
        await inter.response.send_message("admin done")

    @bot.slash_command()
    async def broken(inter: CommandInter) -> None:
        """Sends what Discord refuses: a 2,001-character message."""
        await inter.response.send_message("x" * 2001)

    @bot.slash_command()
    async def slow(inter: CommandInter) -> None:
        """Answers without deferring after a pause."""
        await asyncio.sleep(0.3)
        await inter.response.send_message("late")

    @bot.slash_command()
    async def probe(inter: CommandInter) -> None:
        """Calls a route the stand-in does not serve."""
        try:
            await bot.http.request(disnake.http.Route("GET", "/stickers/{sid}", sid=1))
        except disnake.NotFound:
            await inter.response.send_message("not found")

    @bot.listen("on_slash_command_error")
    async def refuse(inter: CommandInter, exc: Exception) -> None:
        if isinstance(exc, commands.MissingPermissions):
            await inter.response.send_message("You need Manage Server.", ephemeral=True)

    return bot


async def answer(
    standin: DiscordStandin, user: UserSpec, command: str, options: dict[str, Any] | None = None
) -> Reply:
    """The callback to a slash command run by ``user`` in the main guild."""
    handle = await standin.slash(standin.world.guild.id, user.id, command, options)
    return await handle.callback()


async def callback_of(standin: DiscordStandin, command: str) -> Reply:
    """Run a bot, send ``command`` as the member and wait (long) for its callback."""
    async with run_bot(make_bot(standin), standin):
        handle = await standin.slash(standin.world.guild.id, standin.world.member.id, command)
        return await handle.callback(timeout=30)


async def test_slash_command_options_arrive_typed(discord_standin: DiscordStandin) -> None:
    """A slash command with options reaches the bot with typed values; its reply is recorded."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        handle = await discord_standin.slash(
            world.guild.id, world.member.id, "echo", {"text": "hi", "times": 3}
        )
        reply = await handle.callback()
    assert (reply.type, reply.content) == (4, "hihi" * 1 + "hi")
    assert reply.allowed_mentions == {"parse": []}
    assert not reply.ephemeral


async def test_subcommand_and_group_reach_their_handlers(discord_standin: DiscordStandin) -> None:
    """A subcommand and a subcommand in a group are routed by disnake to the right handler."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        opened = await discord_standin.slash(
            world.guild.id,
            world.member.id,
            "trade open",
            {"symbol": "AAPL", "entry": 187.5, "size": 10, "direction": "short"},
        )
        noted = await discord_standin.slash(
            world.guild.id,
            world.member.id,
            "trade notes add",
            {"trade_id": "T1", "text": "tight stop"},
        )
        assert (await opened.callback()).content == "short 10 AAPL @ 187.50"
        assert (await noted.callback()).content == "note on T1: tight stop"


async def test_driver_refuses_what_discord_would_not_send(discord_standin: DiscordStandin) -> None:
    """Unknown commands, missing options, values outside choices or bounds never reach the bot."""
    world = discord_standin.world
    slash = discord_standin.slash
    async with run_bot(make_bot(discord_standin), discord_standin):
        with pytest.raises(CommandShapeError, match="no command /nope"):
            await slash(world.guild.id, world.member.id, "nope")
        with pytest.raises(CommandShapeError, match="missing required"):
            await slash(world.guild.id, world.member.id, "trade open", {"symbol": "AAPL"})
        with pytest.raises(CommandShapeError, match="not one of the choices"):
            await slash(
                world.guild.id,
                world.member.id,
                "trade open",
                {"symbol": "A", "entry": 1, "size": 1, "direction": "sideways"},
            )
        with pytest.raises(CommandShapeError, match="outside"):
            await slash(
                world.guild.id,
                world.member.id,
                "trade open",
                {"symbol": "A", "entry": 1, "size": 0},
            )
    assert discord_standin.interactions == {}


async def test_autocomplete_returns_the_bots_choices(discord_standin: DiscordStandin) -> None:
    """An autocomplete interaction (type 4) gets the bot's choices (callback type 8)."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        choices = await discord_standin.autocomplete(
            world.guild.id, world.member.id, "trade open", {"symbol": "a"}, focused="symbol"
        )
    assert choices == [{"name": "AAPL", "value": "AAPL"}, {"name": "AMD", "value": "AMD"}]


async def test_defer_edit_and_followup_carry_their_files(discord_standin: DiscordStandin) -> None:
    """Defer, an edit with a PNG and an ephemeral followup with a CSV are recorded byte for byte."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        handle = await discord_standin.slash(world.guild.id, world.member.id, "report")
        deferred = await handle.callback()
        edit = await handle.edit()
        followup = await handle.followup()
        async with (
            aiohttp.ClientSession() as session,
            session.get(edit.attachments[0]["url"]) as got,
        ):
            served = await got.read()
    assert deferred.type == 5
    assert (edit.content, edit.file("equity.png").data, served) == ("chart", PNG, PNG)
    assert edit.attachments[0]["filename"] == "equity.png"
    assert (followup.content, followup.ephemeral) == ("export", True)
    assert followup.file("trades.csv").data == CSV
    assert followup.received_at > edit.received_at > deferred.received_at > handle.sent_at


async def test_ephemeral_reply_has_flag_64(discord_standin: DiscordStandin) -> None:
    """An ephemeral reply is a type 4 callback with message flag 64."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        reply = await answer(discord_standin, world.member, "secret")
    assert (reply.type, reply.flags & 64, reply.content) == (4, 64, "only you")


async def test_button_opens_modal_and_submit_reaches_it(discord_standin: DiscordStandin) -> None:
    """A persistent button opens a prefilled modal; the submitted values reach its callback."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        signal = await answer(discord_standin, world.member, "signal")
        modal = await (await discord_standin.click(signal, LOG_TRADE_BUTTON)).callback()
        submitted = await discord_standin.submit_modal(LOG_TRADE_MODAL, {"entry": "187.5"})
        reply = await submitted.callback()
    assert (modal.type, modal.custom_id) == (9, LOG_TRADE_MODAL)
    assert (reply.content, reply.ephemeral) == ("logged AAPL at 187.5", True)


async def test_channel_message_is_recorded(discord_standin: DiscordStandin) -> None:
    """A message the bot posts to a channel is recorded and handed to wait_for_channel_message."""
    world = discord_standin.world
    picks = world.guild.channel("picks")
    async with run_bot(make_bot(discord_standin), discord_standin):
        handle = await discord_standin.slash(
            world.guild.id, world.member.id, "post", {"channel": picks.id, "text": "no picks today"}
        )
        posted = await discord_standin.wait_for_channel_message(picks.id)
        await handle.callback()
    assert (posted.kind, posted.content, posted.channel_id) == (
        "channel_message",
        "no picks today",
        picks.id,
    )


async def test_default_member_permissions_hide_a_command(discord_standin: DiscordStandin) -> None:
    """Like Discord's client, the driver hides a command whose permissions a member lacks."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        with pytest.raises(CommandHiddenError):
            await discord_standin.slash(world.guild.id, world.member.id, "schedule")
        reply = await answer(discord_standin, world.admin, "schedule")
    assert reply.content == "schedule"


async def test_bot_check_refuses_a_member_without_manage_server(
    discord_standin: DiscordStandin,
) -> None:
    """A bot check refuses a member, accepts an admin by role, and a member granted it per call."""
    world = discord_standin.world
    slash = discord_standin.slash
    async with run_bot(make_bot(discord_standin), discord_standin):
        refused = await (await slash(world.guild.id, world.member.id, "admin")).callback()
        by_role = await (await slash(world.guild.id, world.admin.id, "admin")).callback()
        granted = disnake.Permissions(manage_guild=True)
        by_call = await (
            await slash(world.guild.id, world.member.id, "admin", permissions=granted)
        ).callback()
    assert (refused.content, refused.ephemeral) == ("You need Manage Server.", True)
    assert by_role.content == by_call.content == "admin done"


async def test_restart_reconnects_and_keeps_buttons_working(
    discord_standin: DiscordStandin,
) -> None:
    """A new bot process reconnects without re-syncing commands, and old buttons still work."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        signal = await answer(discord_standin, world.member, "signal")
    overwrites = list(discord_standin.commands.overwrites)
    async with run_bot(make_bot(discord_standin), discord_standin):
        modal = await (await discord_standin.click(signal, LOG_TRADE_BUTTON)).callback()
        echo = await answer(discord_standin, world.member, "echo", {"text": "again"})
    assert discord_standin.identifies == 2
    assert discord_standin.commands.overwrites == overwrites
    assert (modal.type, echo.content) == (9, "again")


async def test_gateway_reconnect_resumes_the_session(discord_standin: DiscordStandin) -> None:
    """After Discord's op 7 RECONNECT the bot RESUMEs its session and keeps answering."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        await discord_standin.reconnect()
        reply = await answer(discord_standin, world.member, "echo", {"text": "ok"})
    assert (discord_standin.identifies, discord_standin.resumes, reply.content) == (1, 1, "ok")
    assert [c.zlib_stream for c in discord_standin.connections] == [True, True]


async def test_plain_text_gateway_works_without_zlib(discord_standin: DiscordStandin) -> None:
    """A bot that turns transport compression off gets text frames and works the same."""
    world = discord_standin.world
    bot = make_bot(discord_standin, gateway_params=disnake.GatewayParams(zlib=False))
    async with run_bot(bot, discord_standin):
        reply = await answer(discord_standin, world.member, "secret")
    assert reply.content == "only you"
    assert [c.zlib_stream for c in discord_standin.connections] == [False]


async def test_refused_message_fails_the_exchange_at_once(discord_standin: DiscordStandin) -> None:
    """A message Discord would refuse (2,001 characters) gets a 400 and fails the test at once."""
    with pytest.raises(StandinFailureError, match="2001 characters"):
        await callback_of(discord_standin, "broken")


async def test_late_callback_is_refused_like_discord(discord_standin: DiscordStandin) -> None:
    """A callback after the deadline (Discord: 3 s) is refused, so slow commands must defer."""
    discord_standin.callback_deadline = 0.1
    with pytest.raises(StandinFailureError, match="Unknown interaction"):
        await callback_of(discord_standin, "slow")


async def test_gateway_parse_error_fails_fast(discord_standin: DiscordStandin) -> None:
    """A payload disnake cannot parse surfaces as a failure instead of a silent timeout."""
    world = discord_standin.world

    async def exchange() -> None:
        async with run_bot(make_bot(discord_standin), discord_standin):
            handle = await discord_standin.slash(world.guild.id, world.member.id, "secret")
            conn = discord_standin.connections[-1]
            broken = dict(handle.record.payload)
            del broken["attachment_size_limit"]
            await conn.dispatch("INTERACTION_CREATE", broken)
            await discord_standin.changes.wait_until(lambda: None, 30, "a failure")

    with pytest.raises(StandinFailureError, match="INTERACTION_CREATE"):
        await exchange()


async def test_unknown_route_is_answered_404_and_recorded(discord_standin: DiscordStandin) -> None:
    """A route the stand-in does not serve gets a JSON 404 and is listed for the test to see."""
    world = discord_standin.world
    async with run_bot(make_bot(discord_standin), discord_standin):
        reply = await answer(discord_standin, world.member, "probe")
    assert reply.content == "not found"
    assert [(r.method, r.path, r.status) for r in discord_standin.unknown_requests] == [
        ("GET", "/stickers/1", 404)
    ]


async def test_json_responses_have_the_exact_content_type(discord_standin: DiscordStandin) -> None:
    """JSON answers carry ``Content-Type: application/json`` exactly; the gateway URL is local."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(discord_standin.api_base + "/gateway/bot") as got,
    ):
        body = json.loads(await got.read())
        content_type = got.headers["Content-Type"]
    assert content_type == "application/json"
    assert body["url"] == discord_standin.gateway_url


async def test_ids_are_time_based_snowflakes(discord_standin: DiscordStandin) -> None:
    """Guild, channel and user ids are snowflakes whose timestamp is now."""
    world = discord_standin.world
    now = disnake.utils.utcnow()
    for snowflake in (world.guild.id, world.guild.general.id, world.member.id):
        assert abs((disnake.utils.snowflake_time(snowflake) - now).total_seconds()) < 60


async def test_channel_history_reads_like_discords(discord_standin: DiscordStandin) -> None:
    """``channel.history`` (GET /channels/{id}/messages) answers as Discord does: newest first,
    ``limit`` messages around, before or after an anchor, no ephemeral replies; a bad ``limit``
    or two anchors are a 400, and a bot without Read Message History sees no messages."""
    world = discord_standin.world
    picks = world.guild.channel("picks")
    bot = make_bot(discord_standin)
    async with run_bot(bot, discord_standin):
        channel = bot.get_channel(picks.id)
        assert isinstance(channel, disnake.TextChannel)
        sent = [await channel.send(f"m{n}", allowed_mentions=NO_PINGS) for n in range(5)]
        await answer(discord_standin, world.member, "secret")  # ephemeral: in no history

        async def texts(**kwargs: Any) -> list[str]:
            return [m.content async for m in channel.history(**kwargs)]

        newest = await texts(limit=3)
        after = await texts(limit=None, after=sent[0])
        before = await texts(limit=2, before=sent[4])
        around = await texts(limit=2, around=sent[2])
        everything = await texts(limit=None)
    assert newest == ["m4", "m3", "m2"]
    assert after == ["m1", "m2", "m3", "m4"]  # disnake pages oldest first after an anchor
    assert before == ["m3", "m2"]
    assert around == ["m3", "m2", "m1"]  # Discord: limit // 2 each side plus the anchor
    assert everything == ["m4", "m3", "m2", "m1", "m0"]

    url = f"{discord_standin.api_base}/channels/{picks.id}/messages"
    async with aiohttp.ClientSession() as session:
        for query in ({"limit": "0"}, {"limit": "101"}, {"before": "1", "after": "2"}):
            async with session.get(url, params=query) as got:
                assert got.status == 400, query
                assert (await got.json())["code"] == 50035
        async with session.get(url, params={"limit": "2"}) as got:
            raw = await got.json()
        assert [m["content"] for m in raw] == ["m4", "m3"]
        discord_standin.failures.clear()  # the 400s above were the point
        everyone = world.guild.roles[0]
        world.guild.roles[0] = dataclasses.replace(
            everyone, permissions=everyone.permissions & ~(1 << 16)
        )  # no Read Message History
        async with session.get(url) as got:
            hidden = (got.status, await got.json())
    assert hidden == (200, [])
