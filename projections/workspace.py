"""One data folder opened for work: its journal, its analytics database and the runner over both.

    with Workspace.open(data_dir, state=[TradeBook(), GuildBook()]) as ws:
        ws.journal.append(...)
        ws.catch_up()
        ws.analytics.cursor() ...

The folder holds ``journal.sqlite`` and ``analytics.duckdb`` (DESIGN.md, Embedded default).
Every analytics projection of ``projections.registry`` is kept caught up; state projections are
the caller's (handlers own their in-memory folds) and are brought up to the head at open.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from events.journal import Journal
from projections.analytics import Analytics
from projections.base import AnalyticsProjection, StateProjection
from projections.rebuild import RebuildReport, rebuild
from projections.registry import all_analytics_projections
from projections.runner import Progress, ProjectionRunner

JOURNAL_FILE = "journal.sqlite"
ANALYTICS_FILE = "analytics.duckdb"


def journal_path(data_dir: Path) -> Path:
    """Where the journal of ``data_dir`` lives."""
    return data_dir / JOURNAL_FILE


def analytics_path(data_dir: Path) -> Path:
    """Where the analytics database of ``data_dir`` lives."""
    return data_dir / ANALYTICS_FILE


class Workspace:
    """An open data folder. Close it (or use ``with``) to release both files."""

    def __init__(
        self,
        data_dir: Path,
        journal: Journal,
        analytics: Analytics | None,
        runner: ProjectionRunner,
        projections: Sequence[AnalyticsProjection],
    ) -> None:
        self.data_dir = data_dir
        self.journal = journal
        self.analytics = analytics
        self.runner = runner
        self.projections = list(projections)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        state: Sequence[StateProjection] = (),
        analytics: bool = True,
        catch_up: bool = True,
        journal_url: str | None = None,
    ) -> Workspace:
        """Open the journal (and, unless ``analytics=False``, the analytics file for writing).

        With ``journal_url`` (``postgresql://…``) the journal is that database's, shared with
        other replicas; the analytics file stays in ``data_dir`` (one per replica).

        Raises an ``AnalyticsError`` saying why the analytics file cannot be opened (busy: another
        process holds it; damaged: ``journal rebuild`` makes a new one; a full disk). With
        ``catch_up`` every projection is brought up to the journal head before returning.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal.open(journal_path(data_dir), url=journal_url)
        live: Analytics | None = None
        try:
            projections = all_analytics_projections() if analytics else []
            live = Analytics(analytics_path(data_dir)) if analytics else None
            runner = ProjectionRunner(journal, live, state=state, analytics_projections=projections)
            workspace = cls(data_dir, journal, live, runner, projections)
            if catch_up:
                workspace.catch_up()
        except BaseException:
            if live is not None:
                live.close()
            journal.close()
            raise
        return workspace

    def catch_up(self, *, progress: Progress | None = None) -> int:
        """Bring every projection up to the journal head; return the events read."""
        return self.runner.catch_up(progress=progress)

    def rebuild(
        self,
        names: Sequence[str] = (),
        *,
        to: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        memory_limit: str | None = None,
        jobs: int | None = None,
    ) -> RebuildReport:
        """Rebuild the named analytics projections (all when none) into a fresh file, swap it in.

        The open analytics connection reopens on its next catch-up, as any live process does.
        """
        chosen = [p for p in all_analytics_projections() if not names or p.name in names]
        return rebuild(
            self.journal,
            analytics_path(self.data_dir),
            chosen,
            to=to,
            dry_run=dry_run,
            progress=progress,
            memory_limit=memory_limit,
            jobs=jobs,
        )

    def close(self) -> None:
        """Close the analytics database and the journal."""
        if self.analytics is not None:
            self.analytics.close()
        self.journal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
