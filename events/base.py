"""The base of every event type, the tag registry and the envelope every stored event carries.

An event type is a frozen, keyword-only msgspec ``Struct`` with an explicit, stable ``tag``
(snake_case, past tense). The tag, never a Python path, is what the journal stores, so code can
move freely. ``schema_version`` counts payload shapes of one tag; an upcaster lifts an older
payload to the next version before typed decoding (see ``events.codec``).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    """Base class of every event. Subclasses pass ``tag="..."`` and register themselves."""

    schema_version: ClassVar[int] = 1

    @classmethod
    def event_tag(cls) -> str:
        """The stable tag stored in the journal for this event type."""
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):  # pragma: no cover - guarded by __init_subclass__
            raise TypeError(f"{cls.__name__} has no string tag")
        return tag


def registered_event_types() -> dict[str, type[Event]]:
    """Every tagged event type by tag (import ``events.catalog`` first to load them all).

    A tag used twice is a programming error and raises ``TypeError`` at once.
    """
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):
            continue
        other = found.get(tag)
        if other is not None and other is not cls:
            raise TypeError(
                f"event tag {tag!r} is used by both {other.__name__} and {cls.__name__}"
            )
        found[tag] = cls
    return found


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who caused an event: a Discord guild and user, or the system (both ``None``)."""

    guild_id: int | None = None
    user_id: int | None = None

    @classmethod
    def system(cls) -> Actor:
        """The actor of scheduled runs, fetches and maintenance."""
        return cls()


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """A stored event with its envelope, as read back from the journal."""

    position: int
    stream: str
    version: int
    recorded_at: datetime
    command_id: str
    actor: Actor
    event: Event

    @property
    def tag(self) -> str:
        """The event's stable tag."""
        return self.event.event_tag()


class NewEvent(msgspec.Struct, frozen=True):
    """An event to append, with the stream it belongs to."""

    stream: str
    event: Event
