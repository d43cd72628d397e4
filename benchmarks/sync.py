"""Benchmark of sync: cold start from Blob, shipping overhead, bytes per event, durable-ack latency.

    .venv/bin/python benchmarks/sync.py                  # 1,000,000 events (a few minutes)
    .venv/bin/python benchmarks/sync.py --events 100000  # a quick run

It starts Azurite itself (from ``node_modules``, on 127.0.0.1, stopped at the end), generates a
journal of the realistic mix (``benchmarks/journal.py``), ships it, and measures:

- cold start from an empty disk (in a child process, so its peak RSS is its own): restore of every
  segment + all projections caught up, through ``SyncRuntime``, without and with the DuckDB
  snapshot, and with the journal snapshot too (placed before the journal is opened; here at the
  head, so no segment is left to restore) (goal: at most 20 s and 350 MiB);
- bytes in Blob per event: with segments as the live policy seals them (500 events), for a backlog
  shipped after an outage, and after compaction (goal: at most 40), each beside what the previous
  segment format (v2) takes for the very same segments in the same run, and the CPU each format
  spends encoding and decoding an event;
- commands per second with shipping on vs off (goal: at least 0.9x);
- the p99 latency durable ack adds to a command against Azurite on loopback.

Its last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# This file is named like the project's ``sync`` package, and Python puts its folder first: put
# the project before it so ``sync`` is the package; ``_common`` and ``journal`` are still found.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sync.shipper as shipper_module
from benchmarks._common import peak_rss_mib, percentile, print_json_last, say, timed
from benchmarks.journal import MixGenerator, generate
from events.journal import AsyncJournal, Journal
from events.records import RawRecord
from events.segments import FORMAT_VERSION, decode_segment, encode_segment
from projections.workspace import Workspace, analytics_path, journal_path
from sync.azure_blob import AzureBlobStore
from sync.blobstore import BlobStore
from sync.compaction import compact
from sync.journal_snapshot import place_journal_snapshot, ship_journal_snapshot
from sync.manifest import MANIFEST_NAME, read_manifest
from sync.runtime import SyncConfig, SyncRuntime
from sync.shipper import Shipper
from sync.snapshot import ship_snapshot

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's published development key (public, identical on every machine).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    """Azurite's blob service on a free 127.0.0.1 port, keeping its data in ``location``."""

    def __init__(self, location: Path) -> None:
        if not AZURITE_BIN.exists():
            raise SystemExit(f"Azurite is missing ({AZURITE_BIN}): run `npm ci` first")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        location.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(AZURITE_BIN), "--silent", "--location", str(location), "--blobHost",
             "127.0.0.1", "--blobPort", str(self.port), "--skipApiVersionCheck",
             "--disableTelemetry"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("Azurite did not start")

    @property
    def connection_string(self) -> str:
        """The development account's connection string."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/devstoreaccount1;"
        )

    def stop(self) -> None:
        """Terminate the process."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def own_peak_rss_mib() -> float:
    """This process's own peak RSS (``VmHWM``), in MiB.

    ``ru_maxrss`` survives ``fork`` + ``exec`` on Linux, so a child started by a big parent would
    report the parent's size; ``VmHWM`` belongs to the address space that ``exec`` replaced.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


def open_store(connection_string: str, container: str) -> AzureBlobStore:
    """The Azure store on Azurite."""
    return AzureBlobStore.from_connection_string(connection_string, container)


async def blob_bytes(store: BlobStore) -> int:
    """Bytes of every segment plus the manifest."""
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    return sum(e.size for e in manifest.segments) + len((await store.read(MANIFEST_NAME))[0])


async def v2_blob_bytes(store: BlobStore, journal: AsyncJournal) -> int:
    """What the store's segments would take in format v2 (the same ranges, chains and manifest)."""
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    total = len((await store.read(MANIFEST_NAME))[0])
    for entry in manifest.segments:
        records = await journal.read_raw(entry.first, entry.count)
        prev = await journal.chain_at(entry.first - 1)
        total += encode_segment(records, prev_chain=prev, version=2).size
    return total


