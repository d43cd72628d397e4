"""Rebuilding analytics projections from the journal into a fresh DuckDB file, swapped in.

``rebuild`` builds the chosen projections from position 0 with the same catch-up loop as a live
runner (``projections.runner``), into a file beside the live one, copying the projections not
chosen from the live file unchanged, then renames it over the live file: a live process notices
the new file at its next catch-up. A big rebuild on two usable CPUs is split with a child
process (``projections.parallel``). The memory knobs (``--memory-limit``, the small-box default,
page sizes) are here too: ``journal verify`` builds its fresh file with them as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pyarrow as pa

from events.journal import Journal
from projections import parallel
from projections.analytics import REBUILD_SUFFIX, Analytics, remove_rebuild_leftovers
from projections.base import AnalyticsProjection
from projections.runner import Progress, _catch_up, prepare, read_faults

REBUILD_PAGE_SIZE = 50_000
"""Events per page of a rebuild without a memory limit (with one, ``page_size_for`` sizes them:
the box's 48MB gives ~11,700). Some costs come once per page whatever its size (the trades'
read-back and update each scan the table; statements' planning): measured on 1M events in one
process, 25,000 -> 50,000 took 13.1-13.9 -> 12.3-12.5 s of CPU, for a peak RSS of ~505 MiB
instead of ~430 in one process (two pages in flight) and ~418 instead of ~355 split; 100,000
saved nothing more for ~100 MiB more."""
REBUILD_COMMIT_EVENTS = 200_000
"""A rebuild commits its fresh file every this many events (see ``PageLoader``)."""
SPLIT_COMMIT_EVENTS = 1_000_000
"""The same for each process of a split rebuild, which runs only without a memory limit (each
commit went with a checkpoint of the file: measured on 1M events at a load of 5, split, CPU
7.8-7.9 -> 6.9-7.4 s in this process and 6.6-7.0 -> 5.7-5.9 s in the child, for up to ~90 MiB
more peak RSS in each, DuckDB keeping the uncommitted blocks within its limit)."""
REBUILD_MEMORY_LIMIT = "100MB"
"""DuckDB's memory limit while it builds a fresh file (see ``limit_memory``)."""
SMALL_BOX_BYTES = 1024**3
SMALL_BOX_MEMORY_LIMIT = "48MB"
"""A rebuild's default limit in a cgroup of at most ``SMALL_BOX_BYTES`` (the ADR's container has
0.5 GiB): measured there on 1M events, anonymous peak 316 MiB at 100MB, 250 MiB at 48MB, ~25 %
slower."""


class RebuildReport(msgspec.Struct, frozen=True):
    """What a rebuild did."""

    path: str
    projections: list[str]
    to_position: int
    events_read: int
    seconds: float
    swapped: bool
    faults: list[str] = []
    """Projections that stopped at an event they could not apply (``ProjectionFault.message``)."""


_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3}  # fmt: skip
MIN_PAGE_SIZE = 2_000
PAGE_BYTES_PER_EVENT = 4096
"""Memory one event of a page takes while it is read, decoded and loaded (two pages are in
flight), counted generously: ``--memory-limit`` sizes pages with it."""


