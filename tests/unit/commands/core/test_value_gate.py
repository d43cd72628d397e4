"""Values are checked where they enter (issue 10, reproductions 1, 2 and 6): through the command
service, which both front ends call, a value a projection cannot hold is refused with a message and
appends only its audit event; the journal stays sound and every projection rebuilds."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.core.service import CommandService
from commands.discord import views
from commands.wiring import close_service
from events.audit import CommandHandled
from events.guild import ScheduleConfigured
from events.trading import TradeClosed, TradeOpened
from projections.registry import all_analytics_projections
from projections.verify import verify
from projections.workspace import Workspace, analytics_path, journal_path
from tests.unit.commands.fakes import Members

TINY = "1e-999999999"
"""Reproduction 1: normalize() under the default context made it 0; pyarrow then crashed."""
ROUNDED = "100.000000000000000000000000001"
"""Reproduction 2: 28-digit rounding showed it as 100; the analytics batch then failed."""
FORM_BUTTON = "ibpicker:logtrade:scan-ab12:AAPL"


def _events(service: CommandService) -> list[object]:
    return [e.event for page in service.journal.read() for e in page]


def _assert_sound_and_rebuildable(service: CommandService, data_dir: Path) -> None:
    """Close ``service``; then ``journal verify`` is sound (every projection equals a fresh
    rebuild) and ``journal rebuild`` of every projection succeeds."""
    service.flush_analytics()
    close_service(service)
    report = verify(journal_path(data_dir), analytics_path(data_dir), all_analytics_projections())
    assert report.sound, report.problems
    assert all(check.outcome == "ok" for check in report.projections), report.projections
    with Workspace.open(data_dir, analytics=False, catch_up=False) as ws:
        rebuilt = ws.rebuild()
    assert rebuilt.swapped


def _refused_with_only_the_audit(before: int, service: CommandService, option: str) -> None:
    events = _events(service)
    assert len(events) == before + 1
    audit = events[-1]
    assert isinstance(audit, CommandHandled)
    assert audit.outcome == "rejected"
    assert option in audit.message


OPEN = {"symbol": "AAPL", "direction": "long", "entry": "100", "size": "10"}


@pytest.mark.parametrize("value", [TINY, ROUNDED])
@pytest.mark.parametrize("option", ["entry", "size", "stop", "target"])
async def test_trade_open_refuses_an_amount_no_projection_can_hold(
    service: CommandService, members: Members, tmp_path: Path, option: str, value: str
) -> None:
    """``/trade open`` with entry/size/stop/target 1e-999999999 or 100.000…001 (31 digits) is
    refused ("more than 8 decimal places"), appends only its audit event, and the journal
    verifies sound and rebuilds (it used to be accepted as "@ 0" or "@ 100" and poison both)."""
    options = {**OPEN, option: value}
    if option in ("stop", "target"):
        options["entry"] = "200"  # so a stop or target of 100 would be on the right side
    reply = await service.execute("trade open", options, members.inv())
    assert not reply.ok
    assert f"{option} has more than 8 decimal places" in reply.description
    _refused_with_only_the_audit(0, service, option)
    _assert_sound_and_rebuildable(service, tmp_path)


@pytest.mark.parametrize("value", [TINY, ROUNDED])
async def test_trade_close_refuses_an_exit_no_projection_can_hold(
    service: CommandService, members: Members, tmp_path: Path, value: str
) -> None:
    """``/trade close exit:`` with either reproduction's value is refused, the trade stays open,
    and the journal verifies sound and rebuilds."""
    opened = await service.execute("trade open", OPEN, members.inv())
    trade_id = opened.title.split()[1]
    before = len(_events(service))
    reply = await service.execute("trade close", {"id": trade_id, "exit": value}, members.inv())
    assert not reply.ok
    assert "exit has more than 8 decimal places" in reply.description
    _refused_with_only_the_audit(before, service, "exit")
    assert not any(isinstance(e, TradeClosed) for e in _events(service))
    _assert_sound_and_rebuildable(service, tmp_path)


@pytest.mark.parametrize("value", [TINY, ROUNDED])
@pytest.mark.parametrize("field", ["entry", "size", "stop", "target"])
async def test_the_log_trade_form_refuses_the_same_values(
    service: CommandService, members: Members, tmp_path: Path, field: str, value: str
) -> None:
    """The "Log trade" form's 40-character fields hold either value; submitted through the same
    gate, it is refused and nothing but the audit is appended."""
    assert len(value) <= 40  # the form's max_length
    prefill = {"symbol": "AAPL", "direction": "long", "entry": "200", "size": "1"}
    typed = {field: value}
    options = views.trade_options(FORM_BUTTON, prefill, {**prefill, **typed})
    reply = await service.execute("trade open", options, members.inv())
    assert not reply.ok
    assert f"{field} has more than 8 decimal places" in reply.description
    _refused_with_only_the_audit(0, service, field)
    _assert_sound_and_rebuildable(service, tmp_path)


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        ("metrics", {"days": "10000000000"}, "days must be between 1 and 36,500"),
        ("signals", {"days": "99999999999999999999999"}, "days must be between 1 and 36,500"),
        ("signals", {"days": 99999999999999999999999}, "days must be between 1 and 36,500"),
        (
            "schedule set",
            {"channel": "-99999999999999999999"},
            "channel must be between 1 and 9,223,372,036,854,775,807",
        ),
        ("metrics", {"member": "<@99999999999999999999>"}, "member must be between 1 and"),
        ("analyze", {"strategy": "x", "skip_earnings_within": "-1"}, "between 0 and 365"),
        ("fetch flows", {"min_premium": "-5"}, "min_premium must be at least 0"),
    ],
)
async def test_integers_beyond_what_their_consumers_take_are_refused_with_a_message(
    service: CommandService, members: Members, command: str, options: dict[str, object],
    message: str,
) -> None:  # fmt: skip
    """Issue 10 item 6: these used to answer "Something went wrong" (timedelta overflow, an int
    msgspec cannot encode); now they are refused naming the option's bounds, audit only."""
    reply = await service.execute(command, options, members.inv(admin=True))
    assert not reply.ok
    assert message in reply.description
    assert "Something went wrong" not in reply.description
    _refused_with_only_the_audit(0, service, message.split()[0])


