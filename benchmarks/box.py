"""Run named operations inside a cgroup of the ADR's container size and report what they cost.

    .venv/bin/python benchmarks/box.py verify rebuild --events 1m --repeats 3
    .venv/bin/python benchmarks/box.py bot daily --events 100k
    .venv/bin/python benchmarks/box.py rebuild --events 1m --outside     # the same, no box
    .venv/bin/python benchmarks/box.py --list

The box is the hosting decision's container: 0.25 vCPU (``cpu.cfs_quota_us=25000`` of a
100000 period; ``cpu.max`` on cgroup v2) and 0.5 GiB of memory (``memory.limit_in_bytes``;
``memory.max``), swap not allowed. A process over the limit is killed, as it would be in the
container. Each scenario runs ``--repeats`` times, each time in a fresh group made for it (v1 or
v2, whichever the machine mounts; exit 2 with a message when none can be made: not root, no
memory or cpu controller) and removed after. Per run it reports:

- ``wall_s`` and ``cpu_s`` (user + system of the process and the children it waited for);
- ``cgroup_peak_mib``: the group's own peak (``memory.max_usage_in_bytes`` / ``memory.peak``),
  which includes the page cache of the files the operation read (reclaimable: the kernel evicts
  it before it kills anyone);
- ``cgroup_anon_peak_mib``: the group's anonymous memory, sampled every 50 ms (what cannot be
  evicted: the figure that decides a kill);
- ``anon_peak_mib`` and ``rss_peak_mib``: the main process's own anonymous peak (sampled
  ``RssAnon``) and ``VmHWM``, its peak RSS including shared library pages, which are charged to
  the group that first loaded them (outside the box when the page cache already held them);
- ``tree_rss_peak_mib``: the sampled peak of the RSS summed over every process in the group (the
  bot's chart workers, a benchmark's helpers);
- ``killed``: whether the kernel killed it for memory (``oom_kill`` of the group, or SIGKILL);
- ``figures``: the operation's own last-line JSON (a benchmark's latencies, a rebuild's report).

Journals come from ``benchmarks/journal.py``'s generator (the realistic mix), made once per size
into ``--journals`` (default ``/tmp/box-journals/<size>``) and reused; their analytics are caught
up outside the box before the first run, as a deployed bot finds them. Cold-start scenarios ship
the journal to an Azurite started here on 127.0.0.1 (data kept beside the journals, stopped at the
end) as a deployed bot has: segments, a journal snapshot ``--journal-snapshot-lag`` events before
the head (its last one, hours old), the later segments, and a DuckDB snapshot at the head.
``cold-start`` uses no snapshot, ``cold-start-snapshot`` both,
``cold-start-analytics-snapshot`` the DuckDB one only (the start before journal snapshots, for a
before/after in one run) and ``cold-start-journal-snapshot`` the journal one only. Everything but
the scenario's own process runs outside the box.

The medians of every figure over the repeats are printed per scenario; the last line of output is
one JSON object ``{"box": ..., "scenarios": {name: {medians..., "runs": [...]}}}``.

Over 500 lines on purpose: one benchmark script, run as one command; its sections are the cgroup
(``Box``, ``Sampler``, ``run_once``), the prepared journals, the scenarios and the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The project first (``benchmarks/sync.py`` would shadow the ``sync`` package).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import median, print_json_last, say

ROOT = Path(__file__).resolve().parent.parent

CPU_QUOTA_US = 25_000
CPU_PERIOD_US = 100_000
MEMORY_LIMIT = 512 * 2**20
SAMPLE_EVERY_S = 0.05
MIB = 2**20
SIZES = {"100k": 100_000, "1m": 1_000_000}
CGROUP_ROOT = Path("/sys/fs/cgroup")


class BoxError(Exception):
    """The box cannot be made here (with the reason)."""


# -- the cgroup ------------------------------------------------------------------------------------


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stat(path: Path) -> dict[str, int]:
    """A ``key value`` file (``memory.stat``, ``memory.events``, ``memory.oom_control``)."""
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


class Box:
    """One cgroup of the ADR's size (v1: a memory and a cpu group; v2: one group)."""

    def __init__(self, name: str, *, cgroup_root: Path = CGROUP_ROOT) -> None:
        self.name = name
        self.root = cgroup_root
        self.version = self._detect()
        self.dirs: list[Path] = []

    def _detect(self) -> int:
        if os.geteuid() != 0:
            raise BoxError("making cgroups needs root (run as root, or in a privileged container)")
        if (self.root / "memory" / "memory.limit_in_bytes").exists() and (
            self.root / "cpu" / "cpu.cfs_quota_us"
        ).exists():
            return 1
        controllers = self.root / "cgroup.controllers"
        if controllers.exists():
            have = set(controllers.read_text().split())
            if {"cpu", "memory"} <= have:
                return 2
            raise BoxError(f"cgroup v2 at {self.root} lacks the cpu or memory controller: {have}")
        raise BoxError(f"no cgroup v1 memory+cpu hierarchy nor cgroup v2 under {self.root}")

    def create(self) -> None:
        """Make the group(s) with the limits; ``BoxError`` naming what failed."""
        try:
            if self.version == 1:
                memory = self.root / "memory" / self.name
                cpu = self.root / "cpu" / self.name
                for d in (memory, cpu):
                    d.mkdir()
                    self.dirs.append(d)
                _write(memory / "memory.limit_in_bytes", str(MEMORY_LIMIT))
                memsw = memory / "memory.memsw.limit_in_bytes"
                if memsw.exists():  # no escape into swap, as in the container
                    _write(memsw, str(MEMORY_LIMIT))
                _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(CPU_QUOTA_US))
            else:
                subtree = self.root / "cgroup.subtree_control"
                enabled = set(subtree.read_text().split())
                for controller in {"cpu", "memory"} - enabled:
                    _write(subtree, f"+{controller}")
                group = self.root / self.name
                group.mkdir()
                self.dirs.append(group)
                _write(group / "memory.max", str(MEMORY_LIMIT))
                if (group / "memory.swap.max").exists():
                    _write(group / "memory.swap.max", "0")
                _write(group / "cpu.max", f"{CPU_QUOTA_US} {CPU_PERIOD_US}")
        except OSError as exc:
            self.remove()
            raise BoxError(f"cannot make cgroup {self.name} (v{self.version}): {exc}") from exc

    @property
    def memory_dir(self) -> Path:
        return self.dirs[0]

    def join(self) -> None:
        """Put the calling process in every group (called in the child before ``exec``)."""
        for d in self.dirs:
            with open(d / "cgroup.procs", "w") as procs:
                procs.write("0")  # "0": the writing process itself

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.memory_dir / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def peak_bytes(self) -> int | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        return _read_int(self.memory_dir / name)

    def anon_bytes(self) -> int:
        stat = _stat(self.memory_dir / "memory.stat")
        if self.version == 1:
            return stat.get("rss", 0) + stat.get("rss_huge", 0)
        return stat.get("anon", 0)

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        return _stat(self.memory_dir / name).get("oom_kill", 0)

    def failcnt(self) -> int | None:
        return _read_int(self.memory_dir / "memory.failcnt") if self.version == 1 else None

    def remove(self) -> None:
        """Remove the groups (their processes, all started here, are killed first)."""
        for d in reversed(self.dirs):
            for _ in range(50):
                for pid in self.pids() if d == self.dirs[0] else []:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        self.dirs = []


