"""``/backtest``, ``/backtests`` and a strategy's "Backtest" button, run by the real disnake bot
against the Discord stand-in on a temp data folder with the offline sample data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from commands.journal.chart_worker import WORKER
from tests.e2e.bot_harness import Running, copy_template, running_bot
from tests.e2e.discord_standin import DiscordStandin, Reply

STRATEGY = "macd_volume_thrust"
SYMBOLS = "AAPL,MSFT,NVDA"


@pytest.fixture
async def running(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> AsyncIterator[Running]:
    """The real bot on a copy of the template (the e2e conftest's sample data), connected to the
    stand-in; its chart worker stopped at the end."""
    async with running_bot(discord_standin, copy_template(template, tmp_path / "data")) as r:
        yield r
    WORKER.stop()


def files(reply: Reply) -> dict[str, bytes]:
    """A reply's attachments by file name."""
    return {f.filename: f.data for f in reply.files}


def buttons(reply: Reply) -> dict[str, str]:
    """A reply's buttons, label → custom id."""
    return {c["label"]: c["custom_id"] for row in reply.components for c in row["components"]}


async def test_backtest_replies_with_figures_chart_and_trades(running: Running) -> None:
    """/backtest (deferred) answers with an embed of the figures, the equity PNG and, asked
    for, the trades as CSV; /backtests then lists the run."""
    options = {"strategy": STRATEGY, "symbols": SYMBOLS, "from": "2024-06-03", "to": "2025-03-07"}
    reply = await running.run("backtest", {**options, "export": "csv"})
    assert reply.embeds, reply
    text = reply.text()
    assert "Backtest: MACD Volume Thrust" in text
    assert "Sharpe" in text
    assert "Max drawdown" in text
    assert "2024-06-03 → 2025-03-07" in text
    attached = files(reply)
    assert attached["backtest.png"].startswith(b"\x89PNG")
    assert attached["trades.csv"].startswith(b"strategy,symbol,direction")
    listed = await running.run("backtests")
    assert STRATEGY in listed.text()
    assert "Backtests (1)" in listed.text()


async def test_too_many_symbols_is_refused_pointing_to_the_cli(running: Running) -> None:
    """More symbols than a chat reply allows is refused, privately, with the limit and the
    command line to use instead."""
    many = ",".join(f"S{i}" for i in range(26))
    reply = await running.run("backtest", {"strategy": STRATEGY, "symbols": many})
    assert "At most 25 symbols" in reply.text()
    assert "ibpicker backtest" in reply.text()
    assert not reply.files


async def test_strategy_show_has_a_backtest_button_that_runs_it(running: Running) -> None:
    """/strategy show carries a "Backtest" button; a click backtests that strategy over the
    watchlist, answered in a new message with the chart."""
    admin = running.world.admin
    added = await running.run("watchlist add", {"symbols": SYMBOLS}, user=admin)
    assert added.embeds
    shown = await running.run("strategy show", {"name": STRATEGY})
    assert "Backtest" in buttons(shown)
    handle = await running.standin.click(
        shown, buttons(shown)["Backtest"], user_id=running.world.member.id
    )
    result = await handle.final()
    assert "Backtest: MACD Volume Thrust" in result.text(), result.text()
    assert files(result)["backtest.png"].startswith(b"\x89PNG")
    assert result.message_id != shown.message_id