def codec_cpu_us(records: list[RawRecord], version: int, repeats: int = 5) -> tuple[float, float]:
    """Median CPU microseconds per event to encode, then to decode, ``records`` in 500-event
    segments of format ``version``."""
    chunks = [records[i : i + 500] for i in range(0, len(records), 500)]
    encode_runs, decode_runs = [], []
    for _ in range(repeats):
        started = time.process_time()
        segments = [encode_segment(chunk, version=version) for chunk in chunks]
        encode_runs.append(time.process_time() - started)
        started = time.process_time()
        for segment in segments:
            decode_segment(segment.data)
        decode_runs.append(time.process_time() - started)
    per_event = 1e6 / len(records)
    return (
        statistics.median(encode_runs) * per_event,
        statistics.median(decode_runs) * per_event,
    )


@contextlib.contextmanager
def segment_format(version: int) -> Iterator[None]:
    """Make the shipper write segments of format ``version`` for the block (the previous format
    stays writable for comparisons: ``encode_segment(..., version=2)``)."""
    # The shipper calls the name it imported: swap that name, then put the function back.
    setattr(shipper_module, "encode_segment", functools.partial(encode_segment, version=version))  # noqa: B010
    try:
        yield
    finally:
        setattr(shipper_module, "encode_segment", encode_segment)  # noqa: B010


def compare_formats(figures: dict[str, Any], key: str, new: int, old: int, events: int) -> str:
    """Record bytes per event of both formats and their ratio; the line comparing them."""
    figures[key] = round(new / events, 2)
    figures[f"{key}_v2"] = round(old / events, 2)
    figures[f"{key}_ratio_v3_to_v2"] = round(new / old, 3)
    return (
        f"{figures[key]} bytes/event (format v{FORMAT_VERSION}) vs {figures[f'{key}_v2']} (v2): "
        f"x{figures[f'{key}_ratio_v3_to_v2']}"
    )


# -- cold start (child process) -------------------------------------------------------------------


async def cold_start(
    data_dir: Path,
    connection_string: str,
    container: str,
    snapshot: bool,
    journal_snapshot: bool = False,
) -> None:
    """Start from an empty disk as the bot does (the journal snapshot put in place before the
    journal is opened, when asked), then through SyncRuntime; print seconds, events and peak RSS
    as JSON."""
    started = time.perf_counter()
    store = open_store(connection_string, container)
    placed = (
        await place_journal_snapshot(store, journal_path(data_dir)) if journal_snapshot else None
    )
    place_s = time.perf_counter() - started
    journal = AsyncJournal(Journal.open(journal_path(data_dir)))
    caught_up: dict[str, float] = {}

    def open_and_catch_up() -> None:
        caught_up.setdefault("rss_before_mib", own_peak_rss_mib())
        with timed() as t, Workspace.open(data_dir):  # opening catches every projection up
            pass
        caught_up["seconds"] = caught_up.get("seconds", 0.0) + t.seconds

    runtime = SyncRuntime(
        journal,
        store,
        SyncConfig(health_port=None),
        catch_up=lambda: asyncio.to_thread(open_and_catch_up),
        analytics_path=analytics_path(data_dir) if snapshot else None,
    )
    report = await runtime.start()
    ready = time.perf_counter() - started
    await runtime.stop()
    await journal.close()
    await store.close()
    print(json.dumps({
        "ready_s": ready, "restore_s": report.seconds, "events": report.events,
        "segments": report.segments, "head": report.local_head_after,
        "journal_snapshot_position": placed.position if placed else None,
        "journal_snapshot_place_s": place_s if placed else 0.0,
        "catch_up_s": caught_up.get("seconds", 0.0), "snapshot_position": runtime.snapshot_position,
        "peak_rss_mib": own_peak_rss_mib(), "rss_before_catch_up_mib": caught_up["rss_before_mib"],
    }), flush=True)  # fmt: skip


