"""A rebuild split with a child process (``projections.parallel``) builds exactly the tables,
positions and faults of a rebuild in one process and of a live, page-by-page catch-up."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from benchmarks.journal import generate
from events.journal import Journal, JournalCorruptError
from projections.analytics import Analytics
from projections.columns import Table
from projections.parallel import (
    WORKER_PROJECTIONS,
    RebuildWorkerError,
    Worker,
    cgroup_cpu_quota,
    memory_limit_of_cgroup,
    split,
)
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner

EVENTS = 3_000


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal of the benchmark's realistic mix (audits, bars re-fetched over one another,
    flow alerts, quotes, failed fetches, scans, trades opened, noted and closed, watchlists)."""
    folder = tmp_path_factory.mktemp("varied")
    generate(folder / "journal.sqlite", EVENTS, seed=11)
    return folder


def _copy(varied: Path, to: Path) -> Path:
    to.mkdir()
    shutil.copy(varied / "journal.sqlite", to / "journal.sqlite")
    return to


def _tables(path: Path) -> dict[str, Any]:
    """Every table of an analytics file as sorted rows (order-insensitive, as verify compares),
    and the positions (without the rebuild time)."""
    analytics = Analytics(path, read_only=True)
    try:
        con = analytics.connection
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        out: dict[str, Any] = {}
        for name in sorted(names):
            if name == "projection_positions":
                sql = "SELECT name, position, schema_version FROM projection_positions"
            else:
                sql = f"SELECT * FROM {name}"
            out[name] = sorted(con.execute(sql).fetchall(), key=repr)
        return out
    finally:
        analytics.close()


def _rebuilt(folder: Path, *, jobs: int, page_size: int = 25_000) -> dict[str, Any]:
    journal = Journal.open(folder / "journal.sqlite")
    try:
        report = rebuild(
            journal,
            folder / "analytics.duckdb",
            all_analytics_projections(),
            jobs=jobs,
            page_size=page_size,
        )
    finally:
        journal.close()
    assert report.events_read == EVENTS
    assert report.faults == []
    return _tables(folder / "analytics.duckdb")


def test_a_split_rebuild_builds_the_tables_of_one_process_and_of_a_live_catch_up(
    varied: Path, tmp_path: Path
) -> None:
    """The same journal three ways: rebuilt in one process, rebuilt split with a child, caught up
    live a page of 250 at a time. Every table (as a multiset of rows) and every projection's
    position are equal, the child's share of the projections included; no part file is left."""
    one = _rebuilt(_copy(varied, tmp_path / "one"), jobs=1)
    two_dir = _copy(varied, tmp_path / "two")
    two = _rebuilt(two_dir, jobs=2)
    live_dir = _copy(varied, tmp_path / "live")
    journal = Journal.open(live_dir / "journal.sqlite")
    analytics = Analytics(live_dir / "analytics.duckdb")
    try:
        runner = ProjectionRunner(
            journal, analytics, analytics_projections=all_analytics_projections(), page_size=250
        )
        assert runner.catch_up() == EVENTS
    finally:
        analytics.close()
        journal.close()
    live = _tables(live_dir / "analytics.duckdb")

    assert two == one
    assert live == one
    for name in ("bars", "flow_alerts", "trades", "journal_events", "commands", "fetches"):
        assert one[name], f"the varied journal gives {name} rows"
    positions = {name: position for name, position, _ in one["projection_positions"]}
    assert positions == {p.name: EVENTS for p in all_analytics_projections()}
    assert not [p.name for p in two_dir.iterdir() if ".rebuild-" in p.name]


def test_the_split_is_chosen_only_where_it_pays() -> None:
    """By default: one process under a memory limit, below ``MIN_EVENTS`` or without an idle
    second CPU; a split
    gives the child ``WORKER_PROJECTIONS`` and keeps the rest; ``jobs`` overrides."""
    projections = all_analytics_projections()
    assert split(projections, 10**6, "48MB") == (projections, [])
    assert split(projections, 1_000, None) == (projections, [])
    ours, theirs = split(projections, 1_000, "48MB", jobs=2)
    assert {p.name for p in theirs} == WORKER_PROJECTIONS
    assert {p.name for p in ours} | WORKER_PROJECTIONS == {p.name for p in projections}
    assert split(projections, 10**6, None, jobs=1) == (projections, [])
    # Nothing to share: a split of the child's projections alone stays in one process.
    alone = [p for p in projections if p.name in WORKER_PROJECTIONS]
    assert split(alone, 10**6, None, jobs=2) == (alone, [])


def test_a_failed_child_is_an_error_naming_it(tmp_path: Path) -> None:
    """A child that cannot build (here: no journal at its path) fails the rebuild with
    ``RebuildWorkerError`` quoting its last words, not silently."""
    worker = Worker(
        tmp_path / "missing.sqlite",
        tmp_path / "part.duckdb",
        ["bars"],
        stop=10,
        page_size=100,
        commit_every=0,
    )
    with pytest.raises(RebuildWorkerError, match="no journal at"):
        worker.wait()
    worker.stop()


def _tree(root: Path, files: dict[str, str], proc: str) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "proc").write_text(proc)
    return root / "proc"


