"""The ``ibpicker journal`` command group: inspect, verify, rebuild and export the journal.

Errors in the input (an unknown projection, a position out of range, an unknown tag) exit with
code 2 and a one-line message, never a traceback; ``verify`` exits 1 when it finds a problem.
Long runs show a progress bar with rate and ETA on a terminal, and stay quiet otherwise.

Over 500 lines on purpose: one typer group, six commands sharing the reader, the progress bar and
the JSON printing; the inspection commands (``status``, ``tail``, ``show``) are the seam if it
grows.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import cli_options
from cli_options import DataDirOption, JsonOption, resolve_data_dir
from events.base import Envelope
from events.codec import EventCodec, EventCodecError
from events.journal import JournalCorruptError, JournalError, JournalReader, WriterBusyError
from events.wording import plural
from projections.analytics import (
    Analytics,
    AnalyticsBusyError,
    AnalyticsCorruptError,
    AnalyticsError,
)
from projections.journal_pg import journal_file
from projections.journal_pg import register as register_migrate
from projections.rebuild import memory_limit_bytes
from projections.registry import all_analytics_projections, projection_names
from projections.runner import Progress as ProgressFn
from projections.runner import read_faults
from projections.verify import VerifyReport, verify
from projections.workspace import Workspace, analytics_path, journal_path

journal_app = typer.Typer(
    name="journal",
    help="Inspect, verify, rebuild and export the event journal.",
    no_args_is_help=True,
)

_out = cli_options.out
_err = cli_options.err


def register(app: typer.Typer) -> None:
    """Add the ``journal`` group to the ``ibpicker`` app."""
    app.add_typer(journal_app, name="journal")
    register_migrate(journal_app)


@contextmanager
def _reader(data_dir: Path | None) -> Iterator[JournalReader]:
    """The journal, read-only: the inspection commands never write."""
    folder = resolve_data_dir(data_dir)
    url = cli_options.journal_url()
    try:
        if url is None:
            reader = JournalReader(journal_path(folder))
        else:
            from events.postgres import PostgresJournalReader  # psycopg on that path only

            reader = PostgresJournalReader(url)
    except JournalError as exc:
        cli_options.fail(f"{exc} (is --data-dir right?)" if url is None else str(exc))
    try:
        yield reader
    finally:
        reader.close()


@contextmanager
def _progress(total: int, label: str) -> Iterator[ProgressFn | None]:
    """A rich progress bar with rate and ETA on a terminal; nothing when output is piped."""
    if not sys.stdout.isatty() or total <= 0:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = bar.add_task(label, total=total, rate="")
    started = time.perf_counter()
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        rate = done / max(time.perf_counter() - started, 1e-9)
        bar.update(task, advance=n, rate=f"{rate:,.0f} ev/s")

    with bar:
        yield advance


def _check_tag(tag: str | None, codec: EventCodec) -> list[str]:
    if tag is None:
        return []
    if tag not in codec.tags:
        cli_options.fail(f"unknown tag {tag!r}; known tags: {', '.join(sorted(codec.tags))}")
    return [tag]


def _envelope_dict(env: Envelope) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(env)
    out["tag"] = env.tag
    return out


def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


# -- status -------------------------------------------------------------------------------------


@journal_app.command()
def status(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Head position, and per projection: position, lag, rows and last rebuild."""
    folder = resolve_data_dir(data_dir)
    with _reader(folder) as reader:
        head = reader.head()
        journal_at = reader.path
    path = analytics_path(folder)
    projections: list[dict[str, Any]] = []
    note = "ok"
    if not path.exists():
        note = "not built yet (run `ibpicker journal rebuild`)"
    else:
        try:
            live = Analytics(path, read_only=True)
        except AnalyticsBusyError:
            note = "busy: held by another process (a running bot?); projections not shown"
        except AnalyticsCorruptError as exc:
            note = str(exc)
        else:
            try:
                projections = _projection_status(live, head)
            finally:
                live.close()
    if as_json:
        _print_json({"head": head, "analytics": note, "projections": projections})
        return
    _out.print(f"journal  {journal_at}  head {head:,}")
    _out.print(f"analytics  {path}  {note}")
    if projections:
        table = Table("projection", "position", "lag", "rows", "last rebuild")
        for p in projections:
            table.add_row(
                p["name"], f"{p['position']:,}", f"{p['lag']:,}", f"{p['rows']:,}",
                p["rebuilt_at"] or "never",
            )  # fmt: skip
        _out.print(table)
        for p in projections:
            if p["fault"]:
                _out.print(f"FAULT {p['fault']}", markup=False)