async def ship_one_journal_snapshot(data_dir: Path, connection_string: str, container: str) -> None:
    """Ship one journal snapshot of ``data_dir``'s journal as the bot does (its cost in the bot's
    process); print its seconds, CPU seconds, size and this process's peak RSS as JSON."""
    store = open_store(connection_string, container)
    started, cpu = time.perf_counter(), time.process_time()
    try:
        entry = await ship_journal_snapshot(store, journal_path(data_dir))
    finally:
        await store.close()
    assert entry is not None, "no journal snapshot shipped (one at the shipped head already?)"
    print(json.dumps({
        "ship_s": time.perf_counter() - started, "ship_cpu_s": time.process_time() - cpu,
        "position": entry.position, "bytes": entry.size, "peak_rss_mib": own_peak_rss_mib(),
    }), flush=True)  # fmt: skip


def run_cold_start(
    tmp: Path, azurite: Azurite, container: str, snapshot: bool, journal_snapshot: bool = False
) -> dict[str, Any]:
    """Run ``cold_start`` in a child on a fresh empty folder; return its figures."""
    data_dir = tmp / f"cold-{'snap' if snapshot else 'plain'}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    command = [sys.executable, __file__, "--child-cold-start", str(data_dir), "--container",
               container, "--connection-string", azurite.connection_string]  # fmt: skip
    if snapshot:
        command.append("--snapshot")
    if journal_snapshot:
        command.append("--journal-snapshot")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    figures: dict[str, Any] = json.loads(out.splitlines()[-1])
    shutil.rmtree(data_dir, ignore_errors=True)
    return figures


# -- command throughput and latency ---------------------------------------------------------------


async def command_loop(
    folder: Path, commands: int, runtime_config: SyncConfig | None, azurite: Azurite, container: str
) -> tuple[float, list[float], float]:
    """Append ``commands`` commands as the bot does.

    Returns commands/s, each command's latency (ms) and the CPU ms per command of the loop alone
    (start and stop excluded), all threads of this process included.
    """
    shutil.rmtree(folder, ignore_errors=True)
    journal = AsyncJournal(Journal.open(journal_path(folder)))
    store = open_store(azurite.connection_string, container)
    runtime = SyncRuntime(journal, store, runtime_config) if runtime_config else None
    if runtime is not None:
        await runtime.start()
    gen = MixGenerator(seed=5)
    latencies: list[float] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    for n, (command_id, actor, at, new_events) in enumerate(gen.commands()):
        if n >= commands:
            break
        t0 = time.perf_counter()
        if runtime is not None:
            runtime.ensure_writable()
        result = await journal.append(
            new_events, command_id=command_id, actor=actor, recorded_at=at
        )
        if runtime is not None:
            await runtime.committed(result.last_position)
        latencies.append((time.perf_counter() - t0) * 1000)
    rate = commands / (time.perf_counter() - started)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / commands
    if runtime is not None:
        await runtime.stop()
    await journal.close()
    await store.close()
    return rate, latencies, cpu_ms


async def measure_commands(
    tmp: Path, azurite: Azurite, commands: int, durable: int
) -> dict[str, Any]:
    """Shipping on vs off (medians of five alternating rounds; "on-v2": shipping as the previous
    segment format would, for comparison), and durable-ack latency."""
    on = SyncConfig(health_port=None)
    modes = ("off", "on", "on-v2")
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    off_latencies: list[float] = []
    # fsync latency on a shared disk swings several-fold from one run to the next: alternate
    # the modes over several rounds and compare medians; CPU per command is the steadier figure.
    for round_ in range(5):
        for mode in modes:
            with segment_format(2 if mode == "on-v2" else FORMAT_VERSION):
                rate, lat, cpu_ms = await command_loop(
                    tmp / f"cmd-{mode}-{round_}", commands, None if mode == "off" else on,
                    azurite, f"ship-{mode}-{round_}",
                )  # fmt: skip
            cpu[mode].append(cpu_ms)
            rates[mode].append(rate)
            if mode == "off":
                off_latencies.extend(lat)
    _, durable_latencies, _ = await command_loop(
        tmp / "cmd-durable", durable, SyncConfig(health_port=None, durable_ack=True), azurite,
        "durable",
    )  # fmt: skip
    off_rate, on_rate = statistics.median(rates["off"]), statistics.median(rates["on"])
    v2_rate = statistics.median(rates["on-v2"])
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    cpu_v2 = statistics.median(cpu["on-v2"])
    return {
        "cpu_ms_per_command_shipping_off": round(cpu_off, 3),
        "cpu_ms_per_command_shipping_on": round(cpu_on, 3),
        "cpu_ms_per_command_shipping_on_v2": round(cpu_v2, 3),
        "commands_per_s_shipping_off": round(off_rate),
        "commands_per_s_shipping_on": round(on_rate),
        "commands_per_s_shipping_on_v2": round(v2_rate),
        "shipping_ratio": round(on_rate / off_rate, 3),
        "shipping_ratio_v2": round(v2_rate / off_rate, 3),
        "shipping_cpu_ratio": round(cpu_off / cpu_on, 3),
        "shipping_cpu_ratio_v2": round(cpu_off / cpu_v2, 3),
        "command_p99_ms_off": round(percentile(off_latencies, 99), 2),
        "command_p99_ms_durable_ack": round(percentile(durable_latencies, 99), 2),
        "durable_ack_added_p99_ms": round(
            percentile(durable_latencies, 99) - percentile(off_latencies, 99), 2
        ),
        "durable_ack_p50_ms": round(percentile(durable_latencies, 50), 2),
    }


