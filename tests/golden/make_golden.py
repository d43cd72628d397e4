"""Add a golden sample for every event tag that lacks one; never rewrite an existing sample.

    .venv/bin/python tests/golden/make_golden.py

``events.msgpack`` maps each tag to one stored event exactly as the journal keeps it
(``[stream, version, state bytes]``). ``test_golden.py`` decodes every sample forever, so a
change that would break reading old journals fails the tests; a new event type fails them until
this script has added its sample (commit the file with the new type).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

GOLDEN = Path(__file__).with_name("events.msgpack")
AT = datetime(2024, 3, 4, 15, 30, tzinfo=UTC)


def sample_value(info: mi.Type) -> Any:
    """A plain, deterministic value of a msgspec type (non-empty containers, non-None options)."""
    simple: dict[type[mi.Type], Any] = {
        mi.StrType: "x", mi.IntType: 7, mi.FloatType: 1.5, mi.BoolType: True,
        mi.DecimalType: Decimal("12.34"), mi.DateTimeType: AT, mi.DateType: date(2024, 3, 4),
    }  # fmt: skip
    for kind, value in simple.items():
        if isinstance(info, kind):
            return value
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.UnionType):
        return sample_value(next(t for t in info.types if not isinstance(t, mi.NoneType)))
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return [sample_value(info.item_type)]
    if isinstance(info, mi.DictType):
        return {sample_value(info.key_type): sample_value(info.value_type)}
    if isinstance(info, mi.StructType):
        return info.cls(**{f.name: sample_value(f.type) for f in info.fields})
    raise TypeError(f"no sample for {info!r}: extend sample_value")


def load() -> dict[str, tuple[str, int, bytes]]:
    """The stored samples by tag (empty when the file does not exist yet)."""
    if not GOLDEN.exists():
        return {}
    raw = msgspec.msgpack.decode(GOLDEN.read_bytes(), type=dict[str, tuple[str, int, bytes]])
    return dict(raw)


def main() -> None:
    """Add the missing samples and report what was added."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import events.catalog
    from events.base import Actor
    from events.codec import EventCodec

    codec = EventCodec(dict(events.catalog.ALL_EVENT_TYPES))
    samples = load()
    added = []
    for tag, cls in sorted(events.catalog.ALL_EVENT_TYPES.items()):
        if tag in samples:
            continue  # never rewrite: the old bytes are the point
        event = sample_value(mi.type_info(cls))
        state = codec.encode(
            event, recorded_at=AT, command_id=f"golden-{tag}", actor=Actor(guild_id=1, user_id=2)
        )
        samples[tag] = (f"golden:{tag}", 1, state)
        added.append(tag)
    GOLDEN.write_bytes(msgspec.msgpack.encode(dict(sorted(samples.items()))))
    print(f"added {len(added)} sample(s): {', '.join(added) or 'none'}; {len(samples)} in {GOLDEN}")


if __name__ == "__main__":
    main()
