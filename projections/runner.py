"""Keeps every projection caught up with the journal, and rebuilds analytics atomically.

Catch-up is a page-batched pull loop over the journal (the library's ``ProjectionRunner`` needs
``subscribe()``, which its SQLite recorder lacks, and its follower commits once per event): read a
page of thousands of events, decode only the tags some projection consumes, apply them, and commit
each analytics projection's rows and its new position in one DuckDB transaction. Applying a
position twice changes nothing: a projection only ever sees positions above its tracked one.

Side effects are never projections, so nothing here can post, call or fetch: a rebuild is safe.

Catch-up and rebuild (``projections.rebuild``) share this loop, its page loader and its isolation
of a faulty event (``PageLoader``), which keeps "applying a position twice changes nothing" in one
place.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol

import duckdb

from events.codec import EventCodec
from events.journal import Journal, RowPage
from projections.analytics import Analytics, Tracking, remove_rebuild_leftovers
from projections.base import AnalyticsProjection, Page, ProjectionFault, StateProjection

log = logging.getLogger(__name__)

PAGE_SIZE = 10_000
Progress = Callable[[int], None]


class ProjectionRunner:
    """Applies journal events to state projections (memory) and analytics projections (DuckDB)."""

    def __init__(
        self,
        journal: Journal,
        analytics: Analytics | None,
        *,
        state: Sequence[StateProjection] = (),
        analytics_projections: Sequence[AnalyticsProjection] = (),
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.journal = journal
        self.analytics = analytics
        self.state = list(state)
        self.analytics_projections = list(analytics_projections)
        self.page_size = page_size
        self._lock = threading.Lock()
        self._analytics_faults: dict[str, ProjectionFault] = {}
        self._faults_read = False
        if analytics is not None:
            if journal.writer_lock is not None:
                remove_rebuild_leftovers(analytics.path)
            prepare(analytics, self.analytics_projections)

    def faults(self) -> list[ProjectionFault]:
        """Every projection that stopped at an event it could not apply (as of the last
        catch-up: cheap enough for every command's state)."""
        return [
            *(sp.fault for sp in self.state if sp.fault is not None),
            *self._analytics_faults.values(),
        ]

    def positions(self) -> dict[str, int]:
        """Applied position per projection (state and analytics)."""
        out = {p.name: p.position for p in self.state}
        if self.analytics is not None:
            tracked = self.analytics.tracking()
            for p in self.analytics_projections:
                out[p.name] = tracked[p.name].position if p.name in tracked else 0
        return out

    def catch_up(self, *, to: int | None = None, progress: Progress | None = None) -> int:
        """Bring every projection up to ``to`` (default: the journal head); return events read."""
        with self._lock:
            if self.analytics is not None and self.analytics.reopen_if_swapped():
                # A rebuild swapped the file in; projections it did not carry start again at 0.
                prepare(self.analytics, self.analytics_projections)
            read = _catch_up(
                self.journal,
                self.analytics,
                self.state,
                self.analytics_projections,
                to=to,
                page_size=self.page_size,
                progress=progress,
            )
            if self.analytics is not None and (read or not self._faults_read):
                with self.analytics.cursor() as cur:
                    self._analytics_faults = read_faults(cur)
                self._faults_read = True
            return read


def fault_messages(*runners: ProjectionRunner | None) -> list[str]:
    """What ``/about`` and ``/readyz`` say of the runners' stopped projections."""
    # Duck-typed: a stand-in runner without fault tracking (a test double) reports none.
    found: list[list[ProjectionFault]] = [
        getattr(r, "faults", list)() for r in runners if r is not None
    ]
    return [f.message() for faults in found for f in faults]


FAULTS_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_faults (name VARCHAR PRIMARY KEY, "
    "position BIGINT NOT NULL, tag VARCHAR NOT NULL, error VARCHAR NOT NULL)"
)
"""Per analytics projection, the event it could not apply (it stopped just before it)."""


def read_faults(con: duckdb.DuckDBPyConnection) -> dict[str, ProjectionFault]:
    """The recorded faults of an analytics file (none in a file from before the table)."""
    try:
        rows = con.execute("SELECT name, position, tag, error FROM projection_faults").fetchall()
    except duckdb.CatalogException:
        return {}
    return {r[0]: ProjectionFault(r[0], int(r[1]), r[2], r[3]) for r in rows}


def prepare(analytics: Analytics, projections: Sequence[AnalyticsProjection]) -> None:
    """Create tables and tracking rows; reset a projection whose schema version changed."""
    con = analytics.connection
    tracked = analytics.tracking()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(FAULTS_DDL)
        for p in projections:
            t = tracked.get(p.name)
            if t is not None and t.schema_version != p.schema_version:
                p.drop(con)
                con.execute("DELETE FROM projection_positions WHERE name = ?", [p.name])
                con.execute("DELETE FROM projection_faults WHERE name = ?", [p.name])
                t = None
            p.create(con)
            if t is None:
                con.execute(
                    "INSERT INTO projection_positions VALUES (?, 0, ?, NULL)",
                    [p.name, p.schema_version],
                )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


class EventSource(Protocol):
    """What the runner reads: a ``Journal``, or a read-only ``JournalReader`` (verify)."""

    codec: EventCodec

    def head(self) -> int:
        """The last position."""
        ...

    def row_pages(
        self,
        start: int = 1,
        stop: int | None = None,
        *,
        tags: Sequence[str] = (),
        page_size: int = ...,
        check_chain: bool = ...,
    ) -> Iterator[RowPage]:
        """Pages of stored rows covering consecutive position ranges (each row's chain link
        checked unless ``check_chain`` is false)."""
        ...


@contextmanager
def _gc_paused(big: bool) -> Iterator[None]:
    # A long replay allocates millions of short-lived, acyclic objects; the cyclic collector
    # rescanning the growing heap cost more than decoding itself (measured: up to 10x on some
    # event types). Paused only for runs longer than a page, and restored after.
    if not big or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _catch_up(
    journal: EventSource,
    analytics: Analytics | None,
    state: Sequence[StateProjection],
    projections: Sequence[AnalyticsProjection],
    *,
    to: int | None,
    page_size: int,
    progress: Progress | None,
    commit_every: int = 0,
    check_chain: bool = True,
    threaded: bool = True,
) -> int:
    tracked: dict[str, Tracking] = analytics.tracking() if analytics is not None else {}
    faults = read_faults(analytics.connection) if analytics is not None else {}
    # A projection that stopped at a fault is left there (``journal rebuild`` retries it).
    projections = [p for p in projections if p.name not in faults]
    applied = {p.name: tracked[p.name].position for p in projections if p.name in tracked}
    live_state = [sp for sp in state if sp.fault is None]
    starts = [p.position for p in live_state] + [applied.get(p.name, 0) for p in projections]
    if not starts:
        return 0
    start = min(starts) + 1
    head = journal.head()
    stop = head if to is None else min(to, head)
    if start > stop:
        return 0
    wanted: set[str] = set()
    for sp in live_state:
        wanted |= sp.tags
    for ap in projections:
        wanted |= ap.tags
    state_tags = frozenset(t for sp in live_state for t in sp.tags)
    # Read only the rows someone consumes; when everything is wanted, skip the filter.
    tags = () if wanted >= journal.codec.tags else sorted(wanted)
    big = stop - start >= page_size
    loader = (
        PageLoader(
            analytics, projections, applied, commit_every=commit_every, threaded=big and threaded
        )
        if analytics is not None and projections
        else None
    )
    try:
        with _gc_paused(big):
            pages = journal.row_pages(
                start, stop, tags=tags, page_size=page_size, check_chain=check_chain
            )
            _pages(journal.codec, pages, live_state, state_tags, loader, progress)
    except _IsolateError as again:
        # A projection failed inside a transaction spanning several pages, which was rolled
        # back: go again from what is committed, a page per transaction, so that the failing
        # event is isolated on its own page (PageLoader._isolate).
        log.info("projection %s failed in a multi-page transaction; isolating", again.name)
        return again.read + _catch_up(
            journal, analytics, state, projections,
            to=to, page_size=page_size, progress=progress, commit_every=0,
            check_chain=check_chain, threaded=threaded,
        )  # fmt: skip
    return stop - start + 1


def _pages(
    codec: EventCodec,
    pages: Iterator[RowPage],
    live_state: Sequence[StateProjection],
    state_tags: frozenset[str],
    loader: PageLoader | None,
    progress: Progress | None,
) -> None:
    """Apply ``pages`` one at a time to the state projections and the loader."""
    read = 0
    try:
        for rows in pages:
            page = Page(codec, rows.first, rows.last, rows.rows)
            if live_state:
                envelopes = page.envelopes(state_tags)
                for sp in live_state:
                    for env in envelopes:
                        sp.apply(env)
                    # Positions without a consumed tag still count as applied.
                    if sp.fault is None:
                        sp.position = max(sp.position, page.last)
            if loader is not None:
                loader.submit(page)
            read += page.last - page.first + 1
            if progress is not None:
                progress(page.last - page.first + 1)
        if loader is not None:
            loader.finish()
    except _IsolateError as again:
        again.read = read
        raise
    finally:
        if loader is not None:
            loader.abort()


class _IsolateError(Exception):
    """A projection failed on a page of a multi-page transaction (rolled back): redo carefully."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.read = 0


class PageLoader:
    """Applies pages to analytics projections: rows and positions in one DuckDB transaction.

    - ``commit_every``: the events a transaction may span (0: one transaction per page, what a
      live catch-up does). A rebuild writes a file nobody reads before the swap, and each DuckDB
      commit of a page cost about as much as inserting it (measured: 700k bar rows in 40
      commits 2.9 s, in 5 commits 1.1 s), so it commits every few pages. The position recorded
      is always that of the rows in the same transaction.
    - ``limits``: a projection named there gets no page ending above its limit (``journal
      verify`` rebuilds each projection up to its own tracked position; its pages end there).
    - ``threaded``: page N is loaded on one worker thread while the caller reads and decodes
      page N+1 (DuckDB and SQLite release the GIL while they work). The page's payloads are
      decoded by the caller before the hand-over, so the worker only builds columns and
      inserts. At most one page is in flight, so memory stays bounded by two pages.

    Measured on 1M events (2 cores): the worker is the bottleneck (busy ~14 of ~16 s, the
    caller waits ~7 s), and most of its time is DuckDB inserting Arrow tables, which needs the
    GIL back for every scan it sets up: one insert of 113k flow alerts takes 0.6 s alone and
    3.5 s beside a busy Python thread. Tried and dropped, no gain beyond the noise (±15 %
    here): reading the next page ahead on a third thread, building the Arrow tables on the
    caller's thread, and a shorter ``sys.setswitchinterval``.
    """

    def __init__(
        self,
        analytics: Analytics,
        projections: Sequence[AnalyticsProjection],
        applied: dict[str, int],
        *,
        commit_every: int = 0,
        threaded: bool = False,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        self.analytics = analytics
        self.projections = list(projections)
        self.applied = applied
        self.commit_every = commit_every
        self.limits = dict(limits or {})
        self._decoded = frozenset(t for p in self.projections if p.payloads for t in p.tags)
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-loader")
            if threaded
            else None
        )
        self._pending: Future[None] | None = None
        self._open = False
        self._uncommitted = 0
        self.faults: dict[str, ProjectionFault] = read_faults(analytics.connection)

    def submit(self, page: Page) -> None:
        """Apply ``page`` (on the worker thread when threaded, after the previous page)."""
        if self._executor is None:
            self._apply(page)
            return
        page.decode(self._decoded)
        self._wait()
        self._pending = self._executor.submit(self._apply, page)

    def finish(self) -> None:
        """Wait for the last page and commit what is open."""
        self._wait()
        if self._open:
            self.analytics.connection.execute("COMMIT")
            self._open = False

    def abort(self) -> None:
        """Stop the worker; roll back an open transaction (a no-op after ``finish``)."""
        try:
            if self._pending is not None:
                self._pending.exception()  # wait; the error already reached the caller
                self._pending = None
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            if self._open:
                self._open = False
                self.analytics.connection.execute("ROLLBACK")

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _apply(self, page: Page) -> None:
        con = self.analytics.connection
        if not self._open:
            con.execute("BEGIN TRANSACTION")
            self._open = True
            self._uncommitted = 0
        moved: list[str] = []
        stops: dict[str, int] = {}
        while True:
            try:
                moved = self._load(page, stops)
                break
            except _ProjectionFailedError as failed:
                # DuckDB has no savepoints: the transaction goes, and with it this page's rows
                # of every projection (and earlier pages', when it spanned several).
                _rollback(con)
                if self._uncommitted:
                    self._open = False
                    raise _IsolateError(failed.name) from failed.error
                fault = self._isolate(failed.projection, page, failed.error)
                stops[fault.name] = fault.position - 1
                con.execute("BEGIN TRANSACTION")
                con.execute(
                    "INSERT OR REPLACE INTO projection_faults VALUES (?, ?, ?, ?)",
                    [fault.name, fault.position, fault.tag, fault.error],
                )
                self.faults[fault.name] = fault
                log.error("%s", fault.message())
        for name in moved:
            self.applied[name] = stops.get(name, page.last)
        self._uncommitted += page.last - page.first + 1
        if self._uncommitted >= self.commit_every:
            con.execute("COMMIT")
            self._open = False

    def _load(self, page: Page, stops: Mapping[str, int]) -> list[str]:
        """Load ``page`` into every projection (those in ``stops`` only up to their stop)."""
        con = self.analytics.connection
        moved: list[str] = []
        positions: list[int] = []
        for p in self.projections:
            if p.name in self.faults and p.name not in stops:
                continue
            done = self.applied.get(p.name, 0)
            if done >= page.last or page.last > self.limits.get(p.name, page.last):
                continue
            stop = stops.get(p.name, page.last)
            if stop > done:
                try:
                    p.load_page(con, page if stop == page.last else _upto(page, stop), after=done)
                except Exception as exc:
                    raise _ProjectionFailedError(p, exc) from exc
            moved.append(p.name)
            positions.append(stop)
        if moved:
            # One statement for the page (a DuckDB statement costs ~1 ms to plan; eight a page
            # were 0.35 s of a 1M-event rebuild), in the same transaction as the rows.
            con.execute(
                "UPDATE projection_positions SET position = moved.position FROM (SELECT "
                "unnest(?::VARCHAR[]) AS name, unnest(?::BIGINT[]) AS position) AS moved "
                "WHERE projection_positions.name = moved.name",
                [moved, positions],
            )
        return moved

    def _isolate(self, p: AnalyticsProjection, page: Page, error: Exception) -> ProjectionFault:
        """The first event of ``page`` that ``p`` cannot load (found by bisection, each probe in a
        transaction rolled back), with the error it raised."""
        con = self.analytics.connection
        done = self.applied.get(p.name, 0)
        candidates = [page.rows[i][0] for i in page.indices(p.tags, after=done)]
        low, high = 0, len(candidates) - 1  # the first failing candidate is in low..high
        while low < high:
            middle = (low + high) // 2
            con.execute("BEGIN TRANSACTION")
            try:
                p.load_page(con, _upto(page, candidates[middle]), after=done)
            except Exception as exc:
                high, error = middle, exc
            else:
                low = middle + 1
            finally:
                _rollback(con)
        position = candidates[low] if candidates else page.first
        tag = next((r[3] for r in page.rows if r[0] == position), "?")
        return ProjectionFault(p.name, position, tag, f"{type(error).__name__}: {error}")


class _ProjectionFailedError(Exception):
    def __init__(self, projection: AnalyticsProjection, error: Exception) -> None:
        super().__init__(projection.name)
        self.projection = projection
        self.name = projection.name
        self.error = error


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back; an error may already have ended the transaction (DuckDB then has none)."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")


def _upto(page: Page, last: int) -> Page:
    """``page`` cut after position ``last`` (decoded afresh: only failures take this path)."""
    return Page(page.codec, page.first, last, [r for r in page.rows if r[0] <= last])