def check_box(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cgroup version a box would use here; ``BoxError`` with the reason when there is none."""
    probe = Box(f"ibpicker-box-probe-{os.getpid()}", cgroup_root=cgroup_root)
    probe.create()
    probe.remove()
    return probe.version


# -- one run ---------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon"):
                    out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


@dataclass
class Sampler:
    """Samples memory of the main process, of every process in the group, and of the group."""

    pid: int
    box: Box | None
    anon_peak: int = 0
    hwm: int = 0
    tree_rss_peak: int = 0
    group_anon_peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_EVERY_S)

    def sample(self) -> None:
        main = _status(self.pid)
        self.anon_peak = max(self.anon_peak, main.get("RssAnon", 0))
        self.hwm = max(self.hwm, main.get("VmHWM", 0))
        pids = self.box.pids() if self.box is not None else [self.pid, *_children(self.pid)]
        tree = sum(_status(p).get("VmRSS", 0) for p in pids)
        self.tree_rss_peak = max(self.tree_rss_peak, tree)
        if self.box is not None:
            self.group_anon_peak = max(self.group_anon_peak, self.box.anon_bytes())

    def stop(self) -> None:
        self._stop.set()


def _children(pid: int) -> list[int]:
    """Descendants of ``pid`` (outside the box, where no group lists them)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for k in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError):
            kids = []
        out += kids
        todo += kids
    return out


