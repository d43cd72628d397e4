"""Every slash command of ibpicker, run by the real disnake bot (``bot.create_app``) against the
Discord stand-in, on a temp data folder with the offline sample data.

Each test acts as a Discord member and checks what the member sees.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from commands.core.models import Invocation
from commands.core.spec import COMMANDS
from tests.e2e.bot_harness import (
    STRATEGY,
    TRADE_ID,
    WATCHLIST,
    Running,
    prepare_template,
)
from tests.e2e.discord_standin import CommandHiddenError

NO_PINGS: dict[str, list[str]] = {"parse": []}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample bars and flows fetched once for the module."""
    return prepare_template(tmp_path_factory.mktemp("bot-template"))


async def test_ping_help_about_answer_without_pinging(running: Running) -> None:
    """/ping, /help and /about answer with embeds, and no message can ping anyone."""
    ping = await running.run("ping")
    help_ = await running.run("help")
    about = await running.run("about")
    assert ping.embeds
    assert help_.embeds
    assert about.embeds
    assert "ping" in help_.text()
    assert "sample" in about.text().lower()
    assert [r.allowed_mentions for r in (ping, help_, about)] == [NO_PINGS] * 3


async def test_ping_shows_the_gateway_latency_and_the_time_to_answer(running: Running) -> None:
    """/ping on Discord shows the gateway's heartbeat latency (the stand-in acknowledges the
    bot's heartbeats) and how long the bot took to answer, both in ms."""
    ping = await running.run("ping")
    fields = {f["name"]: f["value"] for f in ping.embeds[0]["fields"]}
    assert re.fullmatch(r"\d+ ms", fields["Gateway latency"]), fields
    assert re.fullmatch(r"\d+ ms", fields["Answered in"]), fields


async def test_slow_fetch_defers_then_edits_with_the_result(running: Running) -> None:
    """/fetch stocks and /fetch flows defer at once, then edit in what was fetched."""
    handle = await running.standin.slash(
        running.world.guild.id, running.world.member.id, "fetch stocks", {"symbols": "AAPL"}
    )
    deferred = await handle.callback()
    edit = await handle.edit()
    flows = await running.run("fetch flows", {"symbols": "MSFT", "min_premium": 1000.0})
    assert deferred.type == 5
    assert "AAPL" in edit.text()
    assert "sample" in edit.text().lower()
    assert "MSFT" in flows.text()


async def test_status_and_watchlist_commands(running: Running) -> None:
    """/watchlist add, list, remove and (as admin) clear change this server's list; /status."""
    added = await running.run("watchlist add", {"symbol": "AAPL", "note": "*big* @everyone"})
    await running.run("watchlist add", {"symbol": "MSFT", "tags": "tech"})
    removed = await running.run("watchlist remove", {"symbol": "MSFT"})
    listed = await running.run("watchlist list")
    status = await running.run("status", {"symbols": "AAPL"})
    cleared = await running.run("watchlist clear", user=running.world.admin)
    after = await running.run("watchlist list")
    assert added.embeds
    assert removed.embeds
    assert "AAPL" in listed.text()
    assert "MSFT" not in listed.text()
    assert "@everyone" not in listed.text()  # member text is made inert
    assert "AAPL" in status.text()
    assert "Cleared 1" in cleared.text()
    assert "empty" in after.text().lower()


async def test_analysis_commands(running: Running) -> None:
    """/analyze, /signals, /strategies and /strategy show answer from the stored sample data."""
    analyzed = await running.run("analyze", {"strategy": STRATEGY, "symbols": ",".join(WATCHLIST)})
    signals = await running.run("signals", {"days": 7})
    strategies = await running.run("strategies")
    shown = await running.run("strategy show", {"name": STRATEGY})
    assert STRATEGY in analyzed.text()
    assert analyzed.components, "a pick carries its Log trade button"
    assert "long" in signals.text() or "short" in signals.text()
    assert STRATEGY in strategies.text() or strategies.components
    assert STRATEGY in shown.text()


async def test_trade_journal_commands(running: Running) -> None:
    """/trade open, note, close, /trades, /trade export (CSV) and /metrics (PNG) work together."""
    trade_id = await running.open_trade(stop=180.0, tags="swing")
    noted = await running.run("trade note", {"id": trade_id, "text": "held through earnings"})
    closed = await running.run("trade close", {"id": trade_id, "exit": 192.25})
    trades = await running.run("trades", {"status": "closed"})
    export = await running.run("trade export")
    metrics = await running.run("metrics")
    assert noted.embeds
    assert trade_id in closed.text()
    assert trade_id in trades.text()
    rows = list(csv.DictReader(io.StringIO(export.files[0].data.decode())))
    assert [r for r in rows if trade_id in r.values()]
    png = next(f for f in metrics.files if f.filename.endswith(".png"))
    assert png.data.startswith(b"\x89PNG")
    assert "47.5" in metrics.text()  # (192.25 - 187.5) x 10


async def test_open_trade_ids_autocomplete_for_their_owner(running: Running) -> None:
    """/trade close autocompletes the member's open trade ids, and symbols and strategies too."""
    trade_id = await running.open_trade()
    world = running.world
    ids = await running.standin.autocomplete(
        world.guild.id, world.member.id, "trade close", {"id": ""}, focused="id"
    )
    others = await running.standin.autocomplete(
        world.guild.id, world.admin.id, "trade close", {"id": ""}, focused="id"
    )
    symbols = await running.standin.autocomplete(
        world.guild.id, world.member.id, "fetch stocks", {"symbols": "AAPL,MS"}, focused="symbols"
    )
    strategies = await running.standin.autocomplete(
        world.guild.id, world.member.id, "analyze", {"strategy": "rsi"}, focused="strategy"
    )
    assert [c["value"] for c in ids] == [trade_id]
    assert others == []
    assert "AAPL,MSFT" in [c["value"] for c in symbols]
    assert STRATEGY in [c["value"] for c in strategies]


