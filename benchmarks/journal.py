"""Benchmark of the event-sourced core: rebuild rate, baseline, peak RSS, append latency, verify.

    .venv/bin/python benchmarks/journal.py                 # 1,000,000 events (about two minutes)
    .venv/bin/python benchmarks/journal.py --events 50000  # a quick run
    .venv/bin/python benchmarks/journal.py --rebuild-only /tmp/box-journals/1m  # rebuilds only

It generates a journal of realistic mix (mostly command audits, then bars fetched with a few bars
each, trades opened and closed, watchlist changes, flow alerts, quotes, signals, a few failures)
in bulk through ``Journal.append_raw``, then measures:

- the full rebuild of every analytics projection (in a child process, so its peak RSS is its own),
  ``--repeats`` times as it runs by default (split with a child process where two CPUs are free)
  and as many times in one process (``jobs=1``, the baseline), alternated: medians, CPU seconds
  and the ratio (``--rebuild-only DIR`` does only that, on an existing journal folder);
- the baseline: the eventsourcing library's own ``ProcessApplication`` follower pulling the same
  journal through its notification-log reader and projecting the same events with the same
  projection code, one commit per event, on a subset; and the same follower doing no DuckDB
  work, so the ratio is also given against the library's own per-event cost alone;
- the p50/p99 latency of appending one command's events (1-3 events, one transaction);
- ``journal verify`` on the whole journal.

Its last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

from benchmarks._common import peak_rss_mib, percentile, print_json_last, say, timed
from events.analysis import ConditionResult, Signal, SignalsGenerated
from events.audit import CommandHandled
from events.base import Actor, Event, NewEvent
from events.codec import EventCodec
from events.guild import WatchlistSymbolAdded, WatchlistSymbolRemoved
from events.journal import Journal
from events.market import (
    Bar,
    BarsFetched,
    FetchFailed,
    FlowAlert,
    FlowAlertsFetched,
    QuoteFetched,
)
from events.records import RawRecord
from events.trading import TradeClosed, TradeOpened

SYMBOLS = [f"S{i:03d}" for i in range(400)]
GUILDS = [100 + g for g in range(8)]
EPOCH = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


class MixGenerator:
    """Commands of realistic mix, each 1-3 events, with consistent streams and versions."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.versions: dict[str, int] = {}
        self.next_day: dict[str, date] = {}
        self.open_trades: list[tuple[int, int, str]] = []
        self.trade_seq = 0
        self.alert_seq = 0
        self.command_seq = 0

    def commands(self) -> Iterator[tuple[str, Actor, datetime, list[NewEvent]]]:
        """Endless (command id, actor, recorded at, events) of the mix."""
        rng = self.rng
        while True:
            self.command_seq += 1
            at = EPOCH + timedelta(seconds=self.command_seq * 7)
            guild = rng.choice(GUILDS)
            user = 1000 + rng.randrange(300)
            roll = rng.random()
            if roll < 0.25:
                cmd = f"fetch-{self.command_seq}"
                yield cmd, Actor.system(), at, [self._bars()]
            elif roll < 0.32:
                yield f"flow-{self.command_seq}", Actor.system(), at, [self._flow(at)]
            elif roll < 0.35:
                sym = rng.choice(SYMBOLS)
                price = rng.uniform(10, 500)
                ev: Event = QuoteFetched(symbol=sym, source="finnhub", price=price, as_of=at)
                yield (
                    f"quote-{self.command_seq}",
                    Actor.system(),
                    at,
                    [NewEvent(f"quotes:{sym}", ev)],
                )
            elif roll < 0.36:
                fail = FetchFailed(
                    kind="bars", symbols=[rng.choice(SYMBOLS)], source="uw", error="HTTP 503"
                )
                yield (
                    f"fail-{self.command_seq}",
                    Actor.system(),
                    at,
                    [self._on("fetch-failures", fail)],
                )
            elif roll < 0.375:
                yield f"scan-{self.command_seq}", Actor.system(), at, [self._signals(at)]
            else:
                yield from self._member_command(guild, user, at, rng.random())

    def _member_command(
        self, guild: int, user: int, at: datetime, roll: float
    ) -> Iterator[tuple[str, Actor, datetime, list[NewEvent]]]:
        rng = self.rng
        actor = Actor(guild_id=guild, user_id=user)
        cmd = f"i-{self.command_seq}"
        domain: list[NewEvent] = []
        name = rng.choice(["picks", "status", "flow", "chart", "journal_stats"])
        options: dict[str, str] = {"symbol": rng.choice(SYMBOLS)} if rng.random() < 0.5 else {}
        if roll < 0.14:
            name = "journal_open"
            self.trade_seq += 1
            trade_id = f"t{self.trade_seq}"
            sym = rng.choice(SYMBOLS)
            self.open_trades.append((guild, user, trade_id))
            domain.append(
                self._on(
                    f"trade:{guild}:{trade_id}",
                    TradeOpened(
                        trade_id=trade_id,
                        guild_id=guild,
                        user_id=user,
                        symbol=sym,
                        direction="long",
                        entry=Decimal(f"{rng.uniform(5, 400):.2f}"),
                        size=Decimal(rng.randrange(1, 500)),
                        opened_at=at,
                        stop=Decimal("1.00"),
                        note="breakout",
                    ),
                )
            )
        elif roll < 0.25 and self.open_trades:
            name = "journal_close"
            g, u, trade_id = self.open_trades.pop(rng.randrange(len(self.open_trades)))
            actor = Actor(guild_id=g, user_id=u)
            closed = TradeClosed(
                trade_id=trade_id, guild_id=g, user_id=u,
                exit=Decimal(f"{rng.uniform(5, 400):.2f}"), closed_at=at, reason="target",
            )  # fmt: skip
            domain.append(self._on(f"trade:{g}:{trade_id}", closed))
        elif roll < 0.33:
            name = "watchlist_add"
            sym = rng.choice(SYMBOLS)
            added = WatchlistSymbolAdded(guild_id=guild, symbol=sym, tags=["swing"])
            domain.append(self._on(f"watchlist:{guild}", added))
        elif roll < 0.37:
            name = "watchlist_remove"
            removed = WatchlistSymbolRemoved(guild_id=guild, symbol=rng.choice(SYMBOLS))
            domain.append(self._on(f"watchlist:{guild}", removed))
        audit = CommandHandled(name=name, options=options, latency_ms=round(rng.uniform(2, 900), 1))
        yield cmd, actor, at, [*domain, self._on(f"audit:{guild}", audit)]

    def _on(self, stream: str, event: Event) -> NewEvent:
        return NewEvent(stream, event)

    def _bars(self) -> NewEvent:
        rng = self.rng
        sym = rng.choice(SYMBOLS)
        day = self.next_day.get(sym, date(2000, 1, 3))
        if rng.random() < 0.2:
            day -= timedelta(days=1)  # a re-fetch overlapping the last bar: an upsert
        bars = []
        for _ in range(rng.randint(2, 5)):
            close = rng.uniform(10, 500)
            bars.append(
                Bar(day=day, open=close * 0.99, high=close * 1.01, low=close * 0.98, close=close,
                    volume=rng.randrange(10_000, 5_000_000))
            )  # fmt: skip
            day += timedelta(days=1)
        self.next_day[sym] = day
        return NewEvent(f"bars:{sym}", BarsFetched(symbol=sym, source="finnhub", bars=bars))

    def _flow(self, at: datetime) -> NewEvent:
        rng = self.rng
        alerts = []
        syms = rng.sample(SYMBOLS, rng.randint(1, 3))
        for sym in syms:
            self.alert_seq += 1
            alerts.append(
                FlowAlert(
                    option_chain=f"{sym}250117C{self.alert_seq:08d}", ticker=sym,
                    created_at=at, option_type="call", strike=100.0,
                    expiry=date(2025, 1, 17), total_premium=rng.uniform(5e4, 5e6),
                    ask_side_premium=4e4, bid_side_premium=1e4, volume=rng.randrange(100, 9000),
                    open_interest=rng.randrange(100, 90000), underlying_price=98.5,
                    has_sweep=rng.random() < 0.3, alert_rule="RepeatedHits", direction="bullish",
                )
            )  # fmt: skip
        event = FlowAlertsFetched(symbols=syms, source="unusual_whales", alerts=alerts)
        return NewEvent(f"flow:{syms[0]}", event)

    def _signals(self, at: datetime) -> NewEvent:
        rng = self.rng
        universe = rng.sample(SYMBOLS, 20)
        signals = [
            Signal(
                symbol=sym, as_of=at.date(), entry=rng.uniform(10, 500), stop_loss=9.0,
                take_profit=600.0, score=rng.random(), indicators={"rsi": 55.0, "atr": 2.5},
                conditions=[ConditionResult(description="rsi > 50", passed=True)],
            )
            for sym in universe[: rng.randint(1, 3)]
        ]  # fmt: skip
        event = SignalsGenerated(
            scan_id=f"scan-{self.command_seq}", strategy_name="momentum", strategy_hash="ab12cd",
            evaluated_at=at, universe=universe, signals=signals,
        )  # fmt: skip
        return self._on("signals:global", event)


