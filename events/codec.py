"""Encoding and decoding of stored events: the msgspec codec and the upcasters.

What the journal stores for one event (DESIGN.md, Events):

- ``topic``: the event's stable tag (never a Python path);
- ``state``: a msgpack array ``[schema_version, recorded_at, command_id, guild_id, user_id,
  payload]`` where ``payload`` is the msgpack-encoded event.

Reading applies upcasters ``(tag, from_version) -> payload`` before typed decoding, in live reads
and replays alike, so old payloads decode into today's types. An unknown tag or undecodable bytes
raise ``EventDecodeError`` naming the position and the problem; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from events.base import Actor, Envelope, Event, registered_event_types
from events.errors import EventsError

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class EventCodecError(EventsError):
    """Root of codec errors."""


class EventDecodeError(EventCodecError):
    """A stored event could not be decoded (unknown tag, garbage bytes, or a shape mismatch)."""


class UnknownEventTagError(EventDecodeError):
    """The stored tag names no known event type."""


class StoredHeader(msgspec.Struct, array_like=True, frozen=True):
    """A stored state with its payload left undecoded: cheap to read for envelope-only uses."""

    schema_version: int
    recorded_at: datetime
    command_id: str
    guild_id: int | None
    user_id: int | None
    payload: msgspec.Raw


_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(tag: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function lifting a ``tag`` payload from ``from_version`` to the next version."""

    def decorate(fn: Upcaster) -> Upcaster:
        key = (tag, from_version)
        if key in _UPCASTERS and _UPCASTERS[key] is not fn:
            raise ValueError(f"an upcaster for {tag!r} v{from_version} is already registered")
        _UPCASTERS[key] = fn
        return fn

    return decorate


def unregister_upcaster(tag: str, from_version: int) -> None:
    """Remove an upcaster (tests register temporary ones)."""
    _UPCASTERS.pop((tag, from_version), None)


class EventCodec:
    """Encodes events with their envelope and decodes stored events back into ``Envelope``s."""

    def __init__(self, types: dict[str, type[Event]] | None = None) -> None:
        # Imported lazily by callers via events.catalog; an explicit mapping serves tests.
        if types is None:
            import events.catalog  # noqa: F401  (registers every event module)

            types = registered_event_types()
        self._types = types
        self._encoder = msgspec.msgpack.Encoder()
        self._state_decoder = msgspec.msgpack.Decoder(StoredHeader)
        self._decoders = {tag: msgspec.msgpack.Decoder(cls) for tag, cls in types.items()}
        self._untyped = msgspec.msgpack.Decoder()

    @property
    def tags(self) -> frozenset[str]:
        """Every tag this codec can decode."""
        return frozenset(self._types)

    def encode(
        self,
        event: Event,
        *,
        recorded_at: datetime,
        command_id: str,
        actor: Actor,
    ) -> bytes:
        """The stored ``state`` bytes of one event."""
        payload = msgspec.Raw(self._encoder.encode(event))
        state = StoredHeader(
            type(event).schema_version,
            recorded_at,
            command_id,
            actor.guild_id,
            actor.user_id,
            payload,
        )
        return self._encoder.encode(state)

    def command_id_of(self, state: bytes) -> str:
        """The command id of a stored state, without decoding its payload."""
        return self._decode_state(state, position=None, tag="?").command_id

    def decode(
        self, *, position: int, stream: str, version: int, tag: str, state: bytes
    ) -> Envelope:
        """Decode one stored event into an envelope, upcasting its payload when it is old."""
        header = self.header(state, position=position, tag=tag)
        return Envelope(
            position=position,
            stream=stream,
            version=version,
            recorded_at=header.recorded_at,
            command_id=header.command_id,
            actor=Actor(guild_id=header.guild_id, user_id=header.user_id),
            event=self.event(tag, header, position=position),
        )

    def header(self, state: bytes, *, position: int, tag: str) -> StoredHeader:
        """The envelope fields of a stored state; its payload stays undecoded (``msgspec.Raw``)."""
        return self._decode_state(state, position=position, tag=tag)

    def header_decoder(self) -> msgspec.msgpack.Decoder[StoredHeader]:
        """The raw header decoder, for hot loops that handle errors through ``header``."""
        return self._state_decoder

    def current_decoder(self, tag: str) -> tuple[int, msgspec.msgpack.Decoder[Event]]:
        """A tag's current schema version and the typed decoder of payloads of that version.

        For hot loops: a payload of another version must go through ``event`` (upcasting).
        """
        cls = self._types.get(tag)
        if cls is None:
            raise UnknownEventTagError(
                f"unknown event tag {tag!r} (known: {', '.join(sorted(self._types))})"
            )
        return cls.schema_version, self._decoders[tag]

    def event(self, tag: str, header: StoredHeader, *, position: int) -> Event:
        """The typed event of a decoded header, upcast to today's schema when older."""
        cls = self._types.get(tag)
        if cls is None:
            raise UnknownEventTagError(
                f"event at position {position} has unknown tag {tag!r} "
                f"(known: {', '.join(sorted(self._types))})"
            )
        try:
            if header.schema_version == cls.schema_version:
                return self._decoders[tag].decode(header.payload)
            return self._upcast(cls, tag, header)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
            raise EventDecodeError(
                f"event at position {position} ({tag}) does not decode: {exc}"
            ) from None

    def _decode_state(self, state: bytes, *, position: int | None, tag: str) -> StoredHeader:
        try:
            return self._state_decoder.decode(state)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            where = f"at position {position}" if position is not None else "record"
            raise EventDecodeError(f"event {where} ({tag}) has a corrupt envelope: {exc}") from None

    def _upcast(self, cls: type[Event], tag: str, stored: StoredHeader) -> Event:
        version = stored.schema_version
        if version > cls.schema_version:
            raise EventDecodeError(
                f"{tag} payload has schema v{version}, newer than this code's v{cls.schema_version}"
            )
        payload = self._untyped.decode(stored.payload)
        if not isinstance(payload, dict):
            raise EventDecodeError(f"{tag} payload is not a map")
        while version < cls.schema_version:
            upcaster = _UPCASTERS.get((tag, version))
            if upcaster is None:
                raise EventDecodeError(f"no upcaster for {tag} v{version} -> v{version + 1}")
            payload = upcaster(payload)
            version += 1
        return msgspec.convert(payload, cls)
