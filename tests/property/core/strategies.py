"""Hypothesis strategies for every event type, and journals of generated commands.

Built from the types themselves (``msgspec.inspect``), so new event types are covered at once,
with values the journal must round-trip exactly: tz-aware UTC datetimes, finite floats, decimals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec.inspect as mi
from hypothesis import strategies as st

import events.catalog
from events.base import Actor, Event, NewEvent

ALL_TYPES: dict[str, type[Event]] = dict(sorted(events.catalog.ALL_EVENT_TYPES.items()))

aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
# Bounded so prices, sizes and their P&L fit the trades table's DECIMAL(38, 8) / (38, 16).
exact_decimals = st.decimals(
    min_value=-(10**10), max_value=10**10, allow_nan=False, allow_infinity=False, places=4
).map(lambda d: d.normalize() if d == d.to_integral_value() else d)
short_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=12)
int64s = st.integers(-(2**63), 2**63 - 1)


def strategy_for(info: mi.Type) -> st.SearchStrategy[Any]:
    """Values of a msgspec type, nested structs included (their defaults are drawn too)."""
    simple: dict[type[mi.Type], st.SearchStrategy[Any]] = {
        mi.StrType: short_text, mi.IntType: int64s, mi.FloatType: finite_floats,
        mi.BoolType: st.booleans(), mi.DecimalType: exact_decimals,
        mi.DateTimeType: aware_datetimes, mi.DateType: st.dates(date(2000, 1, 1), date(2100, 1, 1)),
        mi.NoneType: st.none(),
    }  # fmt: skip
    for kind, strategy in simple.items():
        if isinstance(info, kind):
            return strategy
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, mi.UnionType):
        return st.one_of(*(strategy_for(t) for t in info.types))
    if isinstance(info, mi.ListType):
        return st.lists(strategy_for(info.item_type), max_size=3)
    if isinstance(info, mi.DictType):
        return st.dictionaries(
            strategy_for(info.key_type), strategy_for(info.value_type), max_size=3
        )
    if isinstance(info, mi.StructType):
        fields = {f.name: strategy_for(f.type) for f in info.fields}
        return st.fixed_dictionaries(fields).map(lambda kw: info.cls(**kw))
    raise TypeError(f"no strategy for {info!r}: extend strategy_for")


def event_of(cls: type[Event]) -> st.SearchStrategy[Event]:
    """Events of one type, every field drawn (defaults included, so omitted ones round-trip)."""
    return strategy_for(mi.type_info(cls))


any_event: st.SearchStrategy[Event] = st.one_of(*(event_of(c) for c in ALL_TYPES.values()))

actors = st.one_of(
    st.just(Actor.system()),
    st.builds(Actor, guild_id=st.integers(1, 3), user_id=st.integers(1, 4)),
)
streams = st.sampled_from(["a", "b", "c", "trade:1:t1", "watchlist:1"])


@st.composite
def commands(draw: st.DrawFn, max_commands: int = 8) -> list[tuple[Actor, list[NewEvent]]]:
    """A sequence of commands, each 1-3 events on a few streams."""
    out = []
    for _ in range(draw(st.integers(0, max_commands))):
        n = draw(st.integers(1, 3))
        batch = [NewEvent(draw(streams), draw(any_event)) for _ in range(n)]
        out.append((draw(actors), batch))
    return out
