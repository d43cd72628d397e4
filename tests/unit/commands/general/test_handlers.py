"""/about and /ping called directly."""

from __future__ import annotations

from commands.general.handlers import handle_about, handle_ping, with_ping_timings
from tests.support.clocks import FakeClock
from tests.unit.commands.handler_kit import NOW, cmd, make_state


def test_about_and_ping_show_the_journal_head() -> None:
    """/about shows version, sources and head; /ping answers ephemerally."""
    state = make_state()
    _, about = handle_about(cmd("about"), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in about.fields}
    assert (fields["Version"], fields["Journal head"], fields["Data sources"]) == (
        "1.2.3", "9", "fake",
    )  # fmt: skip
    _, ping = handle_ping(cmd("ping"), state, FakeClock(NOW))
    assert ping.ephemeral


def test_ping_timings_say_latency_and_time_to_answer_in_ms() -> None:
    """The front ends' timings in /ping: the gateway latency in ms (or why there is none) and
    the time to answer in ms."""
    _, ping = handle_ping(cmd("ping"), make_state(), FakeClock(NOW))
    timed = {
        gateway: {
            name: value
            for name, value, _ in with_ping_timings(
                ping, gateway_latency=gateway, answered_in=0.0126
            ).fields
        }
        for gateway in (0.0423, None, float("inf"))
    }
    assert timed[0.0423] == {"Gateway latency": "42 ms", "Answered in": "13 ms"}
    assert timed[None]["Gateway latency"] == "none (local console)"
    assert timed[float("inf")]["Gateway latency"] == "not measured yet (no heartbeat answered)"
