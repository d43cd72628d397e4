"""The earnings projection records when each date was learned: ``learned_at``, the recorded time
of the first fetch that brought it (journal order), kept when a later fetch names it again; a
rebuild (in one process or split with the child) gives the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from events.base import Actor, NewEvent
from events.journal import Journal
from events.market import EarningsDate, EarningsFetched
from projections.analytics import Analytics
from projections.market import EarningsProjection
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner
from tests.property.core.harness import snapshot

T1 = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)
T2 = datetime(2024, 4, 2, 22, 0, tzinfo=UTC)
T3 = datetime(2024, 4, 20, 22, 0, tzinfo=UTC)
APRIL_25 = date(2024, 4, 25)


def fetched(*entries: tuple[str, date, str]) -> NewEvent:
    """One ``earnings_fetched`` of ``(symbol, day, announce time)`` entries."""
    dates = [EarningsDate(symbol=s, day=d, announce_time=t) for s, d, t in entries]
    return NewEvent("earnings", EarningsFetched(source="test", entries=dates))


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """AAPL's April 25 fetched at T1, fetched again at T2 (now with its time of day) beside
    MSFT's April 30, and AAPL's again at T3: three commands."""
    j = Journal.open(tmp_path / "journal.sqlite")
    j.append(
        [fetched(("AAPL", APRIL_25, "unknown"))], command_id="f1", actor=Actor(), recorded_at=T1
    )
    j.append(
        [fetched(("AAPL", APRIL_25, "amc"), ("MSFT", date(2024, 4, 30), "unknown"))],
        command_id="f2",
        actor=Actor(),
        recorded_at=T2,
    )
    j.append([fetched(("AAPL", APRIL_25, "amc"))], command_id="f3", actor=Actor(), recorded_at=T3)
    yield j
    j.close()


def rows(analytics: Analytics) -> list[tuple[Any, ...]]:
    """The earnings table: symbol, day, announce time, position, learned at (UTC)."""
    with analytics.cursor() as cur:
        found = cur.execute(
            "SELECT symbol, day, announce_time, position, learned_at FROM earnings ORDER BY 1, 2"
        ).fetchall()
    return [(*row[:4], row[4].astimezone(UTC)) for row in found]


EXPECTED = [
    ("AAPL", APRIL_25, "amc", 3, T1),
    ("MSFT", date(2024, 4, 30), "unknown", 2, T2),
]
"""Each date's first fetch time, whatever fetched it since; the rest of the row the latest's."""


def test_learned_at_is_the_first_fetch_of_a_date_in_one_batch_or_across_batches(
    journal: Journal, tmp_path: Path
) -> None:
    """Applied in one page, or one command at a time (the earlier row already stored), each
    date keeps the recorded time of the first fetch that named it; the position and the
    announce time follow the latest fetch."""
    once = Analytics(tmp_path / "once.duckdb")
    ProjectionRunner(journal, once, analytics_projections=[EarningsProjection()]).catch_up()
    assert rows(once) == EXPECTED
    once.close()
    stepwise = Analytics(tmp_path / "steps.duckdb")
    runner = ProjectionRunner(journal, stepwise, analytics_projections=[EarningsProjection()])
    for position in (1, 2, 3):
        runner.catch_up(to=position)
    assert rows(stepwise) == EXPECTED
    stepwise.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_rebuild_gives_the_same_learned_times(
    journal: Journal, tmp_path: Path, jobs: int
) -> None:
    """A rebuild from the journal (in this process, or with the child process that folds the
    earnings in a split rebuild) writes the same rows as the live catch-up."""
    path = tmp_path / "a.duckdb"
    live = Analytics(path)
    ProjectionRunner(journal, live, analytics_projections=all_analytics_projections()).catch_up()
    live.close()
    before = snapshot(path, [EarningsProjection()])
    assert rebuild(journal, path, all_analytics_projections(), jobs=jobs).swapped
    assert snapshot(path, [EarningsProjection()]) == before
    again = Analytics(path)
    assert rows(again) == EXPECTED
    again.close()
