"""The Discord stand-in shards as Discord does, proven with the real disnake sharded client.

``GET /gateway/bot`` recommends the stand-in's shard count; IDENTIFY carries ``[shard_id,
num_shards]``; a session's READY and GUILD_CREATEs hold only the guilds of its shard
(``(guild_id >> 22) % num_shards``), and each guild's INTERACTION_CREATE goes to that session
only. The default world puts ``guild`` on shard 0 and ``other_guild`` on shard 1 of two.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import disnake
import pytest
from disnake.ext import commands
from disnake.interactions import ApplicationCommandInteraction

from tests.e2e.discord_standin import DiscordStandin, StandinError, run_bot, serve_standin
from tests.e2e.discord_standin.gateway import IDENTIFY, GatewayConnection

Inter = ApplicationCommandInteraction[commands.AutoShardedInteractionBot]


@pytest.fixture
async def sharded() -> AsyncIterator[DiscordStandin]:
    """A stand-in that recommends two shards."""
    async with serve_standin(shards=2) as standin:
        yield standin


def echo_bot(
    standin: DiscordStandin, label: str, **options: Any
) -> commands.AutoShardedInteractionBot:
    """disnake's sharded bot with one command that says which bot answered and the shard the
    bot files the guild under."""
    world = standin.world
    bot = commands.AutoShardedInteractionBot(
        test_guilds=[world.guild.id, world.other_guild.id], **options
    )

    @bot.slash_command()
    async def echo(inter: Inter, text: str) -> None:
        """Say which bot answered, on which shard."""
        assert inter.guild is not None
        await inter.response.send_message(f"{label} shard {inter.guild.shard_id}: {text}")

    return bot


def identified_shards(standin: DiscordStandin) -> list[list[int]]:
    """The ``shard`` of every IDENTIFY the stand-in received, in order."""
    return [p["d"]["shard"] for c in standin.connections for p in c.received if p["op"] == IDENTIFY]


def guilds_dispatched(conn: GatewayConnection, event: str) -> list[int]:
    """The guild ids of every ``event`` dispatched on ``conn``."""
    return [
        int(d["guild_id"] if "guild_id" in d else d["id"]) for t, d in conn.dispatched if t == event
    ]


def shard_of_connection(conn: GatewayConnection) -> tuple[int, int]:
    """The ``(shard_id, num_shards)`` of a connection's session."""
    assert conn.session is not None
    return conn.session.shard


