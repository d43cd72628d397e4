"""The golden file: one stored sample of every event tag ever written, decoded forever.

Each sample must decode (after upcasting) to the values stored beside it in ``expected.json``:
the envelope and every field of the event by name and JSON type. Renaming a field, changing its
type or its encoding, or dropping a field fails here before an old journal fails in production.
"""

from __future__ import annotations

from typing import Any

import pytest

import events.catalog
from tests.golden.make_golden import (
    EXPECTED,
    GOLDEN,
    canonical,
    decoded_values,
    load,
    load_expected,
)

SAMPLES = load()
EXPECTED_VALUES = load_expected()


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, by path, with both sides (types count: 7 is not 7.0)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{where}: missing (expected {expected[key]!r})")
            elif key not in expected:
                out.append(f"{where}: unexpected field (= {actual[key]!r})")
            else:
                out += differences(expected[key], actual[key], where)
        return out
    if canonical(expected) != canonical(actual):
        return [f"{path}: expected {expected!r}, decoded {actual!r}"]
    return []


@pytest.mark.parametrize("tag", sorted(SAMPLES))
def test_golden_sample_decodes_to_its_stored_field_values(tag: str) -> None:
    """A stored sample decodes (after upcasting) into today's type of its tag, with the same
    envelope and the same fields, by name, value and JSON type, as stored in expected.json."""
    stream, version, state = SAMPLES[tag]
    assert tag in EXPECTED_VALUES, f"no expected values for {tag}: run make_golden.py"
    decoded = decoded_values(tag, stream, version, state)
    assert decoded["command_id"] == f"golden-{tag}"
    problems = differences(EXPECTED_VALUES[tag], decoded)
    assert not problems, f"{tag} sample no longer decodes as stored: " + "; ".join(problems)


def test_differences_sees_renamed_retyped_and_changed_fields() -> None:
    """The comparison itself: a renamed field, an int read as a float, a changed value and a
    nested change are each reported; equal values are not."""
    expected = {"fields": {"size": 7, "price": "12.34", "nested": {"a": [1, 2]}}}
    assert differences(expected, expected) == []
    renamed = {"fields": {"qty": 7, "price": "12.34", "nested": {"a": [1, 2]}}}
    assert differences(expected, renamed) == [
        "fields.qty: unexpected field (= 7)",
        "fields.size: missing (expected 7)",
    ]
    retyped = {"fields": {"size": 7.0, "price": "12.34", "nested": {"a": [1, 2]}}}
    assert differences(expected, retyped) == ["fields.size: expected 7, decoded 7.0"]
    changed = {"fields": {"size": 7, "price": "12.3", "nested": {"a": [1, 3]}}}
    assert differences(expected, changed) == [
        "fields.nested.a: expected [1, 2], decoded [1, 3]",
        "fields.price: expected '12.34', decoded '12.3'",
    ]


def test_every_registered_tag_has_a_golden_sample() -> None:
    """Each tag of the catalog has a sample and its expected values; a new event type must add
    both before it ships."""
    missing = sorted(set(events.catalog.ALL_EVENT_TYPES) - (set(SAMPLES) & set(EXPECTED_VALUES)))
    assert not missing, (
        f"no golden sample or expected values for {', '.join(missing)}: run "
        f"`.venv/bin/python tests/golden/make_golden.py` and commit {GOLDEN.name} and "
        f"{EXPECTED.name}"
    )
