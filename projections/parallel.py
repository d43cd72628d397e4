"""A rebuild split over two processes: a share of the projections is built by a child process.

One Python process tops out at about 55,000 events/s in a rebuild here: reading, checking the
hash chain, decoding and building columns are Python work that one GIL serialises, and DuckDB's
inserts wait for it too. Projections are independent of one another, so a child process
(``python -m projections.parallel``) builds ``WORKER_PROJECTIONS`` into a file of its own while
this process builds the rest; as soon as the child is done, a thread of this one copies the
child's tables, positions and faults in (``Merging``) while it still builds its own. Each
process runs the same ``_catch_up`` as a one-process rebuild, so the tables are the same
(``tests/unit/projections/test_parallel_rebuild.py`` compares them on a varied journal).

Only where a second CPU is there and not taken (``spare_cpu``: the affinity mask and a cgroup's
CPU quota, against the load average; the ADR's container has a quarter of one). Measured on 1M
events on this 2-core machine (``benchmarks/journal.py --rebuild-only``, medians of 3) at a load
average of 0.7-1.4: 5.7-6.8 s split (10.6-12.4 s of CPU) against 10.2-11.4 s in one process
(11.8-13.0 s of CPU); under a load of 5-8 no gain. And not under ``--memory-limit`` (which asks
for the small footprint of one process). The child reads the journal read-only without checking
its hash chain: this process reads every row and checks each (``JournalCorruptError`` stops
both). Split, neither uses ``PageLoader``'s loader thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from events.journal import JournalReader
from projections.analytics import Analytics, AnalyticsError
from projections.base import AnalyticsProjection

WORKER_PROJECTIONS = frozenset({"trades", "bars", "flow_alerts", "earnings", "fetches"})
"""Built by the child. Measured by stage on 1M events (load ~1): the child 4.2-4.6 s of CPU
(trades, bars, flow alerts and fetches about 1.3, 0.8, 0.55 and 0.25 of it, reading its rows
0.45, decoding 0.7), done 4.4-4.9 s in; this process's own catch-up ends 5.2-5.7 s in (reading
every row 1.25 s, checking the chain 0.9 and reading its hashes 0.4, the event index 1.3,
commands 0.5, signals 0.2), the merge (~0.9 s of CPU on its thread) within about 0.3 s of it,
then the last checkpoint ~0.25 s. The two sides end together (trades built here and commands
there instead: this process ended ~1 s later). Fetches went to the child with bars and flow
alerts, whose payloads it decodes anyway (this process decoded them again only to count them)."""
CGROUPS = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
MIN_EVENTS = 200_000
"""Below this the child's start (about a second of imports) costs more than it saves."""


class RebuildWorkerError(AnalyticsError):
    """The child process of a split rebuild failed (its last words are in the message)."""


def usable_cpus() -> float:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (v2 or
    v1) where one is set."""
    cpus = float(len(os.sched_getaffinity(0)))
    quota = cgroup_cpu_quota()
    return min(cpus, quota) if quota is not None else cpus


def spare_cpu() -> bool:
    """Whether a second usable CPU is there and the last minute's load average (which counts
    this process's own work too) stayed below the usable CPUs."""
    cpus = usable_cpus()
    return cpus >= 2 and os.getloadavg()[0] < cpus


def cgroup_cpu_quota(root: Path = CGROUPS, proc: Path = PROC_CGROUP) -> float | None:
    """This process's cgroup CPU quota in CPUs (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us`` over
    its period; ``None`` where there is none)."""
    v2 = _cgroup_file("", "cpu.max", root, proc)  # "max 100000" or "25000 100000"
    if v2 is not None:
        limit, period = v2.split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    quota = _cgroup_file("cpu", "cpu.cfs_quota_us", root, proc)
    period_us = _cgroup_file("cpu", "cpu.cfs_period_us", root, proc)
    if quota is None or period_us is None or int(quota) <= 0:
        return None
    return int(quota) / int(period_us)


def memory_limit_of_cgroup(root: Path = CGROUPS, proc: Path = PROC_CGROUP) -> int | None:
    """This process's cgroup memory limit in bytes (v2 ``memory.max`` or v1
    ``memory.limit_in_bytes``; ``None`` where there is none)."""
    text = _cgroup_file("", "memory.max", root, proc) or _cgroup_file(
        "memory", "memory.limit_in_bytes", root, proc
    )
    if text is None or text.strip() == "max":
        return None
    limit = int(text)
    return None if limit >= 1 << 60 else limit  # v1 writes "no limit" as a huge number


def _cgroup_file(controller: str, name: str, root: Path, proc: Path) -> str | None:
    """A file of this process's cgroup: a v1 ``controller``'s group, or (``controller`` "") the
    v2 group; ``None`` when it is not there or not readable."""
    try:
        # /proc/self/cgroup lines read "4:memory:/box" (v1) or "0::/box" (v2).
        for line in proc.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller and controller in controllers.split(","):
                base = root / controllers
                if not base.exists():
                    base = root / controller
            elif not controller and controllers == "":
                base = root
            else:
                continue
            for group in (base / path.lstrip("/"), base):  # a namespaced mount shows "/"
                if (group / name).exists():
                    return (group / name).read_text().strip()
    except (OSError, ValueError):
        return None
    return None


def readable_file(journal: object) -> bool:
    """Whether ``journal`` is a SQLite file a child process can open read-only."""
    path = getattr(journal, "path", None)
    return isinstance(path, Path) and path.suffix != "" and path.is_file()