def generate(path: Path, events: int, *, seed: int = 7, chunk: int = 50_000) -> None:
    """Write a journal of exactly ``events`` events of the mix at ``path`` in bulk.

    A command never straddles the end: when the next one has more events than remain, a one-event
    audit command takes its place (a dropped trade could only be closed by a two-event command,
    which never fits again), so the journal stays one the handlers could have written.
    """
    codec = EventCodec()
    gen = MixGenerator(seed)
    journal = Journal.open(path)
    try:
        position = journal.head()
        batch: list[RawRecord] = []
        for command_id, actor, at, new_events in gen.commands():
            if position >= events:
                break
            if len(new_events) > events - position:
                audit = CommandHandled(name="status", latency_ms=3.0)
                new_events = [NewEvent(f"audit:{GUILDS[0]}", audit)]
            for new in new_events:
                version = gen.versions.get(new.stream, 0) + 1
                gen.versions[new.stream] = version
                position += 1
                state = codec.encode(new.event, recorded_at=at, command_id=command_id, actor=actor)
                batch.append(RawRecord(position, new.stream, version, new.event.event_tag(), state))
            if len(batch) >= chunk:
                journal.append_raw(batch)
                batch = []
        journal.append_raw(batch)
    finally:
        journal.close()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the benchmark (or one of its child steps)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=2_000)
    parser.add_argument("--appends", type=int, default=2_000)
    parser.add_argument("--keep", type=Path, help="write the journal into this folder and keep it")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rebuilds of each kind (split, one process)"
    )
    parser.add_argument("--rebuild-only", type=Path, help="only rebuild the journal in this folder")
    parser.add_argument("--child-rebuild", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--split",
        action="store_true",
        help="the default rebuilds split with a child whatever the load (by default they split "
        "only where a second CPU is free: on a busy machine both kinds run in one process)",
    )
    args = parser.parse_args(argv)
    if args.child_rebuild is not None:
        _child_rebuild(args.child_rebuild, args.jobs)
        return
    if args.rebuild_only is not None:
        print_json_last(rebuild_runs(args.rebuild_only, args.repeats, split=args.split))
        return
    run(args)