async def test_gateway_bot_reports_the_shard_count(sharded: DiscordStandin) -> None:
    """``GET /gateway/bot`` answers the stand-in's shard count (two here; one by default)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(sharded.api_base + "/gateway/bot") as got,
    ):
        body = json.loads(await got.read())
    assert body["shards"] == 2
    assert body["url"] == sharded.gateway_url


async def test_a_sharded_bot_gets_each_guild_on_its_shards_session(
    sharded: DiscordStandin,
) -> None:
    """A sharded bot without a count of its own runs the two recommended shards: it IDENTIFYs
    [0, 2] and [1, 2]; each session's READY and GUILD_CREATE hold only its guild; an interaction
    in each guild arrives on that guild's session alone, and disnake files each guild under the
    same shard."""
    world = sharded.world
    bot = echo_bot(sharded, "one")
    async with run_bot(bot, sharded):
        main = await sharded.slash(world.guild.id, world.member.id, "echo", {"text": "a"})
        other = await sharded.slash(world.other_guild.id, world.member.id, "echo", {"text": "b"})
        replies = [(await main.callback()).content, (await other.callback()).content]
        filed = {g.id: g.shard_id for g in bot.guilds}
    assert bot.shard_count == 2
    assert sorted(identified_shards(sharded)) == [[0, 2], [1, 2]]
    by_shard = {shard_of_connection(c): c for c in sharded.connections}
    assert set(by_shard) == {(0, 2), (1, 2)}
    ready = {
        shard: [int(g["id"]) for t, d in c.dispatched if t == "READY" for g in d["guilds"]]
        for shard, c in by_shard.items()
    }
    assert ready == {(0, 2): [world.guild.id], (1, 2): [world.other_guild.id]}
    assert guilds_dispatched(by_shard[0, 2], "GUILD_CREATE") == [world.guild.id]
    assert guilds_dispatched(by_shard[1, 2], "GUILD_CREATE") == [world.other_guild.id]
    assert guilds_dispatched(by_shard[0, 2], "INTERACTION_CREATE") == [world.guild.id]
    assert guilds_dispatched(by_shard[1, 2], "INTERACTION_CREATE") == [world.other_guild.id]
    assert filed == {world.guild.id: 0, world.other_guild.id: 1}
    assert replies == ["one shard 0: a", "one shard 1: b"]


async def test_two_bots_on_one_shard_each_answer_only_their_guild(
    sharded: DiscordStandin,
) -> None:
    """Two bots (as two replicas) running shard 0 and shard 1 of two: each sees only its own
    guild, and each guild's interaction is dispatched once, to its shard's bot, which answers."""
    world = sharded.world
    zero = echo_bot(sharded, "zero", shard_count=2, shard_ids=[0])
    one = echo_bot(sharded, "one", shard_count=2, shard_ids=[1])
    async with run_bot(zero, sharded), run_bot(one, sharded):
        main = await sharded.slash(world.guild.id, world.member.id, "echo", {"text": "a"})
        other = await sharded.slash(world.other_guild.id, world.member.id, "echo", {"text": "b"})
        replies = [(await main.callback()).content, (await other.callback()).content]
        seen = {"zero": [g.id for g in zero.guilds], "one": [g.id for g in one.guilds]}
    assert replies == ["zero shard 0: a", "one shard 1: b"]
    assert seen == {"zero": [world.guild.id], "one": [world.other_guild.id]}
    for record in (main.record, other.record):
        carried = [
            c
            for c in sharded.connections
            for t, d in c.dispatched
            if t == "INTERACTION_CREATE" and int(d["id"]) == record.id
        ]
        assert len(carried) == 1


async def test_an_interaction_for_a_shard_nobody_runs_is_refused(sharded: DiscordStandin) -> None:
    """With only shard 0 of two connected, a command in the guild of shard 1 has no session to
    go to: the driver says so instead of sending it to the wrong bot."""
    world = sharded.world
    async with run_bot(echo_bot(sharded, "zero", shard_count=2, shard_ids=[0]), sharded):
        with pytest.raises(
            StandinError, match=f"no bot session receives guild {world.other_guild.id}"
        ):
            await sharded.slash(world.other_guild.id, world.member.id, "echo", {"text": "b"})


async def test_an_invalid_shard_is_closed_with_4010(sharded: DiscordStandin) -> None:
    """IDENTIFY with a shard id not below the shard count is closed with Discord's 4010
    (Invalid shard) and recorded as a failure; the session is never made."""
    url = sharded.gateway_url + "?v=10&encoding=json"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await ws.receive_json()
        await ws.send_json(
            {
                "op": IDENTIFY,
                "d": {
                    "token": sharded.token,
                    "intents": disnake.Intents(guilds=True).value,
                    "properties": {"os": "linux", "browser": "test", "device": "test"},
                    "shard": [2, 2],
                },
            }
        )
        closed = await ws.receive()
    assert hello["op"] == 10
    assert (closed.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 4010)
    assert [f.detail for f in sharded.failures] == ["IDENTIFY with an invalid shard [2, 2]"]
    assert sharded.sessions == {}


async def test_reconnecting_one_shard_resumes_it_and_keeps_its_guild(
    sharded: DiscordStandin,
) -> None:
    """Discord's op 7 to shard 1's session alone: that shard RESUMEs (its guild's commands keep
    arriving on it and are answered), shard 0's session is untouched, nothing identifies again."""
    world = sharded.world
    async with run_bot(echo_bot(sharded, "one"), sharded):
        zero = sharded.connection_for(world.guild.id)
        await sharded.reconnect(shard_id=1)
        other = await sharded.slash(world.other_guild.id, world.member.id, "echo", {"text": "b"})
        reply = (await other.callback()).content
        after = sharded.connection_for(world.other_guild.id)
        zero_after = sharded.connection_for(world.guild.id)
    assert (sharded.identifies, sharded.resumes) == (2, 1)
    assert reply == "one shard 1: b"
    assert shard_of_connection(after) == (1, 2)
    assert zero_after is zero
    assert guilds_dispatched(after, "INTERACTION_CREATE") == [world.other_guild.id]
