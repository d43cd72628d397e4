"""Benchmark of the Discord bot: interaction latency through the real disnake client, and RSS.

    .venv/bin/python benchmarks/bot.py                  # 100,000-event journal, 1,000 commands
    .venv/bin/python benchmarks/bot.py --events 20000 --commands 200   # a quick run

It writes a journal of the core benchmark's realistic mix (``benchmarks/journal.py``, in a child
process so this process's RSS is the bot's), gives the benchmark member a few hundred trades,
starts the real bot (``bot.create_app``: service, projections, sync runtime with a local blob
folder, disnake) against the local Discord stand-in (``tests/e2e/discord_standin``), and times
each interaction from INTERACTION_CREATE leaving the stand-in to the bot's callback arriving:

- ``/trade open`` (answered directly) and ``/metrics`` (slow: deferred at once, so its callback
  is the defer; the time to the edit carrying the chart is reported beside it);
- ``--commands`` commands in a row, a rotation of everyday commands.

Goal: p99 <= 50 ms for the callbacks, RSS <= 250 MiB. The stand-in runs in this process, so the
RSS includes it (a few MiB). The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The project first: this script's own name would otherwise shadow the project's ``bot``.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import peak_rss_mib, percentile, print_json_last, say
from bot import BotApp, create_app, keep_pandas_out
from commands.core.models import Invocation
from projections.runner import fault_messages
from settings import Secrets, load_settings
from sync.runtime import SyncConfig
from tests.e2e.discord_standin import DiscordStandin, run_bot, serve_standin

GOAL_P99_MS = 50.0
GOAL_RSS_MIB = 250.0
SYMBOL = "S001"  # has bars in the generated journal
ROTATION: list[tuple[str, dict[str, Any]]] = [
    ("trade open", {"symbol": SYMBOL, "direction": "long", "entry": 101.25, "size": 5}),
    ("ping", {}),
    ("trades", {}),
    ("watchlist list", {}),
    ("strategies", {}),
    ("signals", {"days": 3}),
]


def current_rss_mib(field: str = "VmRSS") -> float:
    """This process's resident set size now (``RssAnon``: its anonymous part), in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def checkpoint(out: dict[str, Any], name: str) -> None:
    """Record the RSS and its anonymous part now as ``rss_<name>_mib`` / ``anon_<name>_mib``."""
    out[f"rss_{name}_mib"] = round(current_rss_mib(), 1)
    out[f"anon_{name}_mib"] = round(current_rss_mib("RssAnon"), 1)


