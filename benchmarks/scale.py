"""Benchmark of the scale path: the journal on PostgreSQL next to the SQLite file, in one run.

    .venv/bin/python benchmarks/scale.py                                 # full run
    .venv/bin/python benchmarks/scale.py --commands 600 --lag-seconds 3 --rebuild-events 20000

It starts its own PostgreSQL server (Debian's binaries, ``tests.support.postgres``, with
PostgreSQL's durable defaults: ``fsync`` on) on 127.0.0.1, stops it at the end, and measures:

- commands/s with 1, 2 and 4 writer processes appending to PostgreSQL at once, next to one
  writer process appending to a SQLite journal; the same commands (one audit event each, own
  command id), ``--commands`` in all per run, split between the writers, and the writers' own
  CPU time per command (the server's is not counted);
- the SQLite writer twice: as the product runs it (``synchronous=NORMAL``: the WAL is flushed at
  checkpoints, so a commit costs no flush; ``pg1_vs_sqlite_ratio``, the issue's key) and with
  ``synchronous=FULL`` (a flush per commit, the durability class PostgreSQL gives with ``fsync``
  on: the like-for-like ``pg1_vs_sqlite_full_ratio``), through ``Journal.open``'s explicit
  ``synchronous`` setting;
- for information only, one PostgreSQL writer on a database with ``synchronous_commit=off``
  (``pg1_synchronous_commit_off_commands_per_s``): WEAKER durability, a commit is acknowledged
  before its WAL is flushed, so a crash of the server can lose the last ~0.6 s of acknowledged
  appends (the database itself stays consistent);
- the time the writers waited for the library's EXCLUSIVE table lock (``lock_wait_s``, the
  server's time from each transaction's BEGIN to its reads);
- replica catch-up lag: one process appends a steady ``--rate`` commands/s (200 by default) for
  ``--lag-seconds``; the replica is ``sync.replica.ReplicaRuntime``, the follower a bot replica
  runs (woken by the journal's ``NOTIFY``, polling every second without one), catching a
  ``Workspace``'s analytics projections (DuckDB) up to the head as the bot's replica does; the
  lag of an event is the time from its append to the end of the catch-up that applied it;
- rebuild of every analytics projection from ``--rebuild-events`` events (1,000,000 by default)
  read from PostgreSQL and from SQLite (the same events: generated as ``benchmarks/journal.py``
  does, then copied with ``journal migrate``'s ``events.postgres.migrate``).

The issue's goals: ``pg_writers4_vs_pg1_ratio`` ≥ 1 (contention does not collapse throughput),
``pg1_vs_sqlite_ratio`` ≥ 0.5, ``lag_p99_ms`` ≤ 1000. ``pg1_vs_sqlite_full_ratio`` (same
durability on both sides) and ``pg1_synchronous_commit_off_commands_per_s`` (weaker) are
beside them, for reading the first. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

from benchmarks._common import percentile, print_json_last, say, timed
from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import Journal, JournalReader, Synchronous

if TYPE_CHECKING:  # loaded by the lag run only
    from projections.workspace import Workspace

ACTOR = Actor(guild_id=1, user_id=2)


def _journal(target: str, synchronous: Synchronous = "NORMAL") -> Journal:
    """``target`` is a PostgreSQL URL or a SQLite file path (opened with ``synchronous``)."""
    if target.startswith("postgresql://"):
        return Journal.open("", url=target)
    return Journal.open(Path(target), synchronous=synchronous)


def child_writer(
    target: str, name: str, count: int, rate: float, synchronous: Synchronous = "NORMAL"
) -> None:
    """Append ``count`` one-event commands (paced at ``rate``/s when > 0) after a ``GO`` line;
    print one JSON line: start, end (monotonic), latencies, lock wait, CPU seconds."""
    journal = _journal(target, synchronous)
    print("READY", flush=True)
    sys.stdin.readline()
    latencies: list[float] = []
    cpu = time.process_time()
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
    cpu = time.process_time() - cpu
    lock_wait = float(getattr(journal, "lock_wait_s", 0.0))
    journal.close()
    print(
        json.dumps(
            {"start": start, "end": end, "latencies": latencies, "lock": lock_wait, "cpu": cpu}
        )
    )


def _child_command(
    target: str, name: str, count: int, rate: float, synchronous: Synchronous = "NORMAL"
) -> list[str]:
    return [sys.executable, __file__, "--child", target, name, str(count), str(rate), synchronous]


def writers(
    target: str,
    processes: int,
    commands: int,
    *,
    rate: float = 0.0,
    synchronous: Synchronous = "NORMAL",
) -> dict[str, Any]:
    """Run ``processes`` writer children at once; their combined commands/s and figures."""
    each = commands // processes
    children = [
        subprocess.Popen(
            _child_command(target, f"w{n}-{time.monotonic_ns()}", each, rate, synchronous),
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
        "client_cpu_ms": round(sum(r["cpu"] for r in results) / (each * processes) * 1000, 3),
    }


def replica_lag(url: str, data_dir: Path, rate: float, seconds: float) -> list[float]:
    """Lags (s) of every event appended at ``rate``/s, seen by a replica's analytics catch-up."""
    from projections.workspace import Workspace

    # The replica: its own DuckDB file, caught up now (as a replica's start does).
    workspace = Workspace.open(data_dir, journal_url=url)
    total = int(rate * seconds)
    writer = subprocess.Popen(
        _child_command(url, "steady", total, rate),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "READY"
        return asyncio.run(_follow(workspace, writer, total))
    finally:
        writer.communicate()
        workspace.close()


async def _follow(workspace: Workspace, writer: subprocess.Popen[str], total: int) -> list[float]:
    """Start ``sync.replica.ReplicaRuntime`` on ``workspace``, let ``writer`` append ``total``
    commands, and return each event's lag behind the end of the catch-up that applied it."""
    from events.clock import SystemClock
    from sync.replica import ReplicaConfig, ReplicaRuntime

    applied: list[tuple[int, datetime]] = []  # (head reached, when) per catch-up

    async def follow(head: int) -> int:
        # What bot._replica_runtime's follow does, on a thread instead of the service's worker.
        read: int = await asyncio.to_thread(workspace.runner.catch_up, to=head)
        applied.append((head, datetime.now(UTC)))
        return read

    runtime = ReplicaRuntime(
        workspace.journal, ReplicaConfig(health_port=None), follow=follow, clock=SystemClock()
    )
    try:
        seen = (await runtime.start()).head
        await asyncio.wait_for(runtime.listening.wait(), 10)  # LISTEN is up: woken by NOTIFY
        assert writer.stdin is not None
        writer.stdin.write("GO\n")
        writer.stdin.flush()
        await runtime.wait_applied(seen + total)
    finally:
        await runtime.stop()
    lags: list[float] = []
    reached = iter(applied)
    head, at = next(reached)
    for page in workspace.journal.read(seen + 1, seen + total):
        for env in page:
            while head < env.position:
                head, at = next(reached)
            lags.append((at - env.recorded_at).total_seconds())
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
                f"p50 {sqlite['p50_ms']} ms  p99 {sqlite['p99_ms']} ms  "
                f"(synchronous=NORMAL, the product's)")  # fmt: skip
            full = writers(
                str(folder / "full" / "journal.sqlite"), 1, args.commands, synchronous="FULL"
            )
            say(f"sqlite, 1 writer:   {full['commands_per_s']:>8,.0f} commands/s  "
                f"p50 {full['p50_ms']} ms  p99 {full['p99_ms']} ms  "
                f"(synchronous=FULL, a flush per commit)")  # fmt: skip
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
            _set_database(server, url, "synchronous_commit", "off")
            Journal.open("", url=url).close()
            async_commit = writers(url, 1, args.commands)
            say(f"postgres, 1 writer: {async_commit['commands_per_s']:>8,.0f} commands/s  "
                f"p50 {async_commit['p50_ms']} ms  with synchronous_commit=off "
                f"(WEAKER durability: for information only)")  # fmt: skip

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
    ratio_full = pg[1]["commands_per_s"] / full["commands_per_s"]
    say(f"4 writers vs 1 on postgres: {ratio4:.2f}x (goal >= 1); 1 postgres writer vs sqlite: "
        f"{ratio_sqlite:.2f}x (goal >= 0.5), vs sqlite with a flush per commit "
        f"{ratio_full:.2f}x; lag p99 {lag['p99']} ms (goal <= 1000)")  # fmt: skip
    return {
        "commands": args.commands,
        "sqlite1_commands_per_s": sqlite["commands_per_s"],
        "sqlite1_full_commands_per_s": full["commands_per_s"],
        **{f"pg{n}_commands_per_s": pg[n]["commands_per_s"] for n in pg},
        **{f"pg{n}_p99_ms": pg[n]["p99_ms"] for n in pg},
        **{f"pg{n}_lock_wait_s": pg[n]["lock_wait_s"] for n in pg},
        "sqlite1_client_cpu_ms": sqlite["client_cpu_ms"],
        "sqlite1_full_client_cpu_ms": full["client_cpu_ms"],
        **{f"pg{n}_client_cpu_ms": pg[n]["client_cpu_ms"] for n in pg},
        "pg1_synchronous_commit_off_commands_per_s": async_commit["commands_per_s"],
        "lag_rate_per_s": args.rate,
        "lag_p50_ms": lag["p50"],
        "lag_max_ms": lag["max"],
        "rebuild_events": args.rebuild_events,
        "rebuild_pg_s": round(from_pg, 2),
        "rebuild_sqlite_s": round(from_sqlite, 2),
        "rebuild_pg_vs_sqlite_ratio": round(from_pg / from_sqlite, 2),
        "pg_writers4_vs_pg1_ratio": round(ratio4, 2),
        "pg1_vs_sqlite_ratio": round(ratio_sqlite, 2),
        "pg1_vs_sqlite_full_ratio": round(ratio_full, 2),
        "lag_p99_ms": lag["p99"],
    }


def _set_database(server: Any, url: str, setting: str, value: str) -> None:
    """``ALTER DATABASE … SET setting = value`` on the benchmark's own server (new sessions)."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
            )
        )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; run the benchmark, or one writer child (``--child``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        target, name, count, rate, synchronous = argv[1:6]
        modes: dict[str, Synchronous] = {"NORMAL": "NORMAL", "FULL": "FULL"}
        child_writer(target, name, int(count), float(rate), modes[synchronous])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=4000, help="commands per writer run")
    parser.add_argument("--rate", type=float, default=200.0, help="steady commands/s for lag")
    parser.add_argument("--lag-seconds", type=float, default=15.0, help="how long the lag run")
    parser.add_argument("--rebuild-events", type=int, default=1_000_000)
    print_json_last(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