CONTAINER_ENV = {"MALLOC_ARENA_MAX": "2"}
"""What the Dockerfile's runtime stage sets that changes memory: every scenario runs with it."""


def run_once(
    name: str, command: list[str], *, boxed: bool, log: Path, cgroup_root: Path = CGROUP_ROOT
) -> dict[str, Any]:
    """Run ``command`` (in a fresh box unless ``boxed`` is false); return its figures."""
    box = Box(f"ibpicker-box-{os.getpid()}-{name}", cgroup_root=cgroup_root) if boxed else None
    if box is not None:
        box.create()
    try:
        with open(log, "wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                preexec_fn=box.join if box is not None else None,
                env=os.environ | CONTAINER_ENV,
            )  # fmt: skip
            sampler = Sampler(process.pid, box)
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
            # wait4 gives the child's own rusage (CPU of it and the children it waited for).
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            sampler.stop()
            thread.join()
        output = log.read_text(errors="replace")
        oom = box.oom_kills() if box is not None else 0
        killed = oom > 0 or process.returncode == -signal.SIGKILL
        peak = box.peak_bytes() if box is not None else None
        result: dict[str, Any] = {
            "exit": process.returncode,
            "killed": killed,
            "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "cgroup_peak_mib": round(peak / MIB, 1) if peak is not None else None,
            "cgroup_anon_peak_mib": round(sampler.group_anon_peak / MIB, 1) if box else None,
            "anon_peak_mib": round(sampler.anon_peak / MIB, 1),
            # ru_maxrss of a waited child is its own VmHWM (it was forked from this small process).
            "rss_peak_mib": round(max(sampler.hwm, usage.ru_maxrss * 1024) / MIB, 1),
            "tree_rss_peak_mib": round(sampler.tree_rss_peak / MIB, 1),
            "figures": _last_json(output),
        }
        if box is not None and box.failcnt() is not None:
            result["memory_failcnt"] = box.failcnt()
        if process.returncode != 0 and not killed:
            result["tail"] = output[-1500:]
        return result
    finally:
        if box is not None:
            box.remove()


def _last_json(output: str) -> Any:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    for candidate in (lines[-1] if lines else "", output):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


# -- the data the scenarios run on -----------------------------------------------------------------


def journal_dir(journals: Path, size: str) -> Path:
    """The folder of one journal size, generated (outside the box) and caught up on first use."""
    from projections.workspace import Workspace, analytics_path, journal_path

    folder = journals / size
    folder.mkdir(parents=True, exist_ok=True)
    if not journal_path(folder).exists():
        from benchmarks.journal import generate

        say(f"generating a {size} journal into {folder} (once; reused after)")
        generate(journal_path(folder), SIZES[size])
    if not analytics_path(folder).exists():
        say("building its analytics (outside the box), as a deployed bot finds them")
        with Workspace.open(folder):
            pass
    return folder


def fresh_copy(source: Path, target: Path) -> Path:
    """A copy of a journal folder's journal and analytics (a scenario that writes gets its own)."""
    from projections.workspace import analytics_path, journal_path

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in (journal_path(source), analytics_path(source)):
        if path.exists():
            shutil.copy2(path, target / path.name)
    return target