def figures(name: str, latencies: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds of ``latencies`` (seconds)."""
    ms = [x * 1000 for x in latencies]
    return {
        f"{name}_p50_ms": round(percentile(ms, 50), 2),
        f"{name}_p99_ms": round(percentile(ms, 99), 2),
        f"{name}_max_ms": round(max(ms), 2),
    }


async def timed_command(
    standin: DiscordStandin, command: str, options: dict[str, Any], *, final: bool = False
) -> tuple[float, float]:
    """(seconds to the callback, seconds to the final answer) of one slash command."""
    world = standin.world
    handle = await standin.slash(world.guild.id, world.member.id, command, options)
    callback = await handle.callback(timeout=30)
    answer = await handle.final(timeout=30) if final else callback
    return callback.received_at - handle.sent_at, answer.received_at - handle.sent_at


async def seed_trades(app: BotApp, standin: DiscordStandin, count: int) -> None:
    """``count`` closed trades of the benchmark member (straight through the service)."""
    world = standin.world
    for n in range(count):
        inv = Invocation(command_id=f"seed-{n}", guild_id=world.guild.id, user_id=world.member.id)
        entry = 100 + n % 17
        opened = await app.service.execute(
            "trade open",
            {
                "symbol": SYMBOL,
                "direction": "long" if n % 3 else "short",
                "entry": entry,
                "size": 3,
            },
            inv,
        )
        trade_id = opened.title.split()[1]
        close = Invocation(command_id=f"seed-c-{n}", guild_id=world.guild.id, user_id=inv.user_id)
        exit_price = entry + (n % 7) - 3
        await app.service.execute("trade close", {"id": trade_id, "exit": exit_price}, close)


async def measure(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start the bot against the stand-in and time the commands."""
    keep_pandas_out()  # as `ibpicker bot` does at its start
    out: dict[str, Any] = {}
    async with serve_standin() as standin:
        world = standin.world
        settings = load_settings(data_dir=data_dir, blob_dir=data_dir / "blob")
        started = time.perf_counter()
        app = await create_app(
            settings,
            Secrets(),
            guild_ids=[world.guild.id],
            sync_config=SyncConfig(health_port=None, segment_max_events=5000),
        )
        out["bot_ready_s"] = round(time.perf_counter() - started, 2)
        checkpoint(out, "ready")
        head = app.service.journal.head()
        say(f"service and sync up on {head:,} events in {out['bot_ready_s']} s")
        try:
            await seed_trades(app, standin, args.trades)
            checkpoint(out, "after_seed")
            async with run_bot(app.bot, standin, timeout=60):
                for command, options in ROTATION * 5:  # warm-up: first calls compile/cache
                    await timed_command(standin, command, options)
                checkpoint(out, "after_warm_up")
                out["journal_events"] = app.service.journal.head()
                opens = [
                    (await timed_command(standin, *ROTATION[0]))[0] for _ in range(args.samples)
                ]
                out |= figures("trade_open", opens)
                checkpoint(out, "after_trade_open")
                say(
                    f"/trade open: p50 {out['trade_open_p50_ms']} ms, "
                    f"p99 {out['trade_open_p99_ms']} ms"
                )
                metric_cb, metric_final = [], []
                for _ in range(args.samples):
                    cb, final = await timed_command(standin, "metrics", {}, final=True)
                    metric_cb.append(cb)
                    metric_final.append(final)
                checkpoint(out, "after_metrics")
                out |= figures("metrics_callback", metric_cb)
                out |= figures("metrics_answer", metric_final)
                say(
                    f"/metrics: callback (defer) p50 {out['metrics_callback_p50_ms']} ms, "
                    f"p99 {out['metrics_callback_p99_ms']} ms; answer with chart p50 "
                    f"{out['metrics_answer_p50_ms']} ms, p99 {out['metrics_answer_p99_ms']} ms"
                )
                row: list[float] = []
                by_command: dict[str, list[float]] = {}
                begun = time.perf_counter()
                for n in range(args.commands):
                    command, options = ROTATION[n % len(ROTATION)]
                    latency = (await timed_command(standin, command, options))[0]
                    row.append(latency)
                    by_command.setdefault(command, []).append(latency)
                out["in_a_row_seconds"] = round(time.perf_counter() - begun, 2)
                out |= figures("in_a_row", row)
                say(
                    f"{args.commands} commands in a row: {out['in_a_row_seconds']} s, "
                    f"p50 {out['in_a_row_p50_ms']} ms, p99 {out['in_a_row_p99_ms']} ms"
                )
                for command, values in by_command.items():
                    say(f"  /{command}: " + ", ".join(
                        f"{k.split('_')[-2]} {v} ms" for k, v in figures("x", values).items()
                    ))  # fmt: skip
                out["rss_mib"] = round(current_rss_mib(), 1)
                # A projection that stopped does less work (and holds less): a run with one is
                # not comparable (as when pandas was refused through sys.modules).
                out["projection_faults"] = len(
                    fault_messages(app.service.runner, app.service.analytics_runner)
                )
                out["pandas_loaded"] = sys.modules.get("pandas") is not None
                # The stand-in shares this process and keeps every request and upload it saw.
                out["standin_recorded_mib"] = round(
                    sum(len(json.dumps(r.body, default=str)) + sum(len(f.data) for f in r.files)
                        for r in standin.requests) / 2**20, 1,
                )  # fmt: skip
        finally:
            await app.close()
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


async def _ship(data_dir: Path) -> None:
    from events.journal import AsyncJournal, Journal
    from projections.workspace import journal_path
    from sync.shipper import Shipper
    from sync.stores import open_blob_store

    settings = load_settings(data_dir=data_dir, blob_dir=data_dir / "blob")
    store = open_blob_store(settings)
    journal = AsyncJournal(Journal.open(journal_path(data_dir)))
    try:
        await Shipper(journal, store).ship_now()
    finally:
        await journal.close()
        await store.close()


def ship_journal(data_dir: Path) -> None:
    """Ship ``data_dir``'s journal to its blob folder in a child process, as a deployed bot finds
    it (its own shipper shipped every event as it came): without this the measured bot starts by
    shipping the whole journal as a backlog, encoding 20,000-event segments in its own process,
    which is an outage's recovery, not the load measured here (``--backlog`` keeps it)."""
    subprocess.run([sys.executable, __file__, "--ship-only", str(data_dir)], check=True)


def prepare(data_dir: Path, events: int) -> None:
    """(Child process) the journal of the core benchmark's mix, and the analytics caught up."""
    from benchmarks.journal import generate
    from events.journal import Journal
    from projections.analytics import Analytics
    from projections.registry import all_analytics_projections
    from projections.runner import ProjectionRunner
    from projections.workspace import ANALYTICS_FILE, JOURNAL_FILE

    generate(data_dir / JOURNAL_FILE, events)
    journal = Journal.open(data_dir / JOURNAL_FILE)
    analytics = Analytics(data_dir / ANALYTICS_FILE)
    try:
        ProjectionRunner(
            journal, analytics, state=[], analytics_projections=all_analytics_projections()
        ).catch_up()
    finally:
        analytics.close()
        journal.close()


def main(argv: list[str] | None = None) -> None:
    """Generate the journal (child process), then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200, help="timed /trade open and /metrics")
    parser.add_argument("--trades", type=int, default=300, help="closed trades of the member")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="run on this folder's journal and analytics (made by benchmarks/box.py) instead of "
        "generating one; it is written to",
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="start the bot with its journal not yet shipped (it ships it all as a backlog)",
    )
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ship-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare is not None:
        prepare(args.prepare, args.events)
        return
    if args.ship_only is not None:
        asyncio.run(_ship(args.ship_only))
        return
    if args.data_dir is not None:
        if not args.backlog and not (args.data_dir / "blob").exists():  # box.py ships it first
            ship_journal(args.data_dir)
        result = asyncio.run(measure(args.data_dir, args))
        args.events = result.get("journal_events", args.events)
        report(result, args)
        return
    with tempfile.TemporaryDirectory(prefix="ibpicker-bot-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        began = time.perf_counter()
        # A child process writes the journal and brings the analytics up to date, as a bot that
        # ran before (or restored a snapshot) finds them; this process then holds only the bot.
        subprocess.run(
            [sys.executable, __file__, "--prepare", str(data_dir), "--events", str(args.events)],
            check=True,
        )
        say(f"generated {args.events:,} events in {time.perf_counter() - began:.1f} s")
        if not args.backlog:
            ship_journal(data_dir)
        result = asyncio.run(measure(data_dir, args))
    report(result, args)


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    """Add the goals to ``result`` and print it (its JSON last)."""
    result |= {
        "events": args.events,
        "commands": args.commands,
        "samples": args.samples,
        "backlog_at_start": args.backlog,
        "goal_p99_ms": GOAL_P99_MS,
        "goal_rss_mib": GOAL_RSS_MIB,
        "p99_goal_met": max(result["trade_open_p99_ms"], result["metrics_callback_p99_ms"],
                            result["in_a_row_p99_ms"]) <= GOAL_P99_MS,
        "rss_goal_met": result["peak_rss_mib"] <= GOAL_RSS_MIB,
    }  # fmt: skip
    say(f"RSS {result['rss_mib']} MiB (peak {result['peak_rss_mib']} MiB)")
    print_json_last(result)


if __name__ == "__main__":
    main()
