"""The golden file: one stored sample of every event tag ever written, decoded forever."""

from __future__ import annotations

import pytest

import events.catalog
from events.codec import EventCodec
from tests.golden.make_golden import GOLDEN, load

SAMPLES = load()


@pytest.mark.parametrize("tag", sorted(SAMPLES))
def test_golden_sample_still_decodes(tag: str) -> None:
    """A stored sample decodes (after upcasting) into today's type of its tag."""
    stream, version, state = SAMPLES[tag]
    env = EventCodec().decode(position=1, stream=stream, version=version, tag=tag, state=state)
    assert env.tag == tag
    assert env.command_id == f"golden-{tag}"


def test_every_registered_tag_has_a_golden_sample() -> None:
    """Each tag of the catalog has a sample; a new event type must add one before it ships."""
    missing = sorted(set(events.catalog.ALL_EVENT_TYPES) - set(SAMPLES))
    assert not missing, (
        f"no golden sample for {', '.join(missing)}: run "
        f"`.venv/bin/python tests/golden/make_golden.py` and commit {GOLDEN.name}"
    )