class Blob:
    """Azurite (outside the box) holding a size's journal shipped as segments, plus a snapshot."""

    def __init__(self, journals: Path) -> None:
        from benchmarks.sync import Azurite

        self.azurite = Azurite(journals / "azurite")

    def container(self, source: Path, size: str, journal_snapshot_lag: int) -> str:
        """The container holding ``source``'s journal and both snapshots (shipped once, kept)."""
        from events.segments import FORMAT_VERSION

        # The segment format in the name: a journal shipped by older code is shipped again.
        name = f"box-{size}-v{FORMAT_VERSION}-j{journal_snapshot_lag}"
        marker = source.parent / "azurite" / f".shipped-{name}"
        if not marker.exists():
            say(f"shipping the {size} journal and both snapshots to Azurite (once)")
            asyncio.run(self._ship(source, name, journal_snapshot_lag))
            marker.write_text("shipped\n")
        return name

    async def _ship(self, source: Path, container: str, journal_snapshot_lag: int) -> None:
        """Ship as a deployed bot has: segments up to ``journal_snapshot_lag`` events before the
        head, the journal snapshot there (its last snapshot), the rest, then the analytics
        snapshot at the head."""
        from benchmarks.sync import open_store
        from events.journal import AsyncJournal, Journal
        from projections.workspace import Workspace, journal_path
        from sync.journal_snapshot import ship_journal_snapshot
        from sync.shipper import Shipper
        from sync.snapshot import ship_snapshot

        store = open_store(self.azurite.connection_string, container)
        journal = AsyncJournal(Journal.open(journal_path(source)))
        try:
            shipper = Shipper(journal, store)
            upto = journal.head() - journal_snapshot_lag
            while shipper.shipped < upto:
                await shipper._ship_next(upto)
            await journal.close()
            entry = await ship_journal_snapshot(store, journal_path(source))
            assert entry is not None
            journal = AsyncJournal(Journal.open(journal_path(source)))
            shipper = Shipper(journal, store)
            await shipper.ship_now()
            say(f"journal snapshot at {entry.position:,} ({entry.size / 1e6:.1f} MB), segments "
                f"to {shipper.shipped:,}")  # fmt: skip
        finally:
            await journal.close()
        ws = Workspace.open(source)
        try:
            await ship_snapshot(store, ws.analytics)  # type: ignore[arg-type]
        finally:
            ws.close()
            await store.close()

    def ship_container(self, shipped: str, run: int) -> str:
        """A fresh container whose manifest is container ``shipped``'s without its snapshots,
        for one journal snapshot to be shipped into (the segments it lists are not read)."""
        return asyncio.run(self._ship_container(shipped, run))

    async def _ship_container(self, container: str, run: int) -> str:
        import msgspec

        from benchmarks.sync import open_store
        from sync.manifest import MANIFEST_NAME, read_manifest

        shipped = open_store(self.azurite.connection_string, container)
        name = f"{container}-ship-{os.getpid()}-{run}"
        target = open_store(self.azurite.connection_string, name)
        try:
            manifest, _ = await read_manifest(shipped)
            assert manifest is not None
            bare = msgspec.structs.replace(manifest, journal_snapshot=None, snapshot=None)
            await target.create(MANIFEST_NAME, msgspec.json.encode(bare))
        finally:
            await shipped.close()
            await target.close()
        return name

    def stop(self) -> None:
        self.azurite.stop()


@dataclass
class Context:
    """What the scenarios share: where journals are, the work folder, Azurite once started."""

    journals: Path
    size: str
    work: Path
    args: argparse.Namespace
    blob: Blob | None = None

    def azurite(self) -> Blob:
        if self.blob is None:
            self.blob = Blob(self.journals)
        return self.blob


PY = sys.executable
IBPICKER = str(Path(sys.executable).with_name("ibpicker"))
Scenario = Callable[[Context, int], list[str]]


def _verify(ctx: Context, run: int) -> list[str]:
    folder = journal_dir(ctx.journals, ctx.size)
    limit = ["--memory-limit", ctx.args.memory_limit] if ctx.args.memory_limit else []
    return [IBPICKER, "journal", "verify", "--data-dir", str(folder), "--json", *limit]


