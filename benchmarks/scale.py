"""Benchmark of the scale path: the journal on PostgreSQL next to the SQLite file, in one run.

    .venv/bin/python benchmarks/scale.py                                 # full run
    .venv/bin/python benchmarks/scale.py --commands 600 --lag-seconds 3 --rebuild-events 20000

It starts its own PostgreSQL server (Debian's binaries, ``tests.support.postgres``, with
PostgreSQL's durable defaults: ``fsync`` on) on 127.0.0.1, stops it at the end, and measures:

- commands/s with 1, 2 and 4 writer processes appending to PostgreSQL at once, next to one
  writer process appending to a SQLite journal; the same commands (one audit event each, own
  command id), ``--commands`` in all per run, split between the writers;
- the time the writers waited for the library's EXCLUSIVE table lock (``lock_wait_s``);
- replica catch-up lag: one process appends a steady ``--rate`` commands/s (200 by default) for
  ``--lag-seconds``; another (the replica) follows the shared journal, woken by the journal's
  ``NOTIFY``, and catches its analytics projections up (DuckDB); the lag of an event is the time
  from its append to the end of the catch-up that applied it;
- rebuild of every analytics projection from ``--rebuild-events`` events (1,000,000 by default)
  read from PostgreSQL and from SQLite (the same events: generated as ``benchmarks/journal.py``
  does, then copied with ``journal migrate``'s ``events.postgres.migrate``).

The issue's goals: ``pg_writers4_vs_pg1_ratio`` ≥ 1 (contention does not collapse throughput),
``pg1_vs_sqlite_ratio`` ≥ 0.5, ``lag_p99_ms`` ≤ 1000. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

from benchmarks._common import percentile, print_json_last, say, timed
from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import Journal, JournalReader

ACTOR = Actor(guild_id=1, user_id=2)
CHANNEL = "stored_events"  # the library's NOTIFY channel for its events table


def _journal(target: str) -> Journal:
    """``target`` is a PostgreSQL URL or a SQLite file path."""
    if target.startswith("postgresql://"):
        return Journal.open("", url=target)
    return Journal.open(Path(target))


def child_writer(target: str, name: str, count: int, rate: float) -> None:
    """Append ``count`` one-event commands (paced at ``rate``/s when > 0) after a ``GO`` line;
    print one JSON line: start, end (monotonic), latencies, lock wait."""
    journal = _journal(target)
    print("READY", flush=True)
    sys.stdin.readline()
    latencies: list[float] = []
    start = time.monotonic()
    for i in range(count):
        if rate > 0:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        began = time.perf_counter()
        journal.append(
            [NewEvent(f"audit:{name}", CommandHandled(name="status", latency_ms=3.0))],
            command_id=f"{name}-{i}",
            actor=ACTOR,
            recorded_at=datetime.now(UTC),
        )
        latencies.append(time.perf_counter() - began)
    end = time.monotonic()
    lock_wait = float(getattr(journal, "lock_wait_s", 0.0))
    journal.close()
    print(json.dumps({"start": start, "end": end, "latencies": latencies, "lock": lock_wait}))


def _child_command(target: str, name: str, count: int, rate: float) -> list[str]:
    return [sys.executable, __file__, "--child", target, name, str(count), str(rate)]


def writers(target: str, processes: int, commands: int, *, rate: float = 0.0) -> dict[str, Any]:
    """Run ``processes`` writer children at once; their combined commands/s and figures."""
    each = commands // processes
    children = [
        subprocess.Popen(
            _child_command(target, f"w{n}-{time.monotonic_ns()}", each, rate),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("GO\n")
        child.stdin.flush()
    results = [json.loads(child.communicate()[0].splitlines()[-1]) for child in children]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    return {
        "commands_per_s": round(each * processes / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "lock_wait_s": round(sum(r["lock"] for r in results), 3),
        "lock_wait_share": round(sum(r["lock"] for r in results) / (wall * processes), 3),
    }


def replica_lag(url: str, data_dir: Path, rate: float, seconds: float) -> list[float]:
    """Lags (s) of every event appended at ``rate``/s, seen by a replica's analytics catch-up."""
    import psycopg

    from projections.workspace import Workspace

    workspace = Workspace.open(data_dir, journal_url=url)  # the replica: its own DuckDB file
    listener = psycopg.connect(url, autocommit=True)
    listener.execute(f"LISTEN {CHANNEL}")
    total = int(rate * seconds)
    writer = subprocess.Popen(
        _child_command(url, "steady", total, rate),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdin is not None
    assert writer.stdout.readline().strip() == "READY"
    seen = workspace.journal.head()
    target = seen + total
    lags: list[float] = []
    writer.stdin.write("GO\n")
    writer.stdin.flush()
    try:
        while seen < target:
            for _ in listener.notifies(timeout=0.05, stop_after=1):
                pass
            workspace.catch_up()
            applied_at = datetime.now(UTC)
            head = workspace.journal.head()
            for page in workspace.journal.read(seen + 1, head):
                lags += [(applied_at - env.recorded_at).total_seconds() for env in page]
            seen = head
    finally:
        writer.communicate()
        listener.close()
        workspace.close()
    return lags


def rebuild_seconds(journal: Journal, folder: Path) -> float:
    """Seconds to rebuild every analytics projection from ``journal`` into a new file."""
    from projections.rebuild import rebuild
    from projections.registry import all_analytics_projections

    with timed() as t:
        rebuild(journal, folder / "analytics.duckdb", all_analytics_projections(), jobs=1)
    return t.seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, on a server of its own; the figures."""
    from benchmarks.journal import generate
    from events.postgres import migrate
    from tests.support.postgres import PostgresServer

    server = PostgresServer(durable=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="ibpicker-scale-") as tmp:
            folder = Path(tmp)
            sqlite = writers(str(folder / "w" / "journal.sqlite"), 1, args.commands)
            say(f"sqlite, 1 writer:   {sqlite['commands_per_s']:>8,.0f} commands/s  "
                f"p50 {sqlite['p50_ms']} ms  p99 {sqlite['p99_ms']} ms")  # fmt: skip
            pg: dict[int, dict[str, Any]] = {}
            for n in (1, 2, 4):
                url = server.create_database()
                Journal.open("", url=url).close()
                pg[n] = writers(url, n, args.commands)
                say(f"postgres, {n} writer{'s' if n > 1 else ' '}: "
                    f"{pg[n]['commands_per_s']:>8,.0f} commands/s  p50 {pg[n]['p50_ms']} ms  "
                    f"p99 {pg[n]['p99_ms']} ms  lock waited {pg[n]['lock_wait_s']} s "
                    f"({pg[n]['lock_wait_share']:.0%} of the writers' time)")  # fmt: skip

            url = server.create_database()
            Journal.open("", url=url).close()
            lags = replica_lag(url, folder / "replica", args.rate, args.lag_seconds)
            lag = {
                "p50": round(percentile(lags, 50) * 1000, 1),
                "p99": round(percentile(lags, 99) * 1000, 1),
                "max": round(max(lags) * 1000, 1),
            }
            say(f"replica lag at {args.rate:.0f} commands/s over {len(lags):,} events: "
                f"p50 {lag['p50']} ms  p99 {lag['p99']} ms  max {lag['max']} ms")  # fmt: skip

            source = folder / "big" / "journal.sqlite"
            generate(source, args.rebuild_events)
            url = server.create_database()
            reader, target = JournalReader(source), Journal.open("", url=url)
            with timed() as copy:
                migrate(reader, target, page_size=20_000)
            reader.close()
            say(f"migrated {args.rebuild_events:,} events to postgres in {copy.seconds:.1f} s")
            from_pg = rebuild_seconds(target, folder / "pg-rebuild")
            target.close()
            on_file = Journal.open(source)
            from_sqlite = rebuild_seconds(on_file, folder / "big")
            on_file.close()
            say(f"rebuild of {args.rebuild_events:,} events: postgres {from_pg:.1f} s, "
                f"sqlite {from_sqlite:.1f} s")  # fmt: skip
    finally:
        server.stop()
    ratio4 = pg[4]["commands_per_s"] / pg[1]["commands_per_s"]
    ratio_sqlite = pg[1]["commands_per_s"] / sqlite["commands_per_s"]
    say(f"4 writers vs 1 on postgres: {ratio4:.2f}x (goal >= 1); 1 postgres writer vs sqlite: "
        f"{ratio_sqlite:.2f}x (goal >= 0.5); lag p99 {lag['p99']} ms (goal <= 1000)")  # fmt: skip
    return {
        "commands": args.commands,
        "sqlite1_commands_per_s": sqlite["commands_per_s"],
        **{f"pg{n}_commands_per_s": pg[n]["commands_per_s"] for n in pg},
        **{f"pg{n}_p99_ms": pg[n]["p99_ms"] for n in pg},
        **{f"pg{n}_lock_wait_s": pg[n]["lock_wait_s"] for n in pg},
        "lag_rate_per_s": args.rate,
        "lag_p50_ms": lag["p50"],
        "lag_max_ms": lag["max"],
        "rebuild_events": args.rebuild_events,
        "rebuild_pg_s": round(from_pg, 2),
        "rebuild_sqlite_s": round(from_sqlite, 2),
        "rebuild_pg_vs_sqlite_ratio": round(from_pg / from_sqlite, 2),
        "pg_writers4_vs_pg1_ratio": round(ratio4, 2),
        "pg1_vs_sqlite_ratio": round(ratio_sqlite, 2),
        "lag_p99_ms": lag["p99"],
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; run the benchmark, or one writer child (``--child``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        target, name, count, rate = argv[1:5]
        child_writer(target, name, int(count), float(rate))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=4000, help="commands per writer run")
    parser.add_argument("--rate", type=float, default=200.0, help="steady commands/s for lag")
    parser.add_argument("--lag-seconds", type=float, default=15.0, help="how long the lag run")
    parser.add_argument("--rebuild-events", type=int, default=1_000_000)
    print_json_last(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