def _child_rebuild(data_dir: Path, jobs: int | None) -> None:
    """Rebuild every analytics projection; print events, seconds, this process's peak RSS and
    the CPU seconds of this process and its children (a split rebuild's child)."""
    import resource

    from projections.workspace import Workspace

    with Workspace.open(data_dir, analytics=False, catch_up=False) as ws, timed() as t:
        report = ws.rebuild(jobs=jobs)
    cpu = sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    print(f"{report.events_read} {t.seconds} {peak_rss_mib()} {cpu}", flush=True)


def rebuild_runs(data_dir: Path, repeats: int, *, split: bool = False) -> dict[str, Any]:
    """Rebuilds by default (split where two CPUs are free; always with ``split``) and in one
    process (``--jobs 1``, the baseline), alternated so both see the same machine; their
    medians and the ratio."""
    runs: dict[str, list[tuple[float, float, float]]] = {"default": [], "one_process": []}
    read = 0
    default = ["--jobs", "2"] if split else []
    for _ in range(repeats):
        for kind, jobs in (("default", default), ("one_process", ["--jobs", "1"])):
            out = subprocess.run(
                [sys.executable, __file__, "--child-rebuild", str(data_dir), *jobs],
                check=True, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            read = int(out[-4])
            runs[kind].append((float(out[-3]), float(out[-2]), float(out[-1])))
    figures: dict[str, Any] = {}
    for kind, found in runs.items():
        seconds = statistics.median(r[0] for r in found)
        figures[f"rebuild_{kind}_events_per_s"] = round(read / seconds)
        figures[f"rebuild_{kind}_peak_rss_mib"] = round(statistics.median(r[1] for r in found), 1)
        figures[f"rebuild_{kind}_cpu_s"] = round(statistics.median(r[2] for r in found), 2)
        say(
            f"rebuild ({kind}, median of {repeats}): {read:,} events in {seconds:.2f} s = "
            f"{read / seconds:,.0f} events/s, CPU {figures[f'rebuild_{kind}_cpu_s']} s, "
            f"peak RSS {figures[f'rebuild_{kind}_peak_rss_mib']} MiB"
        )
    figures["rebuild_events_per_s"] = figures["rebuild_default_events_per_s"]
    figures["rebuild_ratio_vs_one_process"] = round(
        figures["rebuild_default_events_per_s"] / figures["rebuild_one_process_events_per_s"], 2
    )
    say(f"ratio: {figures['rebuild_ratio_vs_one_process']}x one process")
    return figures


def run(args: argparse.Namespace) -> None:
    """The whole benchmark."""
    tmp = Path(tempfile.mkdtemp(prefix="ibpicker-bench-"))
    data_dir = args.keep or tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"events": args.events}
    try:
        journal_path = data_dir / "journal.sqlite"
        with timed() as t:
            generate(journal_path, args.events)
        say(f"generated {args.events:,} events in {t.seconds:.1f} s "
            f"({args.events / t.seconds:,.0f} events/s via append_raw)")  # fmt: skip
        figures["generate_s"] = round(t.seconds, 2)

        figures |= rebuild_runs(data_dir, args.repeats)
        rate = figures["rebuild_events_per_s"]
        figures["peak_rss_mib"] = figures["rebuild_default_peak_rss_mib"]

        base_rate = baseline(journal_path, args.baseline_events, tmp, project=True)
        say(f"baseline (library ProcessApplication follower, its policy projecting each event "
            f"into DuckDB with the same projection code, first {args.baseline_events:,} events): "
            f"{base_rate:,.0f} events/s")  # fmt: skip
        bare_rate = baseline(journal_path, args.baseline_events, tmp, project=False)
        say(
            f"baseline without DuckDB (the same follower, policy does nothing: only the "
            f"library's pull, decode and per-event tracking commit): {bare_rate:,.0f} events/s"
        )
        figures["baseline_events_per_s"] = round(base_rate, 1)
        figures["ratio"] = round(rate / base_rate, 1)
        figures["baseline_no_duckdb_events_per_s"] = round(bare_rate)
        figures["ratio_no_duckdb"] = round(rate / bare_rate, 1)
        say(
            f"ratio: {rate / base_rate:.1f}x the projecting follower, "
            f"{rate / bare_rate:.1f}x the follower doing no DuckDB work"
        )

        with timed() as t:
            verify = subprocess.run(
                [str(Path(sys.executable).with_name("ibpicker")), "journal", "verify",
                 "--data-dir", str(data_dir)],
                capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
            )  # fmt: skip
        say(f"journal verify: exit {verify.returncode} in {t.seconds:.1f} s")
        if verify.returncode != 0:
            say(verify.stdout[-2000:] + verify.stderr[-2000:])
        figures["verify_s"] = round(t.seconds, 2)
        figures["verify_exit"] = verify.returncode

        p50, p99 = append_latency(journal_path, args.appends)
        say(f"append one command (1-3 events, one transaction): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        figures["append_p50_ms"] = round(p50, 3)
        figures["append_p99_ms"] = round(p99, 3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_json_last(figures)


def append_latency(journal_path: Path, count: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of ``Journal.append`` of one command's events, on the big file."""
    gen = MixGenerator(seed=99)
    gen.command_seq = 10_000_000  # fresh command ids
    journal = Journal.open(journal_path)
    samples: list[float] = []
    try:
        for n, (command_id, actor, at, new_events) in enumerate(gen.commands()):
            if n >= count:
                break
            start = time.perf_counter()
            journal.append(new_events, command_id=command_id, actor=actor, recorded_at=at)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        journal.close()
    return percentile(samples, 50), percentile(samples, 99)


def baseline(journal_path: Path, events: int, tmp: Path, *, project: bool) -> float:
    """Events/s of the library's ``ProcessApplication`` follower over the first ``events``.

    The follower pulls the journal through the library's notification-log reader (its default
    section size), maps each notification with our codec, and (``project``) its policy applies
    the event with the same projection code into DuckDB, one DuckDB transaction per event;
    the library records its tracking in its own SQLite file: one commit per event, as the
    library does it. Without ``project`` the policy does nothing, which isolates the library's
    own per-event cost from DuckDB's per-commit cost.
    """
    from eventsourcing.application import LocalNotificationLog
    from eventsourcing.system import ProcessApplication

    from projections.analytics import Analytics
    from projections.registry import all_analytics_projections
    from projections.runner import prepare

    folder = tmp / ("baseline" if project else "baseline-bare")
    folder.mkdir(parents=True, exist_ok=True)
    journal = Journal.open(journal_path)
    analytics = Analytics(folder / "analytics.duckdb")
    projections = all_analytics_projections()
    prepare(analytics, projections)
    con = analytics.connection
    codec = journal.codec

    class EnvelopeMapper:
        """Maps the library's notifications to our envelopes with our codec."""

        def to_domain_event(self, n: Any) -> Any:
            return codec.decode(
                position=n.id, stream=str(n.originator_id), version=n.originator_version,
                tag=n.topic, state=n.state,
            )  # fmt: skip

    class Follower(ProcessApplication[Any]):
        """The library's follower; its policy projects one event into DuckDB."""

        def policy(self, domain_event: Any, processing_event: Any) -> None:
            if not project:
                return
            # One DuckDB transaction per event, rows and position together, as the library's
            # follower does per event for its own tracking (not one commit per statement).
            con.execute("BEGIN TRANSACTION")
            for p in projections:
                if domain_event.tag in p.tags:
                    p.load(con, [domain_event])
            con.execute("UPDATE projection_positions SET position = ?", [domain_event.position])
            con.execute("COMMIT")

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(folder / "follower.sqlite")}  # fmt: skip
    follower = Follower(env=env)
    follower.readers["journal"] = _reader(LocalNotificationLog(journal.recorder), follower)
    follower.mappers["journal"] = EnvelopeMapper()  # type: ignore[assignment]
    try:
        with timed() as t:
            follower.pull_and_process("journal", start=0, stop=events)
    finally:
        follower.close()
        analytics.close()
        journal.close()
    return float(events / t.seconds)


def _reader(log: Any, follower: Any) -> Any:
    from eventsourcing.system import NotificationLogReader

    return NotificationLogReader(log, section_size=follower.pull_section_size)


if __name__ == "__main__":
    main()