def _rebuild(ctx: Context, run: int) -> list[str]:
    folder = fresh_copy(journal_dir(ctx.journals, ctx.size), ctx.work / "rebuild")
    limit = ["--memory-limit", ctx.args.memory_limit] if ctx.args.memory_limit else []
    return [IBPICKER, "journal", "rebuild", "--data-dir", str(folder), "--json", *limit]


def _cold_start(snapshot: bool, journal_snapshot: bool) -> Scenario:
    def scenario(ctx: Context, run: int) -> list[str]:
        source = journal_dir(ctx.journals, ctx.size)
        blob = ctx.azurite()
        container = blob.container(source, ctx.size, ctx.args.journal_snapshot_lag)
        target = ctx.work / "cold"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return [
            PY, str(ROOT / "benchmarks" / "sync.py"), "--child-cold-start", str(target),
            "--container", container, "--connection-string", blob.azurite.connection_string,
            *(["--snapshot"] if snapshot else []),
            *(["--journal-snapshot"] if journal_snapshot else []),
        ]  # fmt: skip

    return scenario


def _ship_journal_snapshot(ctx: Context, run: int) -> list[str]:
    source = journal_dir(ctx.journals, ctx.size)
    blob = ctx.azurite()
    shipped = blob.container(source, ctx.size, ctx.args.journal_snapshot_lag)
    folder = fresh_copy(source, ctx.work / "ship")
    container = blob.ship_container(shipped, run)
    return [
        PY, str(ROOT / "benchmarks" / "sync.py"), "--child-ship-journal-snapshot", str(folder),
        "--container", container, "--connection-string", blob.azurite.connection_string,
    ]  # fmt: skip


def _bot(ctx: Context, run: int) -> list[str]:
    from benchmarks.bot import ship_journal

    folder = fresh_copy(journal_dir(ctx.journals, ctx.size), ctx.work / "bot")
    # Shipped outside the box, as a deployed bot finds its journal (see benchmarks/bot.py).
    ship_journal(folder)
    return [
        PY, str(ROOT / "benchmarks" / "bot.py"), "--data-dir", str(folder),
        "--samples", str(ctx.args.bot_samples), "--commands", str(ctx.args.bot_commands),
    ]  # fmt: skip


def _daily(ctx: Context, run: int) -> list[str]:
    folder = fresh_copy(journal_dir(ctx.journals, ctx.size), ctx.work / "daily")
    return [PY, str(ROOT / "benchmarks" / "daily.py"), "--data-dir", str(folder)]


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "verify": (_verify, "`ibpicker journal verify` (journal and every projection)"),
    "rebuild": (_rebuild, "`ibpicker journal rebuild` (every projection, swapped in)"),
    "cold-start": (_cold_start(False, False), "restore from Blob + catch-up, no snapshot"),
    "cold-start-snapshot": (
        _cold_start(True, True),
        "the journal snapshot, the segments after it, the DuckDB snapshot + catch-up",
    ),
    "cold-start-analytics-snapshot": (
        _cold_start(True, False),
        "every segment + the DuckDB snapshot (cold-start-snapshot before the journal snapshot)",
    ),
    "cold-start-journal-snapshot": (
        _cold_start(False, True),
        "the journal snapshot, the segments after it, catch-up from position 0 (no DuckDB one)",
    ),
    "ship-journal-snapshot": (
        _ship_journal_snapshot,
        "the bot's cost of shipping one journal snapshot (copy, zstd, upload)",
    ),
    "bot": (_bot, "benchmarks/bot.py: the real bot, /trade open and /metrics with charts"),
    "daily": (_daily, "benchmarks/daily.py: the daily run over a 50-symbol watchlist"),
}


