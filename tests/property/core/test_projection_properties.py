"""The invariant every projection keeps: incremental == full rebuild == rebuild(prefix) + catch-up.

Covers every analytics projection of ``projections.registry.all_analytics_projections()`` and
every state projection in the ``projections`` package, so projections added later are covered
without touching this file.

How hard: the test command's Hypothesis profile (``suite``, ``tests/conftest.py``) runs each
invariant test ``SUITE_EXAMPLES`` (200) times, and every generated journal holds at least one
event of every tag some projection folds, so each projection is checked on that many journals
that give it something to do (``test_the_test_command_checks_each_projection_200_times``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.base import Actor, NewEvent
from events.journal import Journal
from projections.analytics import Analytics
from projections.base import AnalyticsProjection, StateProjection
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner
from tests.conftest import SUITE_EXAMPLES
from tests.property.core.harness import (
    append_all,
    snapshot,
    state_projection_types,
    state_snapshots,
)
from tests.property.core.strategies import ALL_TYPES, actors, any_event, event_of, streams

Commands = list[tuple[Actor, list[NewEvent]]]

FOLDED_TAGS = sorted(
    set().union(
        *(p.tags for p in all_analytics_projections()),
        *(cls.tags for cls in state_projection_types()),
    )
    & set(ALL_TYPES)
)
"""Every tag some projection folds (and that can be written)."""


@st.composite
def feeding_every_projection(draw: st.DrawFn) -> Commands:
    """One event of every folded tag and a few of any tag, in a drawn order, appended as commands
    of 1-10 events: no example leaves a projection with nothing to fold."""
    events = [NewEvent(draw(streams), draw(event_of(ALL_TYPES[t]))) for t in FOLDED_TAGS]
    events += draw(st.lists(st.builds(NewEvent, streams, any_event), max_size=6))
    events = draw(st.permutations(events))
    cmds: Commands = []
    while len(events) > sum(len(batch) for _, batch in cmds):
        start = sum(len(batch) for _, batch in cmds)
        cmds.append((draw(actors), events[start : start + draw(st.integers(1, 10))]))
    return cmds


def fed(projection: AnalyticsProjection | StateProjection, cmds: Commands) -> bool:
    """Whether the commands hold an event the projection folds."""
    return any(e.event.event_tag() in projection.tags for _, batch in cmds for e in batch)


INVARIANT = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""The invariant tests' settings: the number of examples comes from the profile."""


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 200 examples, three DuckDB files each: ~100 s on 2 idle cores
@INVARIANT
@given(cmds=feeding_every_projection(), data=st.data())
def test_analytics_incremental_equals_rebuild_and_prefix_plus_catch_up(
    cmds: Commands, data: st.DataObject
) -> None:
    """For any journal, each analytics projection's tables and tracked position are the same
    whether it caught up after every append (incremental), was rebuilt from the whole journal
    (full rebuild), or was rebuilt up to any position and then caught up with the rest
    (rebuild(prefix) + catch-up); every projection is fed in every example."""
    projections = all_analytics_projections()
    assert all(fed(p, cmds) for p in projections)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        journal = Journal.open(folder / "journal.sqlite")
        try:
            # Incremental: the live path, one catch-up after each append.
            live = Analytics(folder / "inc.duckdb")
            runner = ProjectionRunner(journal, live, analytics_projections=projections)
            for n, command in enumerate(cmds):
                append_all(journal, [command], offset=n)
                runner.catch_up()
            live.close()
            head = journal.head()

            full_path = folder / "full.duckdb"
            page = data.draw(st.integers(1, 32), label="full rebuild page size")
            rebuild(journal, full_path, all_analytics_projections(), page_size=page)

            split = data.draw(st.integers(0, head), label="prefix end")
            prefix_path = folder / "prefix.duckdb"
            page = data.draw(st.integers(1, 32), label="prefix rebuild page size")
            rebuild(journal, prefix_path, all_analytics_projections(), to=split, page_size=page)
            resumed = Analytics(prefix_path)
            ProjectionRunner(
                journal, resumed, analytics_projections=all_analytics_projections()
            ).catch_up()
            resumed.close()
        finally:
            journal.close()
        full = snapshot(full_path, projections)
        assert snapshot(folder / "inc.duckdb", projections) == full
        assert snapshot(prefix_path, projections) == full
        assert all(pos == head for _, pos, _ in full["@positions"])


@pytest.mark.slow
@INVARIANT
@given(cmds=feeding_every_projection(), data=st.data())
def test_state_incremental_equals_rebuild_and_prefix_plus_catch_up(
    cmds: Commands, data: st.DataObject
) -> None:
    """For any journal, each state projection's snapshot and position are the same whether it
    followed every append (incremental), folded the whole journal from scratch (full rebuild),
    or folded up to any position and then caught up with the rest (rebuild(prefix) +
    catch-up); every projection is fed in every example."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "journal.sqlite")
        try:
            check_state_invariant(journal, cmds, data)
        finally:
            journal.close()


def check_state_invariant(journal: Journal, cmds: Commands, data: st.DataObject) -> None:
    """The state invariant on an empty ``journal`` of either backend (``tests/integration/
    postgres`` runs it on PostgreSQL): incremental == full fold == prefix fold + catch-up."""
    assert all(fed(cls(), cmds) for cls in state_projection_types())
    states = [cls() for cls in state_projection_types()]
    runner = ProjectionRunner(journal, None, state=states)
    for n, command in enumerate(cmds):
        append_all(journal, [command], offset=n)
        runner.catch_up()

    fresh_states = [cls() for cls in state_projection_types()]
    page = data.draw(st.integers(1, 32), label="full fold page size")
    ProjectionRunner(journal, None, state=fresh_states, page_size=page).catch_up()

    split = data.draw(st.integers(0, journal.head()), label="prefix end")
    prefix_states = [cls() for cls in state_projection_types()]
    page = data.draw(st.integers(1, 32), label="prefix fold page size")
    prefix_runner = ProjectionRunner(journal, None, state=prefix_states, page_size=page)
    prefix_runner.catch_up(to=split)
    prefix_runner.catch_up()
    head = journal.head()
    assert state_snapshots(states) == state_snapshots(fresh_states)
    assert state_snapshots(prefix_states) == state_snapshots(fresh_states)
    assert {s.position for s in fresh_states} == {head}


INVARIANT_TESTS: Sequence[object] = (
    test_analytics_incremental_equals_rebuild_and_prefix_plus_catch_up,
    test_state_incremental_equals_rebuild_and_prefix_plus_catch_up,
)


@pytest.mark.parametrize("test", INVARIANT_TESTS, ids=lambda t: getattr(t, "__name__", "?"))
def test_the_test_command_checks_each_projection_200_times(test: object) -> None:
    """The profile the test command selects (``--hypothesis-profile=suite`` in pyproject's
    addopts) runs at least 200 examples, and the invariant tests take their count from it: they
    set no ``max_examples`` of their own (one did, 10, which checked each projection 10 times)."""
    assert SUITE_EXAMPLES >= 200
    assert settings.get_profile("suite").max_examples == SUITE_EXAMPLES
    addopts = pytest_addopts()
    assert "--hypothesis-profile=suite" in addopts.split()
    own = getattr(test, "_hypothesis_internal_use_settings", None)
    assert own is not None, "not a Hypothesis test"
    assert own.max_examples == settings().max_examples, "the test overrides the profile"


def pytest_addopts() -> str:
    """The ``addopts`` of the pytest configuration in pyproject.toml."""
    import tomllib

    root = Path(__file__).resolve().parents[3]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return str(config["tool"]["pytest"]["ini_options"]["addopts"])
