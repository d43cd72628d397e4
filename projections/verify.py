"""``journal verify``: check a journal and its projections, report precisely, never repair.

What is checked, in one pass over the journal (read-only SQLite connection, so the file stays
byte-identical):

0. every event's link in the journal's hash chain holds (``events.chain``): a changed byte is a
   ``journal_fault`` at its position, never a projection difference (the projections are then
   not compared: a rebuild from a faulty journal proves nothing);
1. positions are gap-free from 1 (the library's rowids);
2. every event decodes, after upcasting, into today's types (unknown tags and corrupt bytes are
   named with their positions);
3. each stream's versions run 1, 2, 3, … in position order;
4. the ``command_ids`` table matches the events: every command's events form one run of positions
   equal to its recorded span, and no row points elsewhere;
5. each analytics projection equals a fresh rebuild of itself up to its tracked position, built
   into a temporary file from the same pages and compared table by table (order-insensitive,
   ``rebuilt_at`` ignored). Skipped, and said so, when the analytics file is held by a running
   bot, is missing, or the journal itself is unsound.

Over 500 lines on purpose: the checks are one pass over the journal that shares its pages and
its findings; the analytics comparison (``_LiveAnalytics``, ``_compare``) is the seam to split
at if it grows.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from events.chain import broken_links
from events.codec import EventDecodeError
from events.journal import JournalReader, Row, fault_message
from projections.analytics import Analytics, AnalyticsBusyError, AnalyticsCorruptError, Tracking
from projections.base import AnalyticsProjection, Page, ProjectionFault
from projections.rebuild import REBUILD_COMMIT_EVENTS, limit_memory, page_size_for
from projections.runner import PageLoader, _gc_paused, _IsolateError, prepare, read_faults
from projections.verify_sql import CommandRuns, stream_count, version_problems

MAX_LISTED = 20  # problems of one kind listed one by one; the rest are counted
VERIFY_MEMORY_LIMIT = "48MB"
"""verify's default DuckDB limit, below a rebuild's: a check may take longer, and it must fit the
container (1M events in 0.25 vCPU / 0.5 GiB: anonymous peak 334 -> 270 MiB, 127 -> 157 s)."""


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """One thing found wrong, with where it is."""

    kind: str
    message: str
    positions: list[int] = []
    stream: str | None = None
    table: str | None = None


class ProjectionCheck(msgspec.Struct, frozen=True):
    """The outcome for one analytics projection: ``ok``, ``differs``, or why it was skipped."""

    name: str
    position: int
    outcome: str


class VerifyReport(msgspec.Struct, frozen=True):
    """Everything ``journal verify`` found."""

    head: int
    events_checked: int
    streams: int
    commands: int
    problems: list[Problem]
    projections: list[ProjectionCheck]
    analytics: str
    seconds: float
    omitted: int = 0
    chain: str = "checked"
    """How far the hash chain was checked (a journal from before it is chained on the next open
    by a writer)."""

    @property
    def sound(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


class _Findings:
    """Collects problems, listing the first few of each kind and counting the rest."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.per_kind: dict[str, int] = {}
        self.omitted = 0

    def add(self, problem: Problem) -> None:
        n = self.per_kind.get(problem.kind, 0) + 1
        self.per_kind[problem.kind] = n
        if n <= MAX_LISTED:
            self.problems.append(problem)
        else:
            self.omitted += 1


