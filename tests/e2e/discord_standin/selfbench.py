"""How fast the stand-in and the real disnake client are together (a script, not a test).

Run ``python -m tests.e2e.discord_standin.selfbench [--count N]``. It starts the stand-in, a
one-command disnake bot against it, and sends N slash commands one after another, timing each
from INTERACTION_CREATE leaving the stand-in to the callback arriving at it. That is the floor
under every e2e latency figure of the real bot. Readable lines first; the last line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from disnake.ext import commands
from disnake.interactions import ApplicationCommandInteraction

from .runner import run_bot, serve_standin


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def measure(count: int) -> dict[str, float | int]:
    """Bot start time and slash round-trip latencies over ``count`` sequential commands."""
    async with serve_standin() as standin:
        world = standin.world
        bot = commands.InteractionBot(test_guilds=[world.guild.id])

        @bot.slash_command()
        async def ping(inter: ApplicationCommandInteraction[commands.InteractionBot]) -> None:
            """Answer at once."""
            await inter.response.send_message("pong")

        began = time.perf_counter()
        async with run_bot(bot, standin):
            started_ms = (time.perf_counter() - began) * 1000
            latencies: list[float] = []
            for _ in range(count):
                handle = await standin.slash(world.guild.id, world.member.id, "ping")
                reply = await handle.callback()
                latencies.append((reply.received_at - handle.sent_at) * 1000)
    return {
        "commands": count,
        "bot_start_ms": round(started_ms, 2),
        "slash_p50_ms": round(statistics.median(latencies), 3),
        "slash_p99_ms": round(_percentile(latencies, 99), 3),
        "slash_max_ms": round(max(latencies), 3),
    }


def main() -> None:
    """Parse the arguments, measure, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="slash commands to send")
    figures = asyncio.run(measure(parser.parse_args().count))
    print(f"bot start (login, gateway, READY, command sync): {figures['bot_start_ms']} ms")
    print(
        f"slash round trip over {figures['commands']} commands: p50 {figures['slash_p50_ms']} ms,"
        f" p99 {figures['slash_p99_ms']} ms, max {figures['slash_max_ms']} ms"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