def _projection_status(live: Analytics, head: int) -> list[dict[str, Any]]:
    tracked = live.tracking()
    out = []
    with live.cursor() as cur:
        faults = read_faults(cur)
        existing = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for p in all_analytics_projections():
            t = tracked.get(p.name)
            rows = 0
            for table in p.tables:
                if table in existing:
                    query = f"SELECT COUNT(*) FROM {table}"  # noqa: S608 (a projection's table)
                    found = cur.execute(query).fetchone()
                    rows += int(found[0]) if found else 0
            position = t.position if t else 0
            rebuilt: datetime | None = t.rebuilt_at if t else None
            out.append(
                {
                    "name": p.name,
                    "position": position,
                    "lag": max(head - position, 0),
                    "rows": rows,
                    "rebuilt_at": rebuilt.isoformat() if rebuilt else None,
                    "fault": faults[p.name].message() if p.name in faults else None,
                }
            )
    return out


# -- tail / show --------------------------------------------------------------------------------


@journal_app.command()
def tail(
    data_dir: DataDirOption = None,
    n: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many events.")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = (
        False
    ),
    tag: Annotated[str | None, typer.Option("--type", help="Only events of this tag.")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Each event's whole payload, not a summary.")
    ] = False,
    as_json: JsonOption = False,
    interval: Annotated[float, typer.Option(hidden=True)] = 1.0,
) -> None:
    """The last N events, one summary line each (``--full``: with the whole payload;
    ``--follow`` keeps printing new ones)."""
    with _reader(data_dir) as reader:
        tags = _check_tag(tag, reader.codec)
        head = reader.head()
        last: list[Envelope] = []
        start = max(1, head - n * 50 if tags else head - n + 1)
        while True:  # widen the window until it holds N events of the tag (or the start)
            last = [e for page in _envelopes(reader, start, head, tags) for e in page][-n:]
            if len(last) >= n or start == 1:
                break
            start = max(1, start - n * 500)
        for env in last:
            _print_line(env, as_json, full=full)
        while follow:
            time.sleep(interval)
            now = reader.head()
            for page in _envelopes(reader, head + 1, now, tags):
                for env in page:
                    _print_line(env, as_json, full=full)
            head = now


def _envelopes(
    reader: JournalReader, start: int, stop: int, tags: list[str]
) -> Iterator[list[Envelope]]:
    from projections.base import Page

    wanted = frozenset(tags) if tags else reader.codec.tags
    pages = reader.row_pages(start, stop, tags=tags, page_size=5000)
    while True:
        try:
            rows = next(pages, None)
        except JournalCorruptError as exc:
            cli_options.fail(str(exc), code=1)
        if rows is None:
            return
        try:
            yield Page(reader.codec, rows.first, rows.last, rows.rows).envelopes(wanted)
        except EventCodecError as exc:
            cli_options.fail(f"{exc} (run `ibpicker journal verify`)", code=1)


SUMMARY_TEXT = 40
"""Characters of a text field a summary line shows (``--full`` shows all)."""


def summary(event: object) -> str:
    """An event in a few words: its scalar fields as ``name=value`` (long text shortened),
    its lists and maps counted (``bars: 502 bars``), its defaults left out."""
    parts = []
    for field in msgspec.structs.fields(event):  # type: ignore[arg-type]
        value = getattr(event, field.name)
        default = (
            field.default_factory()
            if field.default_factory is not msgspec.NODEFAULT
            else field.default
        )
        if value == default:
            continue
        if isinstance(value, list | tuple | dict | set | frozenset):
            noun = field.name.removesuffix("s") or field.name
            parts.append(f"{field.name}: {plural(len(value), noun)}")
        elif isinstance(value, str) and len(value) > SUMMARY_TEXT:
            parts.append(f"{field.name}={value[: SUMMARY_TEXT - 1]}…")
        else:
            parts.append(f"{field.name}={value}")
    return " ".join(parts)


