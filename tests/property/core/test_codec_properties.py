"""Codec properties: every event type round-trips; unknown tags and garbage fail clearly."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.base import Actor, Event
from events.codec import EventCodec, EventDecodeError
from tests.property.core.strategies import ALL_TYPES, actors, aware_datetimes, event_of

CODEC = EventCodec(dict(ALL_TYPES))


@pytest.mark.parametrize("tag", sorted(ALL_TYPES))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), at=aware_datetimes, actor=actors, command_id=st.text(max_size=20))
def test_every_event_type_round_trips(
    tag: str, data: st.DataObject, at: datetime, actor: Actor, command_id: str
) -> None:
    """Invariant: decode(encode(event, envelope)) gives back the same event and envelope."""
    event: Event = data.draw(event_of(ALL_TYPES[tag]))
    state = CODEC.encode(event, recorded_at=at, command_id=command_id, actor=actor)
    env = CODEC.decode(position=1, stream="s", version=1, tag=tag, state=state)
    assert env.event == event
    assert (env.recorded_at, env.command_id, env.actor) == (at, command_id, actor)


@settings(max_examples=50, deadline=None)
@given(tag=st.text(min_size=1, max_size=20).filter(lambda t: t not in ALL_TYPES))
def test_unknown_tags_raise_decode_error(tag: str) -> None:
    """Invariant: a tag no event type claims always raises EventDecodeError naming the tag."""
    state = CODEC.encode(
        next(iter(_samples())), recorded_at=datetime.fromisoformat("2024-01-01T00:00:00+00:00"),
        command_id="c", actor=Actor(),
    )  # fmt: skip
    with pytest.raises(EventDecodeError, match="unknown tag"):
        CODEC.decode(position=3, stream="s", version=1, tag=tag, state=state)


@settings(max_examples=200, deadline=None)
@given(tag=st.sampled_from(sorted(ALL_TYPES)), garbage=st.binary(max_size=64))
def test_garbage_bytes_raise_decode_error(tag: str, garbage: bytes) -> None:
    """Invariant: arbitrary bytes never decode into an event silently: they decode into a valid
    event of the tag, or raise EventDecodeError (never another exception)."""
    try:
        env = CODEC.decode(position=1, stream="s", version=1, tag=tag, state=garbage)
    except EventDecodeError:
        return
    assert isinstance(env.event, ALL_TYPES[tag])


def _samples() -> list[Event]:
    from events.audit import CommandHandled

    return [CommandHandled(name="x")]
