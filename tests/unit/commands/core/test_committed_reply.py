"""A reply is never "Something went wrong" for a committed command (issue 10): once the journal
holds a command's events, a projection that fails to follow is logged, and the member gets the
command's own reply (a retry would otherwise make a duplicate trade)."""

from __future__ import annotations

import logging

import pytest

from commands.core import service as service_module
from commands.core.service import CommandService
from events.trading import TradeOpened
from tests.unit.commands.fakes import Members

OPEN = {"symbol": "AAPL", "direction": "long", "entry": "100", "size": "10"}


class FailingRunner:
    """A projection runner whose catch-up always fails, as an analytics batch did on a value
    pyarrow could not rescale."""

    def __init__(self) -> None:
        self.calls = 0

    def catch_up(self, **_: object) -> int:
        self.calls += 1
        raise RuntimeError("Rescaling Decimal value would cause data loss")


def _opened(service: CommandService) -> list[TradeOpened]:
    return [
        e.event for page in service.journal.read() for e in page if isinstance(e.event, TradeOpened)
    ]


async def test_a_failing_analytics_batch_after_the_commit_keeps_the_reply(
    service: CommandService,
    members: Members,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the analytics batch due at once and failing, ``/trade open`` still answers "opened"
    (ok), the trade is in the journal once, the failure is logged with its traceback, and a retry
    of the same interaction answers the same without a second trade."""
    failing = FailingRunner()
    service.analytics_runner = failing  # type: ignore[assignment]
    monkeypatch.setattr(service_module, "ANALYTICS_BATCH", 1)
    inv = members.inv(command_id="interaction-7")
    with caplog.at_level(logging.ERROR, logger="commands.core.service"):
        reply = await service.execute("trade open", OPEN, inv)
    assert reply.ok, reply.description
    assert "opened" in reply.title
    assert failing.calls == 1
    assert any(r.exc_info for r in caplog.records), "the failure is logged with its traceback"
    again = await service.execute("trade open", OPEN, inv)
    assert again == reply
    assert len(_opened(service)) == 1


async def test_a_failing_state_projection_after_the_commit_keeps_the_reply(
    service: CommandService, members: Members
) -> None:
    """A state projection that fails to follow the append is logged; the reply stands."""
    service.runner = FailingRunner()  # type: ignore[assignment]
    reply = await service.execute("trade open", OPEN, members.inv())
    assert reply.ok, reply.description
    assert len(_opened(service)) == 1


async def test_an_analytics_reader_answers_even_when_the_catch_up_before_it_fails(
    service: CommandService, members: Members
) -> None:
    """``/status`` catches the analytics up first; when that fails it still answers from what the
    analytics hold instead of "Something went wrong"."""
    await service.execute("trade open", OPEN, members.inv())
    service.analytics_runner = FailingRunner()  # type: ignore[assignment]
    reply = await service.execute("status", {"symbols": "AAPL"}, members.inv())
    assert reply.ok, reply.description