async def test_text_is_cleaned_before_it_is_stored(
    service: CommandService, members: Members, tmp_path: Path
) -> None:
    """Control characters, lone surrogates and bidirectional overrides never reach the journal:
    a note keeps its visible text; the audit of a refused value is clean and bounded."""
    note = "buy\x00 the\u202e dip\ud800\ttoday"
    reply = await service.execute("trade open", {**OPEN, "note": note}, members.inv())
    assert reply.ok, reply.description
    opened = next(e for e in _events(service) if isinstance(e, TradeOpened))
    assert opened.note == "buy the dip today"
    refused = await service.execute(
        "trade note", {"id": "\x07" + "X" * 5000, "text": "t"}, members.inv()
    )
    assert not refused.ok
    assert "id is too long" in refused.description
    audit = _events(service)[-1]
    assert isinstance(audit, CommandHandled)
    assert all(len(v) <= 201 and "\x07" not in v for v in audit.options.values())
    _assert_sound_and_rebuildable(service, tmp_path)


async def test_an_accepted_extreme_loads_in_every_projection(
    service: CommandService, members: Members, tmp_path: Path
) -> None:
    """The largest and smallest amounts the gate accepts (ten billion, 1e-8) open and close a
    trade that the trades projection loads and a rebuild reproduces."""
    options = {**OPEN, "entry": "0.00000001", "size": "10000000000"}
    opened = await service.execute("trade open", options, members.inv())
    assert opened.ok, opened.description
    trade_id = opened.title.split()[1]
    closed = await service.execute(
        "trade close", {"id": trade_id, "exit": "9999999999.99999999"}, members.inv()
    )
    assert closed.ok, closed.description
    _assert_sound_and_rebuildable(service, tmp_path)


async def test_schedule_channel_as_a_mention_is_stored_as_its_id(
    service: CommandService, members: Members
) -> None:
    """A pasted channel mention is read as the channel's id (the gate strips ``<#…>``)."""
    reply = await service.execute(
        "schedule set",
        {"channel": "<#123456789012345678>", "strategy": "rsi_flow"},
        members.inv(admin=True),
    )
    assert reply.ok, reply.description
    configured = [e for e in _events(service) if isinstance(e, ScheduleConfigured)]
    assert configured[-1].channel_id == 123456789012345678
