"""Segment properties: version 3's columnar body gives back every stored event byte for byte."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.base import Actor, Event
from events.codec import EventCodec
from events.records import RawRecord
from events.segment_columns import decode_columns, encode_columns
from events.segments import decode_segment, encode_segment
from tests.property.core.strategies import ALL_TYPES, actors, any_event, aware_datetimes, event_of

CODEC = EventCodec(dict(ALL_TYPES))

# Leaves chosen to sit on the edges of every exact transform: decimal-looking strings that must
# stay strings ("-0", "00.5", "1e5"), dates that are not dates, numbers with leading zeros, floats
# that print with an exponent or as -0.0, integers at the ends of 64 bits.
tricky_text = st.sampled_from(
    ["-0", "-0.00", "0.00", "00.5", "1e5", "1.", ".5", "2024-02-30", "2024-02-29", "0007",
     "a0001", "S368250117C00000001", "i-1041", "1234567890123456789", "99999999999999999999",
     "", "-", "3.14159265358979323846", "+1", " 1"]
)  # fmt: skip
tricky_floats = st.sampled_from(
    [0.0, -0.0, 1e-7, 1e22, 5e-324, 0.1, 2.5, -31.4, 123456.789, 1 / 3, float("inf"), -1e300]
)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(width=64),
    tricky_floats, st.text(max_size=8), tricky_text, aware_datetimes,
    st.binary(max_size=6), st.decimals(allow_nan=False, places=3).map(str),
)  # fmt: skip
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=20), st.dictionaries(st.text(max_size=4), kids, max_size=18)
    ),
    max_leaves=30,
)


@st.composite
def states(draw: st.DrawFn) -> tuple[str, bytes]:
    """A (tag, stored state): an event of any catalogued type in its envelope (most), a msgpack
    tree of any shape, or bytes that are not msgpack at all."""
    kind = draw(st.integers(0, 9))
    if kind <= 6:
        event: Event = draw(any_event)
        at: datetime = draw(aware_datetimes)
        actor: Actor = draw(actors)
        command_id = draw(st.one_of(st.text(max_size=12), tricky_text))
        return event.event_tag(), CODEC.encode(
            event, recorded_at=at, command_id=command_id, actor=actor
        )
    if kind <= 8:
        return draw(st.sampled_from(sorted(ALL_TYPES))), msgspec.msgpack.encode(draw(trees))
    return "garbage", draw(st.binary(max_size=40))


@settings(max_examples=100, deadline=None)
@given(
    first=st.integers(1, 10**9),
    stored=st.lists(states(), min_size=1, max_size=25),
    streams=st.lists(st.sampled_from(["a", "b", "trade:1:t1", "bars:S001"]), min_size=25),
    steps=st.lists(st.integers(1, 3), min_size=25),
)
def test_decode_of_encode_is_the_stored_bytes(
    first: int, stored: list[tuple[str, bytes]], streams: list[str], steps: list[int]
) -> None:
    """Invariant: for any records (events of every type in events/catalog.py in their envelope,
    other msgpack, non-msgpack bytes), decode(encode(records)) == records: positions, streams,
    versions, tags and every state byte for byte; through the columnar body alone and through a
    whole v3 segment."""
    versions: dict[str, int] = {}
    records = []
    for offset, ((tag, state), stream, step) in enumerate(
        zip(stored, streams, steps, strict=False)
    ):
        versions[stream] = versions.get(stream, 0) + step
        records.append(RawRecord(first + offset, stream, versions[stream], tag, state))
    assert decode_columns(encode_columns(records), first) == records
    assert decode_segment(encode_segment(records).data) == records


@pytest.mark.parametrize("tag", sorted(ALL_TYPES))
@settings(max_examples=10, deadline=None)
@given(data=st.data(), count=st.integers(1, 30))
def test_every_event_type_round_trips_in_columns(tag: str, data: st.DataObject, count: int) -> None:
    """Invariant: a segment of ``count`` events of one type (one tag: they share columns, the
    case the columnar body is made for) decodes to exactly the stored records, and every one of
    them went into columns (none left whole in the side list of states kept as they are)."""
    records = []
    for position in range(1, count + 1):
        event: Event = data.draw(event_of(ALL_TYPES[tag]))
        state = CODEC.encode(
            event, recorded_at=data.draw(aware_datetimes), command_id=f"c-{position}",
            actor=data.draw(actors),
        )  # fmt: skip
        records.append(RawRecord(position, f"s:{position % 3}", position, tag, state))
    assert decode_segment(encode_segment(records).data) == records
    *_, kept_whole = msgspec.msgpack.decode(encode_columns(records))
    assert kept_whole == []


def test_large_containers_round_trip() -> None:
    """Arrays and maps past 15 and 65,535 items (msgpack's wider headers) round-trip exactly."""
    trees: list[Any] = [list(range(70_000)), {f"k{i}": i for i in range(20)}, [0.5] * 16]
    records = [
        RawRecord(i + 1, "s", i + 1, "t", msgspec.msgpack.encode(tree))
        for i, tree in enumerate(trees)
    ]
    assert decode_segment(encode_segment(records).data) == records