def verify(
    journal_path: Path,
    analytics_path: Path,
    projections: Sequence[AnalyticsProjection],
    *,
    page_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
    memory_limit: str | None = None,
) -> VerifyReport:
    """Check the journal and the projections; never writes to either.

    ``memory_limit`` (``300MB``; default ``VERIFY_MEMORY_LIMIT``) bounds the fresh rebuild's
    DuckDB and sizes the pages.
    """
    memory_limit = memory_limit or VERIFY_MEMORY_LIMIT
    page_size = page_size_for(memory_limit, page_size)
    started = time.perf_counter()
    found = _Findings()
    reader = JournalReader(journal_path)
    try:
        head = reader.head()
        _check_positions(reader.connection, head, found)
        live = _LiveAnalytics.open(analytics_path)
        targets = live.targets(projections, head) if live.usable else {}
        with tempfile.TemporaryDirectory(prefix="ibpicker-verify-") as tmp:
            fresh = Analytics(Path(tmp) / "fresh.duckdb") if targets else None
            try:
                if fresh is not None:
                    limit_memory(fresh, memory_limit)
                    prepare(fresh, [p for p in projections if p.name in targets])
                scan = _scan(reader, head, found, fresh, projections, targets, page_size, progress)
                checks = _compare(
                    live, fresh, projections, targets, scan.journal_sound, scan.fresh_failed
                )
                fresh_faults = read_faults(fresh.connection) if fresh is not None else {}
            finally:
                if fresh is not None:
                    fresh.close()
                live.close()
    finally:
        reader.close()
    for fault in [*live.faults.values(), *fresh_faults.values()]:
        if fault.name in fresh_faults and fresh_faults[fault.name] == live.faults.get(fault.name):
            continue  # the same fault, found again by the fresh rebuild: reported once
        found.add(
            Problem(kind="projection_fault", message=fault.message(), positions=[fault.position])
        )
    if scan.fresh_failed is not None:
        found.add(Problem(kind="projection_fault", message=scan.fresh_failed))
    for check in checks:
        if check.outcome.startswith("differs"):
            found.add(
                Problem(
                    kind="projection",
                    message=f"projection {check.name} at position {check.position} {check.outcome}",
                )
            )
    return VerifyReport(
        head=head,
        events_checked=scan.events,
        streams=scan.streams,
        commands=scan.commands,
        problems=found.problems,
        projections=checks,
        analytics=live.status,
        seconds=round(time.perf_counter() - started, 3),
        omitted=found.omitted,
        chain=_chain_note(scan.unchained, head),
    )


def _chain_note(unchained: int, head: int) -> str:
    if not unchained:
        return f"checked: every link of positions 1..{head} holds" if head else "empty journal"
    return (
        f"{unchained:,} events were written before the journal had its hash chain and are not "
        "chained yet: the next writer to open the journal (bot, console, sync pull, journal "
        "rebuild) computes it"
    )


def _check_positions(con: sqlite3.Connection, head: int, found: _Findings) -> None:
    count, low = con.execute("SELECT COUNT(*), MIN(rowid) FROM stored_events").fetchone()
    if count == head and (low or 1) == 1:
        return
    # Find the missing ranges (cheap: runs only when the count says something is missing).
    gaps = con.execute(
        "SELECT prev + 1, rowid - 1 FROM (SELECT rowid, LAG(rowid, 1, 0) OVER (ORDER BY rowid) "
        "AS prev FROM stored_events) WHERE rowid - prev > 1 LIMIT ?",
        (MAX_LISTED,),
    ).fetchall()
    for first, last in gaps:
        span = f"{first}" if first == last else f"{first}..{last}"
        found.add(
            Problem(
                kind="gap",
                message=f"positions {span} are missing ({last - first + 1} events)",
                positions=[first, last],
            )
        )


class _Scan(msgspec.Struct):
    events: int = 0
    streams: int = 0
    commands: int = 0
    journal_sound: bool = True
    unchained: int = 0
    fresh_failed: str | None = None


def _check_chain(
    reader: JournalReader, rows: list[Row], first: int, last: int, found: _Findings, chained: int
) -> int:
    """Report every broken link of the page; return how many rows are past the chain's end.

    A row past the chain's end (``chained``) belongs to a journal written before the chain: not a
    fault, said in the report. A missing entry before its end is a fault (a removed row).
    """
    stored = reader.chain_hashes(first - 1, last)
    by_position = {r[0]: r for r in rows}
    faults = list(broken_links(rows, stored))
    faults += [r[0] for r in rows if r[0] <= chained and r[0] not in stored]
    for position in sorted(faults):
        found.add(
            Problem(
                kind="journal_fault", message=fault_message(by_position[position]),
                positions=[position],
            )
        )  # fmt: skip
    return sum(1 for r in rows if r[0] > chained)


