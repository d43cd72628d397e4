"""The msgspec codec: round trips, unknown tags, garbage, upcasting, newer versions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec
import pytest

import events.catalog  # snapshot the real catalog before the test-only type below
from events.audit import CommandHandled
from events.base import Actor, Event
from events.codec import (
    EventCodec,
    EventDecodeError,
    UnknownEventTagError,
    register_upcaster,
    unregister_upcaster,
)

AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


class NoteRecorded(Event, frozen=True, kw_only=True, tag="test_note_recorded"):
    """A test-only event at schema v3 (v1 had ``text``, v2 renamed it ``body``, v3 adds ``lang``).

    Test-only tags start with ``test_``; the golden file ignores them.
    """

    schema_version: ClassVar[int] = 3
    body: str
    lang: str


@pytest.fixture
def codec() -> EventCodec:
    """A codec over today's events plus the test-only type."""
    return EventCodec({**events.catalog.ALL_EVENT_TYPES, "test_note_recorded": NoteRecorded})


@pytest.fixture
def upcasters() -> Iterator[None]:
    """Register the v1->v2->v3 upcasters of the test type, and remove them after."""

    @register_upcaster("test_note_recorded", 1)
    def rename(payload: dict[str, Any]) -> dict[str, Any]:
        payload["body"] = payload.pop("text")
        return payload

    @register_upcaster("test_note_recorded", 2)
    def add_lang(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "lang": "en"}

    yield
    unregister_upcaster("test_note_recorded", 1)
    unregister_upcaster("test_note_recorded", 2)


def _old_state(version: int, payload: dict[str, Any]) -> bytes:
    return msgspec.msgpack.encode([version, AT, "cmd-1", 5, 6, payload])


def test_round_trip_keeps_envelope_and_payload(codec: EventCodec) -> None:
    """Encoding then decoding gives back the event and every envelope field."""
    event = CommandHandled(name="picks", options={"symbol": "AAPL"}, latency_ms=12.5)
    state = codec.encode(
        event, recorded_at=AT, command_id="i-1", actor=Actor(guild_id=1, user_id=2)
    )
    env = codec.decode(position=7, stream="audit:1", version=3, tag="command_handled", state=state)
    assert env.event == event
    assert (env.position, env.stream, env.version, env.command_id) == (7, "audit:1", 3, "i-1")
    assert env.recorded_at == AT
    assert env.actor == Actor(guild_id=1, user_id=2)


def test_unknown_tag_is_refused_with_its_position(codec: EventCodec) -> None:
    """A tag no type claims raises UnknownEventTagError naming the position and the tag."""
    state = codec.encode(CommandHandled(name="x"), recorded_at=AT, command_id="c", actor=Actor())
    with pytest.raises(UnknownEventTagError, match=r"position 9 has unknown tag 'nope'"):
        codec.decode(position=9, stream="s", version=1, tag="nope", state=state)


def test_garbage_bytes_raise_decode_error(codec: EventCodec) -> None:
    """Bytes that are not a stored state raise EventDecodeError, not a msgspec error."""
    with pytest.raises(EventDecodeError, match="position 4"):
        codec.decode(position=4, stream="s", version=1, tag="command_handled", state=b"\xc1\x00")


def test_payload_of_wrong_shape_raises_decode_error(codec: EventCodec) -> None:
    """A well-formed envelope whose payload misses required fields raises EventDecodeError."""
    state = _old_state(1, {"type": "command_handled"})
    with pytest.raises(EventDecodeError, match="does not decode"):
        codec.decode(position=2, stream="s", version=1, tag="command_handled", state=state)


@pytest.mark.usefixtures("upcasters")
def test_upcasters_chain_from_v1_to_current(codec: EventCodec) -> None:
    """A v1 payload runs through both upcasters and decodes as today's v3 type."""
    state = _old_state(1, {"type": "test_note_recorded", "text": "hello"})
    env = codec.decode(position=1, stream="n", version=1, tag="test_note_recorded", state=state)
    assert env.event == NoteRecorded(body="hello", lang="en")


@pytest.mark.usefixtures("upcasters")
def test_upcasting_starts_at_the_stored_version(codec: EventCodec) -> None:
    """A v2 payload skips the v1 upcaster."""
    state = _old_state(2, {"type": "test_note_recorded", "body": "hi"})
    env = codec.decode(position=1, stream="n", version=1, tag="test_note_recorded", state=state)
    assert env.event == NoteRecorded(body="hi", lang="en")


def test_missing_upcaster_is_an_error(codec: EventCodec) -> None:
    """Without a registered upcaster an old payload is refused, naming the missing step."""
    state = _old_state(1, {"type": "test_note_recorded", "text": "hello"})
    with pytest.raises(EventDecodeError, match=r"no upcaster for test_note_recorded v1 -> v2"):
        codec.decode(position=1, stream="n", version=1, tag="test_note_recorded", state=state)


def test_newer_version_than_code_is_refused(codec: EventCodec) -> None:
    """A payload written by newer code (v4 > v3) is refused rather than guessed."""
    state = _old_state(4, {"type": "test_note_recorded", "body": "x", "lang": "en"})
    with pytest.raises(EventDecodeError, match="newer than this code"):
        codec.decode(position=1, stream="n", version=1, tag="test_note_recorded", state=state)


def test_registering_a_second_upcaster_for_one_step_fails() -> None:
    """Two different upcasters for the same (tag, version) is a programming error."""
    register_upcaster("test_other", 1)(lambda p: p)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_upcaster("test_other", 1)(lambda p: dict(p))
    finally:
        unregister_upcaster("test_other", 1)


def test_command_id_is_read_without_the_payload(codec: EventCodec) -> None:
    """command_id_of reads the envelope only (restore indexes command ids this way)."""
    state = _old_state(1, {"anything": "at all"})
    assert codec.command_id_of(state) == "cmd-1"
