"""``/backtest`` of a drafted (unsaved) strategy: ``strategy:draft:<command id>`` runs the draft's
exact YAML text, read back from the journal, records ``draft:<id>`` and the text's SHA-256 in
``backtest_completed``, and repeats to the byte like any run; the draft's reply carries the
"Backtest" button that runs it."""

from __future__ import annotations

import hashlib
import json

import pytest

from analysis.strategy import load_strategy
from commands.core.handler import Command
from commands.core.models import Invocation
from commands.core.service import CommandService
from commands.discord.views import backtest_action
from commands.strategies.draft import draft_ref, handle_draft
from events.audit import CommandHandled
from events.backtests import BacktestCompleted
from events.base import NewEvent
from events.strategies import StrategyDrafted, drafts_stream
from tests.support.backtest_data import append, sample_events
from tests.support.clocks import FakeClock
from tests.unit.commands.backtest.conftest import GUILD, NOW
from tests.unit.commands.backtest.test_backtest_room import attachment, run, stored
from tests.unit.commands.fakes import Members
from tests.unit.commands.handler_kit import make_state

TEXT = load_strategy("macd_volume_thrust").text.replace("MACD Volume Thrust", "Drafted Thrust")
"""A valid draft's text (a shipped strategy renamed, so its hash is its own)."""
RANGE = {"from": "2026-01-02", "to": "2026-11-30"}


def drafted(yaml_text: str = TEXT, *, guild_id: int = GUILD, valid: bool = True) -> NewEvent:
    """The ``strategy_drafted`` event ``/strategy draft`` appends for ``yaml_text``."""
    event = StrategyDrafted(
        guild_id=guild_id, member_id=1, description="a drafted thrust", model="claude-test",
        input_tokens=10, output_tokens=20, yaml_text=yaml_text, valid=valid,
        errors=[] if valid else ["draft.yaml: entry: missing"],
    )  # fmt: skip
    return NewEvent(drafts_stream(guild_id), event)


def completed(service: CommandService, command_id: str) -> BacktestCompleted:
    """The one ``backtest_completed`` command ``command_id`` appended."""
    (found,) = [
        e.event for e in stored(service, command_id) if isinstance(e.event, BacktestCompleted)
    ]
    return found


async def test_a_draft_runs_at_its_exact_text_and_repeats_to_the_byte(
    service: CommandService,
) -> None:
    """``strategy:draft:<id>`` backtests the text the drafting command appended: the event's key
    is ``draft:<id>``, its version ``draft``, its hash the text's SHA-256, and the reply's repeat
    line names the draft; run again at that position (after newer bars were stored) the result
    document is the same bytes, and ``/backtests strategy:draft:<id>`` lists both runs."""
    await append(service, [drafted()], "draft-7", GUILD)
    ref = draft_ref("draft-7")
    first = await run(service, "bt-d1", strategy=ref, export="json", **RANGE)
    assert first.ok, first.description
    assert "Drafted Thrust" in first.title
    ev = completed(service, "bt-d1")
    assert (ev.strategy_key, ev.strategy_version) == (ref, "draft")
    assert ev.strategy_hash == hashlib.sha256(TEXT.encode()).hexdigest()
    assert ev.strategy_name == "Drafted Thrust"
    assert f"strategy:{ref} " in first.description
    assert f"at:{ev.data_position}" in first.description
    doc = json.loads(attachment(first, "backtest.json"))
    assert doc["strategy"] == {
        "key": ref, "name": "Drafted Thrust", "version": "draft", "sha256": ev.strategy_hash,
    }  # fmt: skip
    await append(service, sample_events(["AAPL"]), "fetch-2")
    again = await run(service, "bt-d2", strategy=ref, export="json", at=ev.data_position, **RANGE)
    assert again.ok, again.description
    assert attachment(again, "backtest.json") == attachment(first, "backtest.json")
    assert completed(service, "bt-d2").result_hash == ev.result_hash
    listed = await service.execute(
        "backtests", {"strategy": ref}, Members().inv(guild=GUILD, command_id="l-d")
    )
    assert listed.title == "Backtests (2)"
    assert all(ref in line for line in listed.description.splitlines())


async def test_a_draft_compares_with_a_saved_strategy(service: CommandService) -> None:
    """``mode:compare`` takes a draft beside a shipped strategy: one event each, the draft's
    under its reference."""
    await append(service, [drafted()], "draft-c", GUILD)
    ref = draft_ref("draft-c")
    reply = await run(service, "bt-dc", mode="compare", strategy=f"{ref},macd_volume_thrust")
    assert reply.ok, reply.description
    keys = [e.event.strategy_key for e in stored(service, "bt-dc")
            if isinstance(e.event, BacktestCompleted)]  # fmt: skip
    assert keys == [ref, "macd_volume_thrust"]


@pytest.mark.parametrize(
    ("draft", "options", "says"),
    [
        ("elsewhere", {}, "No draft elsewhere on this server"),
        ("invalid", {}, "did not validate"),
        ("nowhere", {}, "No draft nowhere on this server"),
        ("fine", {"version": 1}, "A draft has no versions"),
    ],
)
async def test_a_bad_draft_reference_is_refused_and_appends_only_the_audit(
    service: CommandService, draft: str, options: dict[str, object], says: str
) -> None:
    """Another server's draft, a draft that did not validate, an unknown id, and a version
    with a draft: each refused saying so; only ``command_handled`` is appended."""
    await append(service, [drafted(guild_id=GUILD + 1)], "elsewhere", GUILD + 1)
    await append(service, [drafted("strategy: {}\n", valid=False)], "invalid", GUILD)
    await append(service, [drafted()], "fine", GUILD)
    head = service.journal.head()
    reply = await run(service, "bad-d", strategy=draft_ref(draft), **options)
    assert not reply.ok
    assert says in reply.description
    assert service.journal.head() == head + 1
    (only,) = stored(service, "bad-d")
    assert isinstance(only.event, CommandHandled)


def test_the_drafts_reply_has_a_backtest_button_that_runs_the_draft() -> None:
    """A valid draft's reply carries Save, Try it and Backtest; Backtest's custom id runs
    ``/backtest strategy:draft:<the drafting command's id>`` (slow), whatever the id holds
    (an all-digit id, as Discord's interaction ids are, is not taken for a version)."""
    for command_id in ("c1", "1234567890123456789"):
        inv = Invocation(command_id=command_id, guild_id=GUILD, user_id=1, channel_id=77)
        command = Command(name="strategy draft", options={"description": "a drafted thrust"},
                          inv=inv, context={"draft": drafted().event, "failure": ""})  # fmt: skip
        _, reply = handle_draft(command, make_state(), FakeClock(NOW))
        buttons = {b.label: b.custom_id for b in reply.buttons}
        assert list(buttons) == ["Save", "Try it", "Backtest"]
        assert backtest_action(buttons["Backtest"]) == (
            "backtest",
            {"strategy": f"draft:{command_id}"},
            True,
        )
