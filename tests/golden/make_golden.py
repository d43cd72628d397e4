"""Add a golden sample for every event tag that lacks one; never rewrite an existing sample.

    .venv/bin/python tests/golden/make_golden.py

``events.msgpack`` maps each tag to one stored event exactly as the journal keeps it
(``[stream, version, state bytes]``). ``expected.json`` holds, per tag, what that sample must
decode to: the envelope (recorded-at, command id, actor) and every field of the event by name, as
JSON with its type visible (an int stays ``7``, a float ``1.5``, a decimal the string ``"12.34"``).
``test_golden.py`` decodes every sample forever and compares it with these values, so a change
that would break reading old journals, or that renames or retypes a field, fails the tests; a new
event type fails them until this script has added its sample (commit both files with the type).
Like the samples, the expected values of a tag are written once and never rewritten.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

GOLDEN = Path(__file__).with_name("events.msgpack")
EXPECTED = Path(__file__).with_name("expected.json")
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


def load_expected() -> dict[str, dict[str, Any]]:
    """The stored expected values by tag (empty when the file does not exist yet)."""
    if not EXPECTED.exists():
        return {}
    return dict(msgspec.json.decode(EXPECTED.read_bytes(), type=dict[str, dict[str, Any]]))


def decoded_values(tag: str, stream: str, version: int, state: bytes) -> dict[str, Any]:
    """What a stored sample decodes to today: its envelope and its event's fields, as JSON data."""
    from events.codec import EventCodec

    env = EventCodec().decode(position=1, stream=stream, version=version, tag=tag, state=state)
    return {
        "recorded_at": msgspec.to_builtins(env.recorded_at),
        "command_id": env.command_id,
        "actor": msgspec.to_builtins(env.actor),
        # Every field, those equal to their default too (``to_builtins`` would omit them).
        "fields": {
            name: msgspec.to_builtins(getattr(env.event, name))
            for name in env.event.__struct_fields__
        },
    }


def canonical(values: Any) -> bytes:
    """JSON with sorted keys: equal bytes mean equal values of equal JSON types (7 is not 7.0)."""
    return msgspec.json.encode(values, order="sorted")


def main() -> None:
    """Add the missing samples and their expected values, and report what was added."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import events.catalog
    from events.base import Actor
    from events.codec import EventCodec

    codec = EventCodec(dict(events.catalog.ALL_EVENT_TYPES))
    samples = load()
    expected = load_expected()
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
    described = []
    for tag, (stream, version, state) in sorted(samples.items()):
        if tag not in expected:  # never rewrite: they are what old bytes must keep decoding to
            expected[tag] = decoded_values(tag, stream, version, state)
            described.append(tag)
    GOLDEN.write_bytes(msgspec.msgpack.encode(dict(sorted(samples.items()))))
    text = json.dumps(json.loads(canonical(expected)), indent=1, sort_keys=True, ensure_ascii=False)
    EXPECTED.write_text(text + "\n", encoding="utf-8")
    print(f"added {len(added)} sample(s): {', '.join(added) or 'none'}; {len(samples)} in {GOLDEN}")
    print(f"added expected values of {len(described)} tag(s); {len(expected)} in {EXPECTED}")


if __name__ == "__main__":
    main()