def test_the_container_limits_are_read_from_cgroup_v1_and_v2(tmp_path: Path) -> None:
    """The ADR's box as cgroup v1 (quota 25000/100000 us, 512 MiB) and as v2 (``cpu.max``,
    ``memory.max``) reads 0.25 CPU and 512 MiB; unlimited groups ("max", v1's huge number, no
    files at all) read as no limit."""
    v1 = tmp_path / "v1"
    proc = _tree(
        v1,
        {"cpu,cpuacct/box/cpu.cfs_quota_us": "25000\n", "cpu,cpuacct/box/cpu.cfs_period_us":
         "100000\n", "memory/box/memory.limit_in_bytes": f"{512 * 1024**2}\n"},
        "4:memory:/box\n3:cpu,cpuacct:/box\n",
    )  # fmt: skip
    assert cgroup_cpu_quota(v1, proc) == 0.25
    assert memory_limit_of_cgroup(v1, proc) == 512 * 1024**2
    v2 = tmp_path / "v2"
    proc = _tree(
        v2, {"box/cpu.max": "25000 100000\n", "box/memory.max": "536870912\n"}, "0::/box\n"
    )
    assert (cgroup_cpu_quota(v2, proc), memory_limit_of_cgroup(v2, proc)) == (0.25, 536870912)
    free = tmp_path / "free"
    proc = _tree(
        free,
        {"cpu.max": "max 100000\n", "memory.max": "max\n"},
        "0::/\n",
    )
    assert (cgroup_cpu_quota(free, proc), memory_limit_of_cgroup(free, proc)) == (None, None)
    huge = tmp_path / "huge"
    proc = _tree(huge, {"memory/memory.limit_in_bytes": "9223372036854771712\n"}, "4:memory:/\n")
    assert memory_limit_of_cgroup(huge, proc) is None
    assert cgroup_cpu_quota(tmp_path / "none", tmp_path / "missing") is None


def test_a_split_rebuild_of_a_changed_journal_refuses_and_leaves_nothing(
    varied: Path, tmp_path: Path
) -> None:
    """A changed byte in a stored bar (a projection the child builds, so only the parent's chain
    check can catch it): the split rebuild raises ``JournalCorruptError`` at that position and
    no fresh or part file is left beside the analytics file (none is swapped in either)."""
    folder = _copy(varied, tmp_path / "changed")
    con = sqlite3.connect(folder / "journal.sqlite")
    position, state = con.execute(
        "SELECT rowid, state FROM stored_events WHERE topic = 'bars_fetched' ORDER BY rowid DESC"
    ).fetchone()
    con.execute(
        "UPDATE stored_events SET state = ? WHERE rowid = ?",
        (state[:-1] + bytes([state[-1] ^ 1]), position),
    )
    con.commit()
    con.close()
    journal = Journal.open(folder / "journal.sqlite")
    try:
        with pytest.raises(JournalCorruptError, match=f"journal fault at position {position} "):
            rebuild(journal, folder / "analytics.duckdb", all_analytics_projections(), jobs=2)
    finally:
        journal.close()
    assert not [p.name for p in folder.iterdir() if p.name.startswith("analytics.duckdb")]


def _declarations(path: Path) -> list[tuple[str, str]]:
    analytics = Analytics(path, read_only=True)
    try:
        return sorted(
            analytics.connection.execute("SELECT table_name, sql FROM duckdb_tables()").fetchall()
        )
    finally:
        analytics.close()


def test_a_split_rebuild_over_many_pages_keeps_each_keys_latest_row_and_the_declarations(
    varied: Path, tmp_path: Path
) -> None:
    """The child appends each page's bars and flow alerts without their key and the merge keeps
    each key's latest row, then adds the key: over pages of 250 events (bars re-fetched on
    later pages) the tables equal a one-process rebuild's, and so do the tables' declarations
    (keys included)."""
    one_dir = _copy(varied, tmp_path / "one")
    one = _rebuilt(one_dir, jobs=1, page_size=250)
    two_dir = _copy(varied, tmp_path / "two")
    two = _rebuilt(two_dir, jobs=2, page_size=250)

    assert two == one
    assert _declarations(two_dir / "analytics.duckdb") == _declarations(
        one_dir / "analytics.duckdb"
    )
    assert {"bars", "flow_alerts"} <= WORKER_PROJECTIONS


def test_appended_batches_copy_each_keys_last_row_as_upserts_keep_it() -> None:
    """Batches appended to a table without its key (a key repeated within a batch and across
    batches), then copied with ``latest``, give the rows that upserting the same batches in
    turn gives: each key's last row, the key added back."""
    table = Table(
        "marks",
        pa.schema([("symbol", pa.string()), ("day", pa.int64()), ("value", pa.int64())]),
        ("symbol", "day"),
    )
    batches = [
        {"symbol": ["A", "B", "A"], "day": [1, 1, 1], "value": [1, 2, 3]},
        {"symbol": ["B", "C", "B", "A"], "day": [1, 1, 1, 2], "value": [4, 5, 6, 7]},
        {"symbol": ["C"], "day": [1], "value": [8]},
    ]
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA part")
        appended = Table(f"part.{table.name}", table.schema, table.key)
        con.execute(table.ddl())
        con.execute(appended.ddl(keyed=False))
        for batch in batches:
            table.load_latest(con, batch)
            appended.load_latest(con, batch, append=True)
        expected = sorted(con.execute("SELECT * FROM marks").fetchall())
        con.execute("DELETE FROM marks")
        table.copy_from(con, "part.marks", latest=True)

        assert sorted(con.execute("SELECT * FROM marks").fetchall()) == expected
        assert expected == [("A", 1, 3), ("A", 2, 7), ("B", 1, 6), ("C", 1, 8)]
        assert con.execute("SELECT count(*) FROM part.marks").fetchone() == (8,)
    finally:
        con.close()