def split(
    projections: Sequence[AnalyticsProjection],
    events: int,
    memory_limit: str | None,
    *,
    jobs: int | None = None,
) -> tuple[list[AnalyticsProjection], list[AnalyticsProjection]]:
    """(this process's projections, the child's). ``jobs`` 1 or 2 decides; by default (None) the
    child's list is empty when a split does not pay: one CPU, a small rebuild, a memory limit.
    Either list may not be empty for a split (nothing to share: one process)."""
    theirs = [p for p in projections if p.name in WORKER_PROJECTIONS]
    ours = [p for p in projections if p.name not in WORKER_PROJECTIONS]
    if jobs is None:
        pays = memory_limit is None and events >= MIN_EVENTS and spare_cpu()
        jobs = 2 if pays else 1
    if jobs < 2 or not ours or not theirs:
        return list(projections), []
    return ours, theirs


class Worker:
    """The child process building ``names`` into ``part`` up to position ``stop``."""

    def __init__(
        self,
        journal_path: Path,
        part: Path,
        names: Sequence[str],
        *,
        stop: int,
        page_size: int,
        commit_every: int,
    ) -> None:
        self.part = part
        args = {
            "journal": str(journal_path),
            "part": str(part),
            "names": list(names),
            "stop": stop,
            "page_size": page_size,
            "commit_every": commit_every,
            "parent": os.getpid(),
        }
        self.process = subprocess.Popen(  # noqa: S603 (our own module; arguments are ours)
            [sys.executable, "-m", __name__, json.dumps(args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait(self) -> None:
        """Wait for the child; ``RebuildWorkerError`` when it failed."""
        _, err = self.process.communicate()
        if self.process.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-3:]
            raise RebuildWorkerError(
                f"the rebuild's child process failed (exit {self.process.returncode}): "
                + " / ".join(last)
            )

    def stop(self) -> None:
        """Kill the child if it still runs (this process failed first)."""
        if self.process.returncode is None:
            self.process.kill()
            self.process.communicate()


class Merging:
    """The child's tables copied into ``fresh`` as soon as the child is done, on a thread of
    this process and a connection of its own, while this process still builds its share.

    The copy runs inside DuckDB, which lets go of the GIL, on the core the child has freed:
    off the end of the rebuild (measured on 1M events: ~1 s of copying that ran after both
    processes were done). The two connections write different tables in transactions of their
    own (and different rows of ``projection_positions``).
    """

    def __init__(
        self, fresh: Analytics, worker: Worker, projections: Sequence[AnalyticsProjection]
    ) -> None:
        self.worker = worker
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild-merge")
        self._done = self._executor.submit(self._run, fresh.connection.cursor(), projections)

    def _run(
        self, con: duckdb.DuckDBPyConnection, projections: Sequence[AnalyticsProjection]
    ) -> None:
        try:
            self.worker.wait()
            merge(con, self.worker.part, projections)
        finally:
            con.close()

    def result(self) -> None:
        """Wait for the copy; ``RebuildWorkerError`` when the child failed."""
        self._done.result()

    def stop(self) -> None:
        """End the child if it still runs and wait for this thread (a failure or the end)."""
        if self.worker.process.returncode is None:
            with contextlib.suppress(OSError):
                self.worker.process.kill()
        self._executor.shutdown(wait=True)


def merge(
    con: duckdb.DuckDBPyConnection, part: Path, projections: Sequence[AnalyticsProjection]
) -> None:
    """Copy ``projections``' tables, positions and faults from ``part`` into the database of
    ``con`` (whose tables for them exist and are empty), in one transaction."""
    con.execute(f"ATTACH '{part}' AS part (READ_ONLY)")
    try:
        con.execute("BEGIN TRANSACTION")
        for p in projections:
            for table in p.declared:
                table.copy_from(con, f"part.{table.name}", latest=p.defers_keys)
            con.execute(
                "UPDATE projection_positions SET position = theirs.position FROM "
                "part.projection_positions AS theirs WHERE projection_positions.name = ? "
                "AND theirs.name = projection_positions.name",
                [p.name],
            )
            con.execute(
                "INSERT OR REPLACE INTO projection_faults "
                "SELECT * FROM part.projection_faults WHERE name = ?",
                [p.name],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DETACH part")


def _exit_with(parent: int) -> None:
    """End this child when its parent is gone (killed with ``kill -9``): its part file is
    removed by the next writer's start, and nobody would read it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child(args: dict[str, Any]) -> None:
    """Build the named projections into the part file (the child's whole life)."""
    from projections.rebuild import limit_memory
    from projections.registry import all_analytics_projections
    from projections.runner import _catch_up, prepare

    _exit_with(args["parent"])
    names = set(args["names"])
    chosen = [p for p in all_analytics_projections() if p.name in names]
    if len(chosen) != len(names):
        raise SystemExit(f"unknown projections: {sorted(names - {p.name for p in chosen})}")
    for p in chosen:
        # Appended here, each key's latest row taken by ``merge``: upserting through the key
        # cost about 4x an append (bars, flow alerts).
        p.deferred = p.defers_keys
    reader = JournalReader(Path(args["journal"]))
    part = Analytics(Path(args["part"]))
    try:
        limit_memory(part)
        prepare(part, chosen)
        _catch_up(
            reader,
            part,
            (),
            chosen,
            to=args["stop"],
            page_size=args["page_size"],
            progress=None,
            commit_every=args["commit_every"],
            check_chain=False,  # the parent checks every row
            threaded=False,  # the parent has the other core
        )
        part.connection.execute("CHECKPOINT")
    finally:
        part.close()
        reader.close()


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))  # a failure prints its traceback and exits 1
    # The part file is checkpointed and closed: the interpreter's teardown (freeing the heap a
    # million events left) would only delay the parent's merge, which waits for this exit.
    sys.stderr.flush()
    os._exit(0)