# -- the whole benchmark --------------------------------------------------------------------------


async def ship_all(source: Path, azurite: Azurite, events: int) -> dict[str, Any]:
    """Ship the journal (live-policy sample, backlog, compaction, snapshot); return byte figures."""
    figures: dict[str, Any] = {}
    journal = AsyncJournal(Journal.open(journal_path(source)))
    sample = min(events, 100_000)
    live_store = open_store(azurite.connection_string, "live-policy")
    live = Shipper(journal, live_store, max_segment_events=500)
    with timed() as t:
        while live.shipped < sample:
            await live._ship_next(sample)
    compared = compare_formats(
        figures, "bytes_per_event_500_event_segments", await blob_bytes(live_store),
        await v2_blob_bytes(live_store, journal), sample,
    )  # fmt: skip
    say(f"live policy (500-event segments) on the first {sample:,} events: {compared}; "
        f"{sample / t.seconds:,.0f} events/s shipped")  # fmt: skip
    await live_store.close()
    records = await journal.read_raw(1, min(sample, 20_000))
    for version in (2, FORMAT_VERSION):
        encode_us, decode_us = codec_cpu_us(records, version)
        figures[f"segment_encode_cpu_us_per_event_v{version}"] = round(encode_us, 2)
        figures[f"segment_decode_cpu_us_per_event_v{version}"] = round(decode_us, 2)
        say(f"format v{version}: {encode_us:.2f} us CPU to encode an event, {decode_us:.2f} to "
            "decode it (500-event segments, median of 5)")  # fmt: skip

    store = open_store(azurite.connection_string, "main")
    with timed() as t:
        await Shipper(journal, store).ship_now()
    figures["ship_backlog_s"] = round(t.seconds, 2)
    compared = compare_formats(
        figures, "bytes_per_event_backlog", await blob_bytes(store),
        await v2_blob_bytes(store, journal), events,
    )  # fmt: skip
    say(f"backlog of {events:,} shipped in {t.seconds:.1f} s: {compared}")
    with timed() as t:
        report = await compact(store, keep_last=0)
    compared = compare_formats(
        figures, "bytes_per_event_compacted", await blob_bytes(store),
        await v2_blob_bytes(store, journal), events,
    )  # fmt: skip
    say(f"compaction {report.segments_before} -> {report.segments_after} segments in "
        f"{t.seconds:.1f} s: {compared}")  # fmt: skip
    await journal.close()

    with timed() as t:
        ws = Workspace.open(source)  # builds the source's analytics, for its snapshot
    say(f"source analytics built in {t.seconds:.1f} s")
    try:
        entry = await ship_snapshot(store, ws.analytics)  # type: ignore[arg-type]
    finally:
        ws.close()
    assert entry is not None
    figures["snapshot_bytes"] = entry.size
    with timed() as t:
        journal_entry = await ship_journal_snapshot(store, journal_path(source))
    assert journal_entry is not None
    figures["journal_snapshot_bytes"] = journal_entry.size
    say(f"journal snapshot at {journal_entry.position:,}: {journal_entry.size / 1e6:.1f} MB "
        f"compressed, shipped in {t.seconds:.1f} s")  # fmt: skip
    say(f"snapshot at {entry.position:,}: {entry.size / 1e6:.1f} MB compressed")
    await store.close()
    return figures