def memory_limit_bytes(text: str) -> int:
    """``300MB``, ``512MiB``, ``1.5GB``, ``64mb`` in bytes (DuckDB's units); ``ValueError`` with a
    message saying what is accepted."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"--memory-limit {text!r} is not a size: give a number and a unit, e.g. 300MB, "
            "512MiB or 1GB (units: B, KB, MB, GB, KiB, MiB, GiB)"
        )
    size = int(float(match.group(1)) * unit)
    if size < 16 * 1024**2:
        raise ValueError(f"--memory-limit {text!r} is below 16 MiB: DuckDB cannot work in that")
    return size


def page_size_for(memory_limit: str | None, default: int) -> int:
    """Events per page under ``memory_limit`` (``default`` without one): a page and the one in
    flight beside it stay a small share of it."""
    if memory_limit is None:
        return default
    fits = memory_limit_bytes(memory_limit) // PAGE_BYTES_PER_EVENT
    return max(MIN_PAGE_SIZE, min(default, fits))


def limit_memory(fresh: Analytics, memory_limit: str | None = None) -> None:
    """Bound DuckDB's buffer pool on a file being built from scratch (``memory_limit``, default
    ``REBUILD_MEMORY_LIMIT``), and return Arrow's freed buffers to the system.

    By default DuckDB may keep 80 % of the machine's memory and so keeps every block of the new
    file cached: 145 MiB of a 1M-event rebuild's peak RSS. Blocks it has written can be evicted,
    indexes included (measured: 7M primary-key upserts under a 100 MB limit ran without error),
    so a limit trades a little speed for a bounded footprint beside the live bot. Measured on
    1M events: peak RSS 458-485 -> 408 MiB at 52k events/s (a 64 MB limit: 386 MiB, 46k/s).
    Arrow's default pool (jemalloc/mimalloc) keeps the buffers of every page's tables for reuse;
    the system allocator gives them back (measured on 200k events: 197 -> 134 MiB anonymous).
    """
    limit = REBUILD_MEMORY_LIMIT if memory_limit is None else memory_limit
    memory_limit_bytes(limit)  # checked: the value goes into SQL text
    fresh.connection.execute(f"SET memory_limit = '{limit}'")
    pa.set_memory_pool(pa.system_memory_pool())


def rebuild(
    journal: Journal,
    live_path: Path,
    projections: Sequence[AnalyticsProjection],
    *,
    to: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    page_size: int = REBUILD_PAGE_SIZE,
    memory_limit: str | None = None,
    jobs: int | None = None,
) -> RebuildReport:
    """Rebuild analytics projections into a fresh file beside ``live_path`` and swap it in.

    Projections not named are copied from the live file unchanged (same rows, same positions), so
    a partial rebuild never loses another projection's data. With ``dry_run`` the fresh file is
    built and checked, then deleted. With ``to``, the result stops at that position (a point-in-time
    view; the next catch-up moves it forward). ``memory_limit`` (``300MB``) bounds DuckDB and
    sizes the pages (``page_size_for``); without one, a cgroup of at most ``SMALL_BOX_BYTES``
    gets ``SMALL_BOX_MEMORY_LIMIT``. ``jobs=1`` keeps the rebuild in this process,
    ``jobs=2`` splits it with a child process (``projections.parallel``); by default a big one
    on two usable CPUs is split.
    """
    if memory_limit is None:
        box = parallel.memory_limit_of_cgroup()
        memory_limit = SMALL_BOX_MEMORY_LIMIT if box and box <= SMALL_BOX_BYTES else None
    page_size = page_size_for(memory_limit, page_size)
    started = datetime.now(UTC)
    remove_rebuild_leftovers(live_path)
    fresh_path = live_path.with_name(f"{live_path.name}{REBUILD_SUFFIX}{os.getpid()}")
    names = {p.name for p in projections}
    stop = journal.head() if to is None else min(to, journal.head())
    ours: Sequence[AnalyticsProjection] = projections
    theirs: list[AnalyticsProjection] = []
    if parallel.readable_file(journal):
        ours, theirs = parallel.split(projections, stop, memory_limit, jobs=jobs)
    fresh = Analytics(fresh_path)
    built = False
    worker: parallel.Worker | None = None
    merging: parallel.Merging | None = None
    try:
        limit_memory(fresh, memory_limit)
        _copy_untouched(live_path, fresh, names)
        prepare(fresh, projections)
        if theirs:
            worker = parallel.Worker(
                journal.path,
                fresh_path.with_name(f"{fresh_path.name}.part"),
                [p.name for p in theirs],
                stop=stop,
                page_size=page_size,
                commit_every=SPLIT_COMMIT_EVENTS,
            )
            merging = parallel.Merging(fresh, worker, theirs)
        events_read = _catch_up(
            journal,
            fresh,
            (),
            ours,
            to=stop,
            page_size=page_size,
            progress=progress,
            commit_every=REBUILD_COMMIT_EVENTS if worker is None else SPLIT_COMMIT_EVENTS,
            # Split, each process keeps one core busy alone: a loader thread beside it only
            # fights for the GIL (measured: 9.0-9.7 s instead of 10.0-10.8 s, less CPU).
            threaded=worker is None,
        )
        if merging is not None:
            merging.result()
        con = fresh.connection
        con.execute(
            "UPDATE projection_positions SET rebuilt_at = ? WHERE name IN "  # noqa: S608
            f"({', '.join('?' * len(names))})",
            [started, *sorted(names)],
        )
        con.execute("CHECKPOINT")
        faults = [f.message() for f in read_faults(con).values() if f.name in names]
        built = True
    finally:
        if merging is not None:
            merging.stop()
        if worker is not None:
            worker.stop()
            worker.part.unlink(missing_ok=True)
        fresh.close()
        if not built:  # refused (a journal fault) or failed: the half-built file goes
            remove_rebuild_leftovers(live_path)
    swapped = False
    if dry_run:
        fresh_path.unlink(missing_ok=True)
    else:
        os.replace(fresh_path, live_path)
        swapped = True
    return RebuildReport(
        path=str(live_path),
        projections=sorted(names),
        to_position=to if to is not None else journal.head(),
        events_read=events_read,
        seconds=(datetime.now(UTC) - started).total_seconds(),
        swapped=swapped,
        faults=faults,
    )


def _copy_untouched(live_path: Path, fresh: Analytics, rebuilding: set[str]) -> None:
    """Copy every table not owned by a projection being rebuilt from the live file, if any."""
    if not live_path.exists():
        return
    con = fresh.connection
    try:
        con.execute(f"ATTACH '{live_path}' AS live (READ_ONLY)")
    except Exception:
        return
    try:
        tracked = con.execute(
            "SELECT name, position, schema_version, rebuilt_at FROM live.projection_positions"
        ).fetchall()
        keep = {r[0] for r in tracked if r[0] not in rebuilding}
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'live'"
        ).fetchall()
        owned = _tables_by_projection()
        created: set[str] = set()
        for (table,) in tables:
            owner = owned.get(table)
            if owner is not None and owner.name in keep:
                # Created from the declaration, not ``CREATE TABLE AS`` (which drops the primary
                # key the next upsert needs), then filled.
                if owner.name not in created:
                    owner.create(con)
                    created.add(owner.name)
                con.execute(f"INSERT INTO {table} SELECT * FROM live.{table}")  # noqa: S608
        for r in tracked:
            if r[0] in keep:
                con.execute("INSERT INTO projection_positions VALUES (?, ?, ?, ?)", list(r))
    finally:
        con.execute("DETACH live")


def _tables_by_projection() -> dict[str, AnalyticsProjection]:
    from projections.registry import all_analytics_projections

    return {t: p for p in all_analytics_projections() for t in p.tables}
