"""The command service's log lines, as Log Analytics gets them (JSON): each names the command id,
the guild and the journal positions of the command it belongs to (issue 11)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

import logs
from commands.core.service import CommandService
from tests.unit.commands.fakes import Members

OPEN = {"symbol": "AAPL", "direction": "long", "entry": "100", "size": "10"}
SERVICE_LOGGER = CommandService.__module__


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The bot's JSON logging, writing to a buffer; undone at the end."""
    out = io.StringIO()
    logs.configure("service", stream=out, fmt="json", force=True)
    yield out
    logs.reset()


def lines_of(out: io.StringIO, command_id: str) -> list[dict[str, object]]:
    """The JSON lines logged for ``command_id`` (each line must be one JSON object)."""
    every = [json.loads(line) for line in out.getvalue().splitlines()]
    return [line for line in every if line.get("command_id") == command_id]


async def test_a_command_logs_its_id_guild_and_the_positions_it_appended(
    service: CommandService, members: Members, json_log: io.StringIO
) -> None:
    """``/trade open`` logs one INFO line from the service naming the command, its id, the guild
    and the first and last journal positions, which are the journal's span for that id."""
    inv = members.inv(guild=100, command_id="interaction-41")
    reply = await service.execute("trade open", OPEN, inv)
    assert reply.ok, reply.description
    span = service.journal.command_span("interaction-41")
    assert span is not None
    [line] = lines_of(json_log, "interaction-41")
    assert line["level"] == "INFO"
    assert line["logger"] == SERVICE_LOGGER
    assert line["message"] == f"appended 2 events at positions {span[0]}..{span[1]}"
    assert (line["guild_id"], line["command"]) == (100, "trade open")
    assert (line["first_position"], line["last_position"]) == span


async def test_a_retry_and_a_refusal_are_logged_with_their_command_ids(
    service: CommandService, members: Members, json_log: io.StringIO
) -> None:
    """A refused command logs its audit append under its own id; a retried interaction logs
    that nothing new was appended, with the id and guild of the retry."""
    first = members.inv(guild=100, command_id="interaction-42")
    await service.execute("trade open", OPEN, first)
    service._replies.clear()  # as after a restart: the retry is found in the journal
    await service.execute("trade open", OPEN, first)
    refused = members.inv(guild=200, command_id="interaction-43")
    await service.execute("trade open", {**OPEN, "entry": "-1"}, refused)
    opened, retried = lines_of(json_log, "interaction-42")
    assert str(opened["message"]).startswith("appended 2 events")
    assert retried["message"] == "already handled: nothing appended"
    assert retried["guild_id"] == 100
    [audit] = lines_of(json_log, "interaction-43")
    assert audit["guild_id"] == 200
    assert audit["first_position"] == audit["last_position"] == service.journal.head()


async def test_a_failure_after_the_commit_is_one_json_line_with_ids_positions_and_traceback(
    service: CommandService, members: Members, json_log: io.StringIO
) -> None:
    """A state projection that fails to follow a committed command is logged as one JSON
    object: ERROR, the command id, guild and positions, and the traceback in ``exception``."""

    class FailingRunner:
        """A projection runner whose catch-up always fails."""

        def catch_up(self, **_: object) -> int:
            raise RuntimeError("cannot apply\nthis event")

    service.runner = FailingRunner()  # type: ignore[assignment]
    inv = members.inv(guild=100, command_id="interaction-44")
    await service.execute("trade open", OPEN, inv)
    span = service.journal.command_span("interaction-44")
    assert span is not None
    [failed] = [line for line in lines_of(json_log, "interaction-44") if line["level"] == "ERROR"]
    assert failed["guild_id"] == 100
    assert (failed["first_position"], failed["last_position"]) == span
    exception = str(failed["exception"])
    assert exception.startswith("Traceback (most recent call last):")
    assert exception.endswith("RuntimeError: cannot apply\nthis event")
