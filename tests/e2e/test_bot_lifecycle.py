"""The bot process's life: ``serve`` until SIGTERM then a graceful stop with exit status 0
(journal shipped, lease released, bot closed), a cold start on an empty disk that starts the
analytics from the snapshot a graceful stop shipped, and ``ibpicker bot`` refusing to start
without a Discord token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from bot import serve
from cli import build_app
from settings import load_settings
from sync.manifest import read_manifest
from sync.runtime import SyncRuntime
from sync.stores import open_blob_store
from sync.writer_lease import LeaseState
from tests.e2e.bot_harness import (
    START,
    TEST_SYNC,
    Running,
    bot_app,
    copy_template,
    eventually,
    prepare_template,
    running_bot,
)
from tests.e2e.discord_standin import GUILD_READY_TIMEOUT, DiscordStandin
from tests.support.clocks import FakeTime


async def test_sigterm_stops_gracefully_and_exits_0(
    discord_standin: DiscordStandin, tmp_path: Path
) -> None:
    """SIGTERM: commands refused, the journal shipped, the lease released, the bot closed, 0."""
    world = discord_standin.world
    async with bot_app(tmp_path / "d", FakeTime(START, waits=True), [world.guild.id]) as app:
        app.bot._connection.guild_ready_timeout = GUILD_READY_TIMEOUT
        served = asyncio.create_task(serve(app, discord_standin.token, stop_bound_s=10))
        await asyncio.wait_for(app.bot.wait_until_ready(), 10)
        await eventually(lambda: bool(discord_standin.commands), "the command sync")
        ping = await (await discord_standin.slash(world.guild.id, world.member.id, "ping")).final()
        head = app.service.journal.head()
        started = asyncio.get_running_loop().time()
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(served, 15)
        took = asyncio.get_running_loop().time() - started
    assert ping.embeds
    assert code == 0
    assert not app.front.accepting
    assert app.flushed
    assert isinstance(app.runtime, SyncRuntime)  # the SQLite journal's runtime
    assert app.runtime.shipper.status().shipped == head > 0
    assert app.runtime.lease.state is LeaseState.RELEASED
    assert took < 5
    assert app.bot.is_closed()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample bars and flows fetched once for the module."""
    return prepare_template(tmp_path_factory.mktemp("bot-template"))


SNAPSHOT_APPLIED = re.compile(r"analytics from the snapshot at position (\d+): (\d+) later events")


async def queries(r: Running) -> list[str]:
    """What the member sees in /trades, /metrics (state) and /status (the DuckDB analytics)."""
    shown = [
        await r.run("trades", {"status": "closed"}),
        await r.run("metrics"),
        await r.run("status", {"symbols": "AAPL"}),
    ]
    return [reply.text() for reply in shown]


async def test_cold_start_on_an_empty_disk_starts_analytics_from_the_shipped_snapshot(
    discord_standin: DiscordStandin,
    template: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A graceful stop ships a snapshot; a bot on an empty disk puts it in place, applies only
    the events after it (the journal has more), and shows the same /trades, /metrics, /status."""
    blob = tmp_path / "blob"
    data_a = copy_template(template, tmp_path / "a")
    with_snapshot = msgspec.structs.replace(TEST_SYNC, snapshot_on_stop=True)
    async with running_bot(discord_standin, data_a, blob_dir=blob, sync_config=with_snapshot) as r:
        first = await r.open_trade()
        await r.run("trade close", {"id": first, "exit": 192.25})
    async with running_bot(discord_standin, data_a, blob_dir=blob) as r:  # ships no snapshot
        second = await r.open_trade("MSFT")
        await r.run("trade close", {"id": second, "exit": 190.0})
        expected = await queries(r)
    store = open_blob_store(load_settings(data_dir=tmp_path / "b", blob_dir=blob))
    try:
        manifest, _ = await read_manifest(store)
    finally:
        await store.close()
    assert manifest is not None
    assert manifest.snapshot is not None
    shipped = manifest.snapshot.position

    caplog.set_level(logging.INFO, logger="ibpicker.bot")
    async with running_bot(discord_standin, tmp_path / "b", blob_dir=blob) as r:
        head = r.app.service.journal.head()
        analytics = r.app.service.market.analytics  # type: ignore[attr-defined]
        positions = {t.position for t in analytics.tracking().values()}
        got = await queries(r)
    applied = [m.groups() for m in map(SNAPSHOT_APPLIED.search, caplog.messages) if m]
    assert r.app.runtime.snapshot_position == shipped > 0
    assert applied[0] == (str(shipped), str(head - shipped))
    assert 0 < head - shipped < head  # the snapshot was older than the journal: caught up
    assert positions == {head}
    assert got == expected
    assert first in got[0]
    assert second in got[0]


async def test_restore_without_a_snapshot_reaches_the_analytics_before_the_first_command(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """On an empty disk with no snapshot shipped, the restored events are in the analytics before
    the first command reads them: the first /status shows the original bot's stored bars."""
    blob = tmp_path / "blob"
    data_a = copy_template(template, tmp_path / "a")
    async with running_bot(discord_standin, data_a, blob_dir=blob) as r:  # ships no snapshot
        expected = (await r.run("status", {"symbols": "AAPL"})).text()
    async with running_bot(discord_standin, tmp_path / "b", blob_dir=blob) as r:
        assert r.app.runtime.snapshot_position is None
        first = (await r.run("status", {"symbols": "AAPL"})).text()  # the very first command
    assert first == expected
    assert "499" in first


def test_bot_command_without_a_token_says_which_secret_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ibpicker bot`` with no DISCORD_TOKEN (and no Key Vault) exits 2 naming DISCORD_TOKEN."""
    for name in ("DISCORD_TOKEN", "KEY_VAULT_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(build_app(), ["bot", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