def _scan(
    reader: JournalReader,
    head: int,
    found: _Findings,
    fresh: Analytics | None,
    projections: Sequence[AnalyticsProjection],
    targets: dict[str, int],
    page_size: int,
    progress: Callable[[int], None] | None,
) -> _Scan:
    codec = reader.codec
    chained = reader.chain_end()
    runs = CommandRuns(
        lambda message, positions: found.add(
            Problem(kind="command_ids", message=message, positions=positions)
        )
    )
    runs.load_spans(reader.path)
    scan = _Scan()
    problems_before = len(found.problems) + found.omitted
    # Stream versions in SQL over the journal's own table (memory bounded; see verify_sql), before
    # the pages, so a journal with a version problem is not rebuilt for a comparison.
    for stream, position, message in version_problems(reader.connection, head):
        found.add(Problem("stream_version", message, positions=[position], stream=stream))
    rebuilding = [p for p in projections if p.name in targets]
    applied: dict[str, int] = dict.fromkeys(targets, 0)
    # Page boundaries at every tracked position, so each projection stops exactly at its own.
    bounds = sorted({*targets.values(), head})

    loader = (
        PageLoader(
            fresh,
            rebuilding,
            applied,
            commit_every=REBUILD_COMMIT_EVENTS,
            threaded=head > page_size,
            limits=targets,
        )
        if fresh is not None and rebuilding
        else None
    )
    start = 1
    with _gc_paused(head > page_size):
        try:
            for bound in bounds:
                for rows in reader.row_pages(start, bound, page_size=page_size, check_chain=False):
                    page = Page(codec, rows.first, rows.last, rows.rows)
                    scan.unchained += _check_chain(
                        reader, rows.rows, rows.first, rows.last, found, chained
                    )
                    headers = _headers(page, found)
                    # One decode of every payload serves both the check and the rebuild; only
                    # a page with a bad event is decoded again one event at a time, to name it.
                    all_decoded = _decode_page(page)
                    if not all_decoded:
                        for (position, _, _, tag, _), header in zip(
                            rows.rows, headers, strict=True
                        ):
                            if header is None:
                                continue
                            try:
                                codec.event(tag, header, position=position)
                            except EventDecodeError as exc:
                                found.add(
                                    Problem(kind="decode", message=str(exc), positions=[position])
                                )
                    runs.feed(
                        [r[0] for r, h in zip(rows.rows, headers, strict=True) if h is not None],
                        [h.command_id for h in headers if h is not None],
                    )
                    scan.events += len(rows.rows)
                    sound = len(found.problems) + found.omitted == problems_before
                    if loader is not None and sound and scan.fresh_failed is None:
                        try:
                            loader.submit(page)
                        except _IsolateError as failed:
                            scan.fresh_failed = _fresh_failure(failed, rows.first, rows.last)
                    if progress is not None:
                        progress(rows.last - rows.first + 1)
                start = bound + 1
            runs.close()
            if loader is not None and scan.fresh_failed is None:
                try:
                    loader.finish()
                except _IsolateError as failed:
                    scan.fresh_failed = _fresh_failure(failed, head, head)
        finally:
            runs.discard()  # the scratch file goes, whatever happened
            if loader is not None:
                loader.abort()
    scan.streams = stream_count(reader.connection, head)
    scan.commands = runs.commands
    scan.journal_sound = len(found.problems) + found.omitted == problems_before
    return scan


def _fresh_failure(failed: _IsolateError, first: int, last: int) -> str:
    return (
        f"projection {failed.name} cannot apply an event at or before position {last} "
        f"({failed.__cause__}); `ibpicker journal rebuild` stops it at that event and names it"
    )


def _headers(page: Page, found: _Findings) -> list[Any]:
    try:
        return list(page.headers())
    except EventDecodeError:
        pass
    out: list[Any] = []
    for position, _, _, tag, state in page.rows:
        try:
            out.append(page.codec.header(state, position=position, tag=tag))
        except EventDecodeError as exc:
            found.add(Problem(kind="decode", message=str(exc), positions=[position]))
            out.append(None)
    return out


def _decode_page(page: Page) -> bool:
    """Decode every payload of the page at once; False when some event does not decode."""
    known = page.codec.tags
    if not page.tags() <= known:
        return False  # an unknown tag: named event by event
    try:
        page.decode(known)
    except EventDecodeError:
        return False
    return True


