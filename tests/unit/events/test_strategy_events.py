"""The strategy library's events: registered in the catalog and round-tripped by the codec."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import events.catalog
from events.base import Actor, Event
from events.codec import EventCodec
from events.strategies import (
    StrategyAdded,
    StrategyDrafted,
    StrategyLibraryConfigured,
    StrategyRemoved,
)

AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

SAMPLES: list[Event] = [
    StrategyAdded(
        guild_id=1,
        key="golden_cross",
        version=2,
        yaml_text="name: Golden cross\n# é, exact text\n",
        sha256="ab" * 32,
        added_by=42,
        replaced_shipped=True,
    ),
    StrategyRemoved(guild_id=1, key="golden_cross", removed_by=42),
    StrategyDrafted(
        guild_id=1,
        member_id=42,
        description="buy when RSI(2) < 10",
        model="claude-sonnet-4-5",
        input_tokens=1200,
        output_tokens=300,
        yaml_text="name: x\n",
        valid=False,
        errors=["draft.yaml: entry.conditions: required"],
        attempts=2,
    ),
    StrategyLibraryConfigured(guild_id=1, open_add=True, changed_by=42),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_tag())
def test_strategy_event_round_trips_through_the_catalog_codec(event: Event) -> None:
    """Each strategy event is in the catalog under its tag and decodes to an equal event with
    the same envelope (the YAML text byte for byte)."""
    tag = event.event_tag()
    assert events.catalog.ALL_EVENT_TYPES[tag] is type(event)
    codec = EventCodec(dict(events.catalog.ALL_EVENT_TYPES))
    state = codec.encode(event, recorded_at=AT, command_id="c-1", actor=Actor(guild_id=1))
    env = codec.decode(position=3, stream="strategies:1", version=1, tag=tag, state=state)
    assert env.event == event
    assert env.actor == Actor(guild_id=1)
    assert env.recorded_at == AT


def test_strategy_tags_are_the_agreed_ones() -> None:
    """The tags other rooms rely on (TEAM.md's interface) are exactly these."""
    assert [type(e).event_tag() for e in SAMPLES] == [
        "strategy_added",
        "strategy_removed",
        "strategy_drafted",
        "strategy_library_configured",
    ]