async def test_bad_input_is_ephemeral_specific_and_audited_only(running: Running) -> None:
    """A negative entry price gets a private message naming it; only the audit is appended."""
    head = running.app.service.journal.head()
    reply = await running.run(
        "trade open", {"symbol": "AAPL", "direction": "long", "entry": -5.0, "size": 10}
    )
    assert reply.ephemeral
    assert reply.type == 4
    assert "entry" in reply.text().lower()
    assert running.app.service.journal.head() == head + 1


async def test_slow_command_with_bad_input_defers_then_follows_up_privately(
    running: Running,
) -> None:
    """/analyze with an unknown strategy defers, then answers with an ephemeral followup."""
    handle = await running.standin.slash(
        running.world.guild.id, running.world.member.id, "analyze", {"strategy": "no_such"}
    )
    deferred = await handle.callback()
    followup = await handle.followup()
    assert deferred.type == 5
    assert followup.ephemeral
    assert "Unknown strategy no\\_such" in followup.text()


async def test_admin_commands_are_hidden_and_refused_to_members(running: Running) -> None:
    """/schedule is hidden from members by Discord, and the bot refuses it if sent anyway."""
    world = running.world
    with pytest.raises(CommandHiddenError):
        await running.standin.slash(world.guild.id, world.member.id, "schedule status")
    refused = await running.run("schedule status", enforce_default_permissions=False)
    clear = await running.run("watchlist clear")
    allowed = await running.run("schedule status", user=world.admin)
    assert refused.ephemeral
    assert "Manage Server" in refused.text()
    assert clear.ephemeral
    assert "Manage Server" in clear.text()
    assert allowed.embeds
    assert "Manage Server" not in allowed.text()


async def test_another_servers_trade_cannot_be_changed(running: Running) -> None:
    """A trade opened in one server cannot be closed from another server the member is in."""
    trade_id = await running.open_trade()
    refused = await running.run(
        "trade close", {"id": trade_id, "exit": 190.0}, guild_id=running.world.other_guild.id
    )
    still_open = await running.run("trades", {"status": "open"})
    assert refused.ephemeral
    assert trade_id in refused.text()
    assert trade_id in still_open.text()


async def test_log_trade_button_opens_a_prefilled_form_that_opens_the_trade(
    running: Running,
) -> None:
    """A pick's Log trade button opens a modal prefilled from the pick; submitting opens it."""
    analyzed = await running.run("analyze", {"strategy": STRATEGY, "symbols": ",".join(WATCHLIST)})
    button = analyzed.components[0]["components"][0]["custom_id"]
    assert button.startswith("ibpicker:logtrade:")
    modal = await (await running.standin.click(analyzed, button)).callback()
    assert modal.type == 9
    prefilled = {
        c["component"]["custom_id"]: c["component"].get("value") for c in modal.body["components"]
    }
    assert prefilled["entry"]
    assert prefilled["direction"] in ("long", "short")
    submitted = await running.standin.submit_modal(modal.custom_id or "", {"size": "3"})
    reply = await submitted.final()
    assert TRADE_ID.search(reply.text()), reply.text()
    assert button.rsplit(":", 1)[1] in reply.text()


async def test_long_lists_page_with_prev_and_next(running: Running) -> None:
    """/trades with many trades shows page 1 with prev/next buttons; next turns the page."""
    world = running.world
    for n in range(40):
        inv = Invocation(command_id=f"bulk-{n}", guild_id=world.guild.id, user_id=world.member.id)
        options = {"symbol": "AAPL", "direction": "long", "entry": 100 + n, "size": 1}
        assert (await running.app.service.execute("trade open", options, inv)).ok
    first = await running.run("trades")
    ids = [c["custom_id"] for row in first.components for c in row["components"]]
    nxt = next(i for i in ids if i.endswith(":next"))
    turned = await (await running.standin.click(first, nxt)).callback()
    assert turned.type == 7
    assert turned.text() != first.text()
    assert any("2/" in str(c.get("label")) for row in turned.components for c in row["components"])


async def test_commands_while_stopping_say_restarting(running: Running) -> None:
    """Once the bot stops taking commands, a command is answered "restarting, try again"."""
    running.app.front.stop_accepting()
    reply = await running.run("ping")
    assert reply.ephemeral
    assert "restarting, try again in a moment" in reply.text()


def _leaves(command: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Registered command paths (``trade open``) and their options."""
    subs = [o for o in command.get("options") or [] if o["type"] == 1]
    if not subs:
        return {command["name"]: list(command.get("options") or [])}
    return {f"{command['name']} {s['name']}": list(s.get("options") or []) for s in subs}


async def test_registered_commands_are_the_spec(running: Running) -> None:
    """Discord holds exactly the spec's commands and options, guild-scoped, admin ones gated."""
    registered = running.standin.commands.commands_in(running.world.guild.id)
    leaves: dict[str, list[dict[str, Any]]] = {}
    for command in registered:
        leaves |= _leaves(command)
    assert running.standin.commands.commands_in(None) == []
    assert sorted(leaves) == sorted(c.name for c in COMMANDS)
    for spec in COMMANDS:
        options = {o["name"]: o for o in leaves[spec.name]}
        assert sorted(options) == sorted(o.name for o in spec.options)
        for opt in spec.options:
            assert bool(options[opt.name].get("required")) == opt.required
            assert bool(options[opt.name].get("autocomplete")) == (opt.autocomplete is not None)
    gated = {c["name"] for c in registered if c.get("default_member_permissions")}
    assert gated == {"schedule"}
