"""A strategy draft through the real disnake client and the gateway stand-in, with Claude played
by the Anthropic stand-in: ``/strategy draft`` shows the YAML with "Save", "Try it" and
"Backtest", and the buttons run their commands as the member who clicks them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from commands.journal.chart_worker import WORKER
from settings import Secrets
from tests.e2e.bot_harness import Running, copy_template, running_bot
from tests.e2e.discord_standin import DiscordStandin
from tests.e2e.discord_standin.records import Reply
from tests.support.anthropic_standin import AnthropicStandIn, tool_use_reply

KEY = "sk-ant-api03-e2e-secret-b1d40c"
SHIPPED = Path(__file__).parents[2] / "analysis" / "strategies" / "rsi2_dip_any.yaml"
WATCHED = "AAPL,MSFT,NVDA,NFLX,JPM"


@pytest.fixture
async def claude() -> AsyncIterator[AnthropicStandIn]:
    """The Messages stand-in answering every request with a valid drafted strategy."""
    spec: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    spec["strategy"]["name"] = "RSI(2) Dip drafted"
    async with AnthropicStandIn(KEY) as server:
        server.answer_always(tool_use_reply(spec, name="strategy_file"))
        yield server


@pytest.fixture
async def running(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path, claude: AnthropicStandIn
) -> AsyncIterator[Running]:
    """The bot with an Anthropic key, its client pointed at the stand-in."""
    async with running_bot(
        discord_standin,
        copy_template(template, tmp_path / "data"),
        secrets=Secrets(anthropic_api_key=SecretStr(KEY)),
        settings={"anthropic_base_url": claude.base_url},
    ) as r:
        yield r


def buttons(reply: Reply) -> dict[str, str]:
    """A reply's buttons, label → custom id."""
    return {c["label"]: c["custom_id"] for row in reply.components for c in row["components"]}


async def click(running: Running, reply: Reply, label: str, *, user_id: int) -> Reply:
    """What ``user_id`` sees after clicking the button labelled ``label`` on ``reply``."""
    handle = await running.standin.click(reply, buttons(reply)[label], user_id=user_id)
    return await handle.final()


async def test_save_adds_the_draft_and_analyze_runs_it(running: Running) -> None:
    """The draft's Save, clicked by a manager, adds it to the server's strategies (a new message,
    the draft left as it was, with the saved version's Backtest button); /analyze then runs it
    by its key."""
    admin = running.world.admin.id
    drafted = await running.run(
        "strategy draft", {"description": "buy deep RSI(2) dips"}, user=running.world.admin
    )
    assert "Draft: RSI(2) Dip drafted" in drafted.text()
    assert set(buttons(drafted)) == {"Save", "Try it", "Backtest"}
    saved = await click(running, drafted, "Save", user_id=admin)
    assert "Saved rsi_2_dip_drafted v1" in saved.text(), saved.text()
    assert buttons(saved) == {"Backtest": "ibpicker:backtest:rsi_2_dip_drafted:1"}
    assert saved.message_id != drafted.message_id
    analyzed = await running.run(
        "analyze", {"strategy": "rsi_2_dip_drafted", "symbols": WATCHED}, user=running.world.admin
    )
    assert "rsi_2_dip_drafted" in analyzed.text(), analyzed.text()
    assert KEY not in drafted.text() + saved.text() + analyzed.text()


async def test_try_it_scans_the_watchlist_and_a_member_cannot_save(running: Running) -> None:
    """Try it scans the server's watchlist with the draft (a preview); a member without Manage
    Server who clicks Save is told so, privately."""
    member = running.world.member
    assert (await running.run("watchlist add", {"symbols": WATCHED})).embeds
    drafted = await running.run("strategy draft", {"description": "buy deep RSI(2) dips"})
    tried = await click(running, drafted, "Try it", user_id=member.id)
    assert "Try rsi_2_dip_drafted" in tried.text(), tried.text()
    assert "not saved" in tried.text()
    refused = await click(running, drafted, "Save", user_id=member.id)
    assert refused.ephemeral
    assert "Manage Server" in refused.text()


@pytest.fixture
def chart_worker_stopped() -> Iterator[None]:
    """The chart worker a backtest's reply starts is stopped at the end of the test."""
    yield
    WORKER.stop()


@pytest.mark.usefixtures("chart_worker_stopped")
async def test_backtest_runs_the_unsaved_draft_and_repeats_it(running: Running) -> None:
    """The draft's Backtest, clicked by a member, backtests the draft's exact text (unsaved)
    over the watchlist: a new message with the figures and the chart, naming ``draft:<id>``
    and the SHA-256 of the attached draft.yaml; the repeat line it gives, run twice as
    /backtest with export:json, gives the same bytes; /backtests lists the draft's runs."""
    member = running.world.member
    assert (await running.run("watchlist add", {"symbols": WATCHED})).embeds
    drafted = await running.run("strategy draft", {"description": "buy deep RSI(2) dips"})
    ref = buttons(drafted)["Backtest"].removeprefix("ibpicker:backtest:")
    assert ref.startswith("draft:")
    text_hash = hashlib.sha256(drafted.files[0].data).hexdigest()
    result = await click(running, drafted, "Backtest", user_id=member.id)
    text = result.text()
    assert "Backtest: RSI(2) Dip drafted" in text, text
    assert f"`{ref}` draft sha256 `{text_hash[:12]}`" in text
    assert result.files[0].data.startswith(b"\x89PNG")
    assert result.message_id != drafted.message_id
    repeat = re.search(r"/backtest (strategy:\S+ symbols:\S+ from:\S+ to:\S+ at:\d+)", text)
    assert repeat is not None, text
    given = dict(part.split(":", 1) for part in repeat[1].split(" "))
    assert given["strategy"] == ref
    options: dict[str, object] = {**given, "at": int(given["at"]), "export": "json"}
    first = await running.run("backtest", options, user=member)
    again = await running.run("backtest", options, user=member)
    assert first.files[0].filename == "backtest.json"
    assert first.files[0].data == again.files[0].data
    assert json.loads(first.files[0].data)["strategy"]["sha256"] == text_hash
    listed = await running.run("backtests", {"strategy": ref})
    assert "Backtests (3)" in listed.text(), listed.text()