class _LiveAnalytics:
    """What the live analytics file tracks (read once, read-only), or why it cannot be checked."""

    def __init__(
        self,
        path: Path,
        tracking: dict[str, Tracking] | None,
        status: str,
        faults: dict[str, ProjectionFault] | None = None,
    ) -> None:
        self.path = path
        self.tracking = tracking
        self.status = status
        self.faults = faults or {}

    @classmethod
    def open(cls, path: Path) -> _LiveAnalytics:
        if not path.exists():
            return cls(path, None, f"missing: {path} does not exist (projections not built)")
        try:
            live = Analytics(path, read_only=True)
        except AnalyticsBusyError:
            return cls(
                path,
                None,
                f"busy: {path} is held by another process (a running bot?); "
                "projections not checked, the journal was",
            )
        except AnalyticsCorruptError as exc:
            return cls(path, None, f"{exc}; projections not checked, the journal was")
        try:
            with live.cursor() as cur:
                faults = read_faults(cur)
            return cls(path, live.tracking(), "checked", faults)
        finally:
            live.close()

    @property
    def usable(self) -> bool:
        return self.tracking is not None

    def targets(self, projections: Sequence[AnalyticsProjection], head: int) -> dict[str, int]:
        tracked = self.tracking or {}
        # A projection stopped at a fault is rebuilt up to where it stopped, and the fault is
        # reported on its own (the fresh one would stop at the same event).
        return {
            p.name: min(tracked[p.name].position, head)
            for p in projections
            if p.name in tracked and tracked[p.name].schema_version == p.schema_version
        }

    def close(self) -> None:
        """Nothing stays open (kept for symmetry with the fresh file)."""


def _compare(
    live: _LiveAnalytics,
    fresh: Analytics | None,
    projections: Sequence[AnalyticsProjection],
    targets: dict[str, int],
    journal_sound: bool,
    fresh_failed: str | None = None,
) -> list[ProjectionCheck]:
    if live.tracking is None:
        return [ProjectionCheck(p.name, 0, "not checked") for p in projections]
    tracked = live.tracking
    checks: list[ProjectionCheck] = []
    for p in projections:
        t = tracked.get(p.name)
        if t is None:
            checks.append(ProjectionCheck(p.name, 0, "missing from the analytics file"))
        elif t.schema_version != p.schema_version:
            checks.append(
                ProjectionCheck(
                    p.name,
                    t.position,
                    f"schema v{t.schema_version}, code has v{p.schema_version} "
                    "(the next catch-up rebuilds it)",
                )
            )
        elif not journal_sound or fresh is None:
            checks.append(ProjectionCheck(p.name, t.position, "not checked: journal unsound"))
        elif fresh_failed:
            checks.append(
                ProjectionCheck(p.name, t.position, "not checked: the fresh rebuild failed")
            )
        else:
            differs = _differing_tables(live.path, fresh, p)
            outcome = "ok" if not differs else "differs: " + "; ".join(differs)
            checks.append(ProjectionCheck(p.name, targets[p.name], outcome))
    return checks


def _differing_tables(live: Path, fresh: Analytics, p: AnalyticsProjection) -> list[str]:
    con = fresh.connection
    con.execute(f"ATTACH '{live}' AS live (READ_ONLY)")
    try:
        out: list[str] = []
        for table in p.tables:
            exists = con.execute(
                "SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = ? AND database_name = ?",
                [table, "live"],
            ).fetchone()
            if exists is None or not exists[0]:
                if _is_table(con, table):
                    out.append(f"table {table} is missing")
                continue
            try:
                extra, lacking = _multiset_difference(con, f"live.{table}", table)
            except duckdb.Error as exc:
                out.append(f"table {table} has another shape: {exc}")
                continue
            if extra or lacking:
                out.append(
                    f"table {table}: {extra} rows not in a fresh rebuild, "
                    f"{lacking} rows of the fresh rebuild missing"
                )
        return out
    finally:
        con.execute("DETACH live")


def _is_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = ? AND database_name <> 'live'",
        [table],
    ).fetchone()
    return bool(row and row[0])


def _multiset_difference(con: duckdb.DuckDBPyConnection, live: str, fresh: str) -> tuple[int, int]:
    """Rows of ``live`` missing from ``fresh`` and rows of ``fresh`` missing from ``live``.

    Counted as multisets (duplicates count, NULLs equal), as ``EXCEPT ALL`` both ways would,
    with one grouping over both tables instead of two set operations (half the hashing; on
    200k events the comparison of every projection took 1.8 s with ``EXCEPT ALL``).
    """
    # Table names come from projection code, never from input.
    row = con.execute(
        "SELECT coalesce(sum(d) FILTER (WHERE d > 0), 0), "  # noqa: S608
        "coalesce(-sum(d) FILTER (WHERE d < 0), 0) FROM ("
        "SELECT * EXCLUDE (_verify_side), sum(_verify_side) AS d FROM ("
        f"SELECT *, 1 AS _verify_side FROM {live} "
        f"UNION ALL SELECT *, -1 AS _verify_side FROM {fresh}"
        ") GROUP BY ALL)"
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