def _print_line(env: Envelope, as_json: bool, *, full: bool = False) -> None:
    if as_json:
        _print_json(_envelope_dict(env))
        return
    payload = msgspec.json.encode(env.event).decode() if full else summary(env.event)
    who = "system" if env.actor.guild_id is None else f"{env.actor.guild_id}/{env.actor.user_id}"
    _out.print(
        f"{env.position:>9}  {env.recorded_at:%Y-%m-%d %H:%M:%S}  {env.tag:<24} "
        f"{env.stream}@{env.version}  {who}  {payload}",
        markup=False,
    )


@journal_app.command()
def show(
    position: Annotated[int, typer.Argument(help="The event's global position.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """One event: its envelope and payload, readable."""
    with _reader(data_dir) as reader:
        head = reader.head()
        if not 1 <= position <= head:
            cli_options.fail(f"position {position} is out of range (the journal holds 1..{head})")
        pages = list(_envelopes(reader, position, position, []))
        if not pages or not pages[0]:
            cli_options.fail(
                f"no event at position {position} (a gap? run `ibpicker journal verify`)", 1
            )
        env = pages[0][0]
    if as_json:
        _print_json(_envelope_dict(env))
        return
    table = Table(show_header=False, box=None)
    for key, value in (
        ("position", env.position), ("tag", env.tag), ("stream", env.stream),
        ("version", env.version), ("recorded at", env.recorded_at.isoformat()),
        ("command id", env.command_id),
        ("actor", f"guild {env.actor.guild_id}, user {env.actor.user_id}"
         if env.actor.guild_id is not None else "system"),
    ):  # fmt: skip
        table.add_row(key, str(value))
    _out.print(table)
    payload = json.dumps(msgspec.to_builtins(env.event), indent=2, ensure_ascii=False)
    _out.print(payload, markup=False)


# -- verify -------------------------------------------------------------------------------------


MemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="DuckDB's memory limit for the fresh build (e.g. 300MB, 512MiB; default 100MB for "
        "rebuild, 48MB for verify); "
        "pages are sized to it.",
    ),
]


def _check_memory_limit(memory_limit: str | None) -> None:
    if memory_limit is not None:
        try:
            memory_limit_bytes(memory_limit)
        except ValueError as exc:
            cli_options.fail(str(exc))


@journal_app.command("verify")
def verify_command(
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Check the journal and projections; exit 0 when sound, 1 with a precise report. Never repairs.

    Checks: every event decodes (after upcasting); positions gap-free from 1; each stream's
    versions contiguous from 1; the command-id table consistent; every analytics projection
    equal to a fresh rebuild (built in a temporary file, compared table by table).
    """
    _check_memory_limit(memory_limit)
    folder = resolve_data_dir(data_dir)
    url = cli_options.journal_url()
    if url is None and not journal_path(folder).exists():
        cli_options.fail(f"no journal at {journal_path(folder)} (is --data-dir right?)")
    with _reader(folder) as reader:
        head = reader.head()
    try:
        with journal_file(folder, url) as path, _progress(head, "verify") as advance:
            report = verify(
                path,
                analytics_path(folder),
                all_analytics_projections(),
                progress=advance,
                memory_limit=memory_limit,
            )
    except (JournalError, AnalyticsError) as exc:
        cli_options.fail(str(exc))
    if as_json:
        _print_json({**msgspec.to_builtins(report), "sound": report.sound})
    else:
        _print_report(report)
    raise typer.Exit(0 if report.sound else 1)


def _print_report(report: VerifyReport) -> None:
    _out.print(
        f"{report.events_checked:,} events (head {report.head:,}), {report.streams:,} streams, "
        f"{report.commands:,} commands checked in {report.seconds:.1f} s"
    )
    for problem in report.problems:
        _out.print(f"  PROBLEM [{problem.kind}] {problem.message}", markup=False)
    if report.omitted:
        _out.print(f"  … and {report.omitted} more problems of the same kinds")
    _out.print(f"hash chain: {report.chain}", markup=False)
    _out.print(f"analytics: {report.analytics}", markup=False)
    for check in report.projections:
        _out.print(f"  {check.name:<16} @ {check.position:>10,}  {check.outcome}", markup=False)
    _out.print("sound" if report.sound else "NOT SOUND")


# -- rebuild ------------------------------------------------------------------------------------


@journal_app.command("rebuild")
def rebuild_command(
    data_dir: DataDirOption = None,
    projection: Annotated[
        list[str] | None,
        typer.Option("--projection", "-p", help="Rebuild only this projection (repeatable)."),
    ] = None,
    to: Annotated[int | None, typer.Option("--to", help="Stop at this position.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build and check the fresh file, then discard it.")
    ] = False,
    as_json: JsonOption = False,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Rebuild analytics projections into a fresh file and swap it in atomically.

    A running bot keeps serving from the old file and reopens the new one at its next catch-up.
    Side effects never run in a rebuild: projections only fold events.
    """
    _check_memory_limit(memory_limit)
    names = projection or []
    valid = projection_names()
    unknown = [n for n in names if n not in valid]
    if unknown:
        cli_options.fail(f"unknown projection {', '.join(unknown)}; valid: {', '.join(valid)}")
    folder = resolve_data_dir(data_dir)
    with _reader(folder) as reader:
        head = reader.head()
    if to is not None and not 0 <= to <= head:
        cli_options.fail(f"--to {to} is out of range (the journal holds 1..{head})")
    try:
        with (
            Workspace.open(
                folder, analytics=False, catch_up=False, journal_url=cli_options.journal_url()
            ) as ws,
            _progress(to if to is not None else head, "rebuild") as advance,
        ):
            report = ws.rebuild(
                names, to=to, dry_run=dry_run, progress=advance, memory_limit=memory_limit
            )
    except JournalCorruptError as exc:
        cli_options.fail(f"not rebuilding from a faulty journal: {exc}", code=1)
    except WriterBusyError as exc:
        cli_options.fail(str(exc), code=1)
    except EventCodecError as exc:
        cli_options.fail(f"{exc} (run `ibpicker journal verify`)", code=1)
    if as_json:
        _print_json(report)
        raise typer.Exit(1 if report.faults else 0)
    verb = "swapped in" if report.swapped else "built and discarded (dry run)"
    rate = report.events_read / report.seconds if report.seconds else 0.0
    _out.print(
        f"rebuilt {', '.join(report.projections)} to position {report.to_position:,}: "
        f"{report.events_read:,} events in {report.seconds:.1f} s ({rate:,.0f} events/s), {verb}"
    )
    for fault in report.faults:
        cli_options.err.print(f"error: {fault}", markup=False)
    if report.faults:
        raise typer.Exit(1)


# -- export -------------------------------------------------------------------------------------

_CSV_FIELDS = ["position", "tag", "stream", "version", "recorded_at", "command_id", "guild_id",
               "user_id", "payload"]  # fmt: skip


@journal_app.command()
def export(
    data_dir: DataDirOption = None,
    fmt: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", help="jsonl or csv.")
    ] = "jsonl",
    start: Annotated[int, typer.Option("--from", help="First position.")] = 1,
    stop: Annotated[int | None, typer.Option("--to", help="Last position.")] = None,
    tag: Annotated[str | None, typer.Option("--type", help="Only events of this tag.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export events (envelope + payload) as JSON lines or CSV."""
    with _reader(data_dir) as reader:
        tags = _check_tag(tag, reader.codec)
        head = reader.head()
        last = head if stop is None else stop
        if start < 1 or last > head or start > last:
            cli_options.fail(f"range {start}..{last} is out of range (the journal holds 1..{head})")
        sink = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
        try:
            with _progress(last - start + 1 if output else 0, "export") as advance:
                _write(sink, fmt, _envelopes(reader, start, last, tags), advance)
        finally:
            if output:
                sink.close()


def _write(
    sink: Any, fmt: str, pages: Iterator[list[Envelope]], advance: ProgressFn | None
) -> None:
    writer = csv.writer(sink) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(_CSV_FIELDS)
    for page in pages:
        for env in page:
            if writer is None:
                sink.write(msgspec.json.encode(_envelope_dict(env)).decode() + "\n")
            else:
                writer.writerow(
                    [env.position, env.tag, env.stream, env.version, env.recorded_at.isoformat(),
                     env.command_id, env.actor.guild_id, env.actor.user_id,
                     msgspec.json.encode(env.event).decode()]
                )  # fmt: skip
        if advance is not None and page:
            advance(len(page))
