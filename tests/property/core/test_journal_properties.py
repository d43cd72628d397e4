"""Journal properties: stale versions write nothing; one command id appends once."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import ConcurrencyError, Journal
from tests.property.core.harness import append_all
from tests.property.core.strategies import commands

Commands = list[tuple[Actor, list[NewEvent]]]
LATE = CommandHandled(name="late")


@settings(max_examples=20, deadline=None)
@given(cmds=commands(max_commands=5), stream=st.sampled_from(["a", "b"]), lag=st.integers(1, 3))
def test_stale_expected_version_writes_nothing(cmds: Commands, stream: str, lag: int) -> None:
    """Invariant: appending with an expected version below the stream's raises ConcurrencyError
    and leaves head, stream versions and rows exactly as they were."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "j.sqlite")
        try:
            append_all(journal, cmds)
            journal.append([NewEvent(stream, LATE)], command_id="x", actor=Actor())
            before = journal.read_raw(1, 10_000)
            current = journal.stream_version(stream)
            with pytest.raises(ConcurrencyError):
                journal.append(
                    [
                        NewEvent("fresh", LATE),
                        NewEvent(stream, LATE),
                    ],
                    command_id="stale",
                    actor=Actor(),
                    expected_versions={stream: max(current - lag, 0)},
                )
            assert journal.read_raw(1, 10_000) == before
            assert journal.stream_version("fresh") == 0
            assert journal.command_span("stale") is None
        finally:
            journal.close()


@settings(max_examples=20, deadline=None)
@given(cmds=commands(max_commands=5), repeat=st.data())
def test_same_command_id_appends_once(cmds: Commands, repeat: st.DataObject) -> None:
    """Invariant: replaying any earlier command id appends nothing and reports its positions."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "j.sqlite")
        try:
            append_all(journal, cmds)
            if not cmds:
                return
            n = repeat.draw(st.integers(0, len(cmds) - 1))
            before = journal.read_raw(1, 10_000)
            actor, batch = cmds[n]
            result = journal.append(batch, command_id=f"cmd-{n}", actor=actor)
            assert result.duplicate
            assert [
                r.position for r in before if journal.codec.command_id_of(r.state) == f"cmd-{n}"
            ] == result.positions
            assert journal.read_raw(1, 10_000) == before
        finally:
            journal.close()