def run(args: argparse.Namespace) -> None:
    """The whole benchmark."""
    tmp = Path(tempfile.mkdtemp(prefix="ibpicker-sync-bench-"))
    figures: dict[str, Any] = {"events": args.events}
    azurite = Azurite(tmp / "azurite")
    try:
        source = tmp / "source"
        source.mkdir()
        with timed() as t:
            generate(journal_path(source), args.events)
        say(f"generated {args.events:,} events in {t.seconds:.1f} s")
        figures.update(asyncio.run(ship_all(source, azurite, args.events)))
        # The main container now holds both snapshots; a cold start "without" ignores them, one
        # "with_snapshot" uses the DuckDB one, "with_both_snapshots" the journal one too.
        for snapshot, journal_snapshot in ((False, False), (True, False), (True, True)):
            cold = run_cold_start(tmp, azurite, "main", snapshot, journal_snapshot)
            key = (
                "with_both_snapshots" if journal_snapshot
                else "with_snapshot" if snapshot else "without_snapshot"
            )  # fmt: skip
            figures[f"cold_start_s_{key}"] = round(cold["ready_s"], 2)
            figures[f"cold_start_restore_s_{key}"] = round(cold["restore_s"], 2)
            figures[f"cold_start_catch_up_s_{key}"] = round(cold["catch_up_s"], 2)
            figures[f"cold_start_peak_rss_mib_{key}"] = round(cold["peak_rss_mib"], 1)
            figures[f"cold_start_rss_before_catch_up_mib_{key}"] = round(
                cold["rss_before_catch_up_mib"], 1
            )
            say(
                f"cold start {key.replace('_', ' ')}: ready in {cold['ready_s']:.2f} s "
                f"(restore {cold['restore_s']:.2f} s of {cold['events']:,} events, catch-up "
                f"{cold['catch_up_s']:.2f} s), peak RSS {cold['peak_rss_mib']:.0f} MiB"
            )
        commands = asyncio.run(measure_commands(tmp, azurite, args.commands, args.durable_commands))
        figures.update(commands)
        say(
            f"commands/s shipping off {commands['commands_per_s_shipping_off']:,}, on "
            f"{commands['commands_per_s_shipping_on']:,} (format v{FORMAT_VERSION}) vs "
            f"{commands['commands_per_s_shipping_on_v2']:,} (v2): ratio "
            f"{commands['shipping_ratio']} vs {commands['shipping_ratio_v2']}; CPU per command "
            f"{commands['cpu_ms_per_command_shipping_off']} ms off, "
            f"{commands['cpu_ms_per_command_shipping_on']} ms on (v{FORMAT_VERSION}), "
            f"{commands['cpu_ms_per_command_shipping_on_v2']} ms on (v2): CPU ratio "
            f"{commands['shipping_cpu_ratio']} vs {commands['shipping_cpu_ratio_v2']}"
        )
        say(
            f"durable ack: p99 {commands['command_p99_ms_durable_ack']} ms vs "
            f"{commands['command_p99_ms_off']} ms (added {commands['durable_ack_added_p99_ms']} ms)"
        )
    finally:
        azurite.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print_json_last(figures)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the benchmark (or its cold-start child step)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--commands", type=int, default=3_000)
    parser.add_argument("--durable-commands", type=int, default=500)
    parser.add_argument("--child-cold-start", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--connection-string", help=argparse.SUPPRESS)
    parser.add_argument("--container", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--journal-snapshot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-ship-journal-snapshot", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_cold_start is not None:
        asyncio.run(
            cold_start(
                args.child_cold_start, args.connection_string, args.container, args.snapshot,
                args.journal_snapshot,
            )
        )  # fmt: skip
        return
    if args.child_ship_journal_snapshot is not None:
        asyncio.run(
            ship_one_journal_snapshot(
                args.child_ship_journal_snapshot, args.connection_string, args.container
            )
        )
        return
    run(args)


if __name__ == "__main__":
    main()
