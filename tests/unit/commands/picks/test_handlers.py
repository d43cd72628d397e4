"""The picks room's handlers called directly: the schedule's status."""

from __future__ import annotations

from commands.picks.handlers import (
    handle_schedule_set,
    handle_schedule_status,
)
from tests.support.clocks import FakeClock
from tests.unit.commands.handler_kit import NOW, cmd, feed, make_state


def test_schedule_status_shows_the_next_run_in_new_york_time() -> None:
    """After /schedule set, status names the next session and its New York time."""
    state = make_state()
    events, _ = handle_schedule_set(
        cmd("schedule set", strategy="rsi_flow", time="09:30"), state, FakeClock(NOW)
    )
    feed(state, [e.event for e in events])
    _, reply = handle_schedule_status(cmd("schedule status"), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["Next run"] == "2026-03-11 09:30 EDT (session 2026-03-11)"
    assert fields["Channel"] == "<#77>"