# -- main ------------------------------------------------------------------------------------------


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric figure over ``runs`` (nested ``figures`` included)."""
    out: dict[str, Any] = {"runs": len(runs), "killed": sum(bool(r["killed"]) for r in runs)}
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    for key in keys:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        out[key] = round(median(values), 2)
    figures = [r["figures"] for r in runs if isinstance(r.get("figures"), dict)]
    if figures:
        nested = {}
        for key, value in figures[0].items():
            values = [f[key] for f in figures if isinstance(f.get(key), int | float)]
            if isinstance(value, int | float) and not isinstance(value, bool) and values:
                nested[key] = round(median(values), 3)
        out["figures"] = nested
    return out


def _line(name: str, m: dict[str, Any]) -> str:
    def f(key: str, unit: str) -> str:
        value = m.get(key)
        return f"{key.removesuffix('_mib').removesuffix('_s')} {value}{unit}" if value else ""

    parts = [
        f("wall_s", " s"), f("cpu_s", " s"), f("cgroup_peak_mib", " MiB"),
        f("cgroup_anon_peak_mib", " MiB"), f("anon_peak_mib", " MiB"),
        f("rss_peak_mib", " MiB"), f("tree_rss_peak_mib", " MiB"),
    ]  # fmt: skip
    killed = f"KILLED {m['killed']} of {m['runs']}" if m["killed"] else "not killed"
    return f"{name}: medians of {m['runs']}: " + ", ".join(p for p in parts if p) + f"; {killed}"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run each scenario ``--repeats`` times, print medians; exit 2 without box."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of: {', '.join(SCENARIOS)}")
    parser.add_argument("--events", choices=sorted(SIZES), default="100k")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--journals", type=Path, default=Path("/tmp/box-journals"))
    parser.add_argument("--outside", action="store_true", help="run without the box (baseline)")
    parser.add_argument(
        "--cgroup-root", type=Path, default=CGROUP_ROOT, help="where cgroups are mounted"
    )
    parser.add_argument("--memory-limit", help="passed to verify and rebuild (e.g. 300MB)")
    parser.add_argument(
        "--journal-snapshot-lag", type=int, default=20_000,
        help="events shipped after the last journal snapshot (a deployed bot's hours since it)",
    )  # fmt: skip
    parser.add_argument("--bot-samples", type=int, default=200)
    parser.add_argument("--bot-commands", type=int, default=200)
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list or not args.scenarios:
        for name, (_, what) in SCENARIOS.items():
            print(f"{name:<22}{what}")
        return 0 if args.list else 2
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenario {', '.join(unknown)}; valid: {', '.join(SCENARIOS)}")
        return 2
    version = None
    if not args.outside:
        try:
            version = check_box(args.cgroup_root)
        except BoxError as exc:
            print(f"cannot make the box: {exc}", file=sys.stderr)
            return 2
    box = (
        "none (--outside)" if version is None
        else f"cgroup v{version}: {CPU_QUOTA_US / CPU_PERIOD_US:g} vCPU, {MEMORY_LIMIT // MIB} MiB"
    )  # fmt: skip
    say(f"box: {box}; {args.events} events; {args.repeats} repeats; {os.cpu_count()} cores")
    work = args.journals / f"work-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.journals, args.events, work, args)
    results: dict[str, Any] = {}
    try:
        for name in args.scenarios:
            make, _ = SCENARIOS[name]
            runs = []
            for n in range(args.repeats):
                command = make(ctx, n)
                run = run_once(
                    name, command, boxed=not args.outside, log=work / f"{name}.log",
                    cgroup_root=args.cgroup_root,
                )  # fmt: skip
                killed = ", KILLED" if run["killed"] else ""
                say(
                    f"  {name} run {n + 1}: exit {run['exit']}, {run['wall_s']} s, cgroup peak "
                    f"{run['cgroup_peak_mib']} MiB, anon {run['anon_peak_mib']} MiB, "
                    f"VmHWM {run['rss_peak_mib']} MiB{killed}"
                )
                if "tail" in run:
                    say(run["tail"])
                runs.append(run)
            summary = medians(runs)
            summary["each"] = runs
            results[name] = summary
            say(_line(name, summary))
    finally:
        if ctx.blob is not None:
            ctx.blob.stop()
        shutil.rmtree(work, ignore_errors=True)
    print_json_last({"box": box, "events": args.events, "scenarios": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
