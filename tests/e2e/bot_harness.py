"""The real bot (``bot.create_app``) on a temp data folder, for the e2e tests and the benchmark.

A ``FakeTime`` (``tests.support.clocks``, ``waits=True``) is the clock and the sleep of the app:
time moves only when a test sets it, and a sleeper wakes once the time it waited for has come.
``prepared_data`` builds, once per session, a data folder with fetched sample bars and flows; each
test copies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import BotApp, create_app
from commands.core.models import Invocation
from commands.wiring import close_service, open_default_service
from events.guild import DailyPostPublished
from fetchers.http import HttpSession
from fetchers.service import market_data_from_keys
from settings import Secrets, load_settings
from sync.runtime import SyncConfig
from tests.e2e.discord_standin import DiscordStandin, Reply, UserSpec, World, run_bot
from tests.support.clocks import FakeClock, FakeTime

# Monday 10 March 2025, 09:00 in New York (EDT since the day before): a trading session.
START = datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
WATCHLIST = ("AAPL", "MSFT", "NVDA", "NFLX", "JPM")
STRATEGY = "rsi2_dip_any"
"""The packaged strategy that picks at least one sample symbol at ``START``."""


async def _prepare(data_dir: Path) -> None:
    """Sample bars and flows of ``WATCHLIST`` fetched at ``START`` (market data has no guild)."""
    clock = FakeClock(START)
    async with HttpSession() as http:
        market = market_data_from_keys(http, uw_api_key=None, finnhub_api_key=None, clock=clock)
        service = open_default_service(data_dir, market, clock=clock)
        try:
            symbols = ",".join(WATCHLIST)
            for n, name in enumerate(("fetch stocks", "fetch flows")):
                inv = Invocation(command_id=f"prep-{n}", guild_id=1, user_id=1, is_admin=True)
                reply = await service.execute(name, {"symbols": symbols}, inv)
                assert reply.ok, reply
        finally:
            close_service(service)


def prepare_template(root: Path) -> Path:
    """Build the template data folder under ``root`` (synchronously, outside any loop)."""
    data = root / "template"
    asyncio.run(_prepare(data))
    return data


def copy_template(template: Path, dest: Path) -> Path:
    """A fresh copy of the template data folder at ``dest``."""
    shutil.copytree(template, dest)
    return dest


TRADE_ID = re.compile(r"Trade ([2-9A-Z]{5}) opened")


TEST_SYNC = SyncConfig(health_port=None, lease_duration_s=15, stop_grace_s=5)
"""The sync knobs of a test bot: no health server, short bounds, no analytics snapshots."""


@contextlib.asynccontextmanager
async def bot_app(
    data_dir: Path,
    time: FakeTime,
    guild_ids: list[int],
    *,
    blob_dir: Path | None = None,
    sync_config: SyncConfig = TEST_SYNC,
    secrets: Secrets | None = None,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[BotApp]:
    """A started ``BotApp`` on ``data_dir`` (closed gracefully at the end); its blob folder is
    ``blob_dir`` (default ``data_dir/blob``), which several apps may share one after another;
    ``secrets`` (default none) and ``settings`` (overrides) as the operator would set them."""
    loaded = load_settings(
        data_dir=data_dir, blob_dir=blob_dir or data_dir / "blob", **(settings or {})
    )
    app = await create_app(
        loaded,
        secrets or Secrets(),
        clock=time,
        sleep=time.sleep,
        guild_ids=guild_ids,
        sync_config=sync_config,
    )
    try:
        yield app
    finally:
        await app.close()


@dataclass
class Running:
    """A bot running against the stand-in."""

    app: BotApp
    standin: DiscordStandin
    time: FakeTime
    world: World

    async def run(
        self,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        user: UserSpec | None = None,
        guild_id: int | None = None,
        **kwargs: Any,
    ) -> Reply:
        """What ``user`` (the member by default) sees after running ``command``."""
        handle = await self.standin.slash(
            guild_id or self.world.guild.id,
            (user or self.world.member).id,
            command,
            options,
            **kwargs,
        )
        return await handle.final()

    async def open_trade(self, symbol: str = "AAPL", **extra: Any) -> str:
        """Open a trade as the member; its id."""
        options = {"symbol": symbol, "direction": "long", "entry": 187.5, "size": 10, **extra}
        reply = await self.run("trade open", options)
        found = TRADE_ID.search(reply.text())
        assert found, reply.text()
        return found.group(1)


@contextlib.asynccontextmanager
async def running_bot(
    standin: DiscordStandin,
    data_dir: Path,
    *,
    time: FakeTime | None = None,
    scheduler: bool = False,
    blob_dir: Path | None = None,
    sync_config: SyncConfig = TEST_SYNC,
    secrets: Secrets | None = None,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[Running]:
    """The real bot on ``data_dir`` connected to ``standin`` (the daily loop if ``scheduler``);
    ``secrets`` and ``settings`` go to ``bot_app``."""
    time = time or FakeTime(START, waits=True)
    world = standin.world
    guild_ids = [world.guild.id, world.other_guild.id]
    app_options: dict[str, Any] = {"blob_dir": blob_dir, "sync_config": sync_config}
    async with (
        bot_app(
            data_dir, time, guild_ids, secrets=secrets, settings=settings, **app_options
        ) as app,
        run_bot(app.bot, standin),
    ):
        if scheduler:
            app.scheduler.start()
        yield Running(app, standin, time, world)


def daily_posts(r: Running) -> list[DailyPostPublished]:
    """Every ``daily_post_published`` in the journal ``r`` reads (shared between replicas on
    PostgreSQL), in journal order."""
    journal = r.app.service.journal
    return [
        env.event
        for page in journal.read(1, journal.head())
        for env in page
        if isinstance(env.event, DailyPostPublished)
    ]


async def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` holds (polling), or fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


HALF_HOUR = 1800.0
"""From ``START`` (09:00 New York time) to the daily picks' 09:30."""


async def schedule_daily_picks(r: Running) -> None:
    """As the admin: a watchlist and the daily picks at 09:30 New York time in #picks."""
    for symbol in WATCHLIST:
        await r.run("watchlist add", {"symbol": symbol}, user=r.world.admin)
    options = {
        "channel": r.world.guild.channel("picks").id,
        "time": "09:30",
        "strategy": STRATEGY,
        "enabled": True,
    }
    reply = await r.run("schedule set", options, user=r.world.admin)
    assert "09:30" in reply.text()


async def asleep_until_the_run(r: Running, what: str = "the loop to sleep until 09:30") -> None:
    """Wait until the daily loop, started at ``START``, sleeps the half hour to the 09:30 run."""
    await eventually(lambda: HALF_HOUR in r.time.sleeps, what)
