"""The invariant every projection keeps: incremental == full rebuild == rebuild(prefix) + catch-up.

Covers every analytics projection of ``projections.registry.all_analytics_projections()`` and
every state projection in the ``projections`` package, so projections added later are covered
without touching this file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.base import Actor, NewEvent
from events.journal import Journal
from projections.analytics import Analytics
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner, rebuild
from tests.property.core.harness import (
    append_all,
    snapshot,
    state_projection_types,
    state_snapshots,
)
from tests.property.core.strategies import commands

Commands = list[tuple[Actor, list[NewEvent]]]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=commands(), data=st.data())
def test_incremental_equals_rebuild_and_prefix_plus_catch_up(
    cmds: Commands, data: st.DataObject
) -> None:
    """For any command sequence: catching up after every append, rebuilding everything, and
    rebuilding a prefix then catching up the rest all give the same tables, positions and state."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        journal = Journal.open(folder / "journal.sqlite")
        try:
            # Incremental: the live path, one catch-up after each append.
            live = Analytics(folder / "inc.duckdb")
            states = [cls() for cls in state_projection_types()]
            runner = ProjectionRunner(
                journal, live, state=states, analytics_projections=all_analytics_projections()
            )
            for n, command in enumerate(cmds):
                append_all(journal, [command], offset=n)
                runner.catch_up()
            live.close()
            head = journal.head()

            full_path = folder / "full.duckdb"
            rebuild(journal, full_path, all_analytics_projections(), page_size=7)
            fresh_states = [cls() for cls in state_projection_types()]
            ProjectionRunner(journal, None, state=fresh_states, page_size=5).catch_up()

            split = data.draw(st.integers(0, head), label="prefix end")
            prefix_path = folder / "prefix.duckdb"
            rebuild(journal, prefix_path, all_analytics_projections(), to=split, page_size=3)
            resumed = Analytics(prefix_path)
            ProjectionRunner(
                journal, resumed, analytics_projections=all_analytics_projections()
            ).catch_up()
            resumed.close()
            prefix_states = [cls() for cls in state_projection_types()]
            prefix_runner = ProjectionRunner(journal, None, state=prefix_states)
            prefix_runner.catch_up(to=split)
            prefix_runner.catch_up()
        finally:
            journal.close()
        projections = all_analytics_projections()
        full = snapshot(full_path, projections)
        assert snapshot(folder / "inc.duckdb", projections) == full
        assert snapshot(prefix_path, projections) == full
        assert all(pos == head for _, pos, _ in full["@positions"])
        assert state_snapshots(states) == state_snapshots(fresh_states)
        assert state_snapshots(prefix_states) == state_snapshots(fresh_states)
