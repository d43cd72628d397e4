"""The journal commands' PostgreSQL side: ``journal migrate --to postgresql://…`` and the
snapshot that lets ``journal verify`` check a PostgreSQL journal with the same checks as a file.

``migrate`` copies the data folder's SQLite journal into PostgreSQL keeping every position, state
and command id (``events.postgres.migrate``: a transaction per page, each checked against the
source's hash chain, so running it again resumes after the database's head), then verifies the
copy event by event and compares the projections: the folder's analytics (built from the SQLite
journal) against a fresh rebuild from the database's events (``projections.verify``). It holds the
folder's writer lock throughout, so nothing appends to the source meanwhile.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import msgspec
import typer

import cli_options
from cli_options import DataDirOption, JsonOption, resolve_data_dir
from events.journal import Journal, JournalError, JournalReader, WriterBusyError, WriterLock
from projections.registry import all_analytics_projections
from projections.verify import VerifyReport, verify
from projections.workspace import analytics_path, journal_path

SNAPSHOT_FILE = "journal.sqlite"


@contextmanager
def journal_file(folder: Path, url: str | None) -> Iterator[Path]:
    """The SQLite journal file to verify: the folder's, or a snapshot of the PostgreSQL one
    (``events.postgres.copy_to_sqlite``, as stored, in a temporary folder removed after)."""
    if url is None:
        yield journal_path(folder)
        return
    from events.postgres import copy_to_sqlite  # psycopg on that path only

    with tempfile.TemporaryDirectory(prefix="ibpicker-pg-snapshot-") as tmp:
        path = Path(tmp) / SNAPSHOT_FILE
        copy_to_sqlite(url, path)
        yield path


class MigrateOutcome(msgspec.Struct, frozen=True):
    """What ``journal migrate`` did and found (its ``--json`` output)."""

    copied: int
    already: int
    head: int
    differences: list[str]
    projections: dict[str, str]
    sound: bool


def register(journal_app: typer.Typer) -> None:
    """Add ``migrate`` and ``migrate-back`` to the ``journal`` group."""
    journal_app.command("migrate")(migrate_command)
    journal_app.command("migrate-back")(migrate_back_command)


def migrate_command(
    to: Annotated[
        str, typer.Option("--to", help="The PostgreSQL database: postgresql://user@host:port/db.")
    ],
    data_dir: DataDirOption = None,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, help="Events per transaction.")
    ] = 5000,
    as_json: JsonOption = False,
) -> None:
    """Copy the folder's SQLite journal into PostgreSQL (every position and command id kept),
    verify it event by event and compare the projections; run again to resume. Exit 1 when the
    copy differs."""
    from events.postgres import PostgresJournalReader, differences, is_postgres_url, migrate

    if not is_postgres_url(to):
        cli_options.fail("--to must be a postgresql:// URL")
    folder = resolve_data_dir(data_dir)
    if not journal_path(folder).exists():
        cli_options.fail(f"no journal at {journal_path(folder)} (is --data-dir right?)")
    try:
        lock = WriterLock(folder).acquire()
    except WriterBusyError as exc:
        cli_options.fail(f"{exc} (stop the bot before migrating)", code=1)
    try:
        source = JournalReader(journal_path(folder))
        target = Journal.open("", url=to)
        try:
            report = migrate(source, target, page_size=page_size)
            copy = PostgresJournalReader(to)
            try:
                found = differences(source, copy, page_size=page_size)
            finally:
                copy.close()
        finally:
            target.close()
            source.close()
        with journal_file(folder, to) as snapshot:
            checked = verify(snapshot, analytics_path(folder), all_analytics_projections())
    except JournalError as exc:
        cli_options.fail(str(exc), code=1)
    finally:
        lock.release()
    outcome = _outcome(report.copied, report.already, report.head, found, checked)
    if as_json:
        cli_options.out.print_json(msgspec.json.encode(outcome).decode())
    else:
        cli_options.out.print(
            f"copied {outcome.copied:,} events ({outcome.already:,} were already there), head "
            f"{outcome.head:,}; " + ("identical, event by event" if not found else "DIFFERS"),
            markup=False,
        )
        for line in [*found, *(f"  {n:<16} {o}" for n, o in outcome.projections.items())]:
            cli_options.out.print(line, markup=False)
    raise typer.Exit(0 if outcome.sound else 1)


def _outcome(
    copied: int, already: int, head: int, found: list[str], checked: VerifyReport
) -> MigrateOutcome:
    return MigrateOutcome(
        copied=copied,
        already=already,
        head=head,
        differences=found,
        projections={c.name: c.outcome for c in checked.projections},
        sound=not found and checked.sound,
    )


def migrate_back_command(
    source: Annotated[
        str,
        typer.Option("--from", help="The PostgreSQL database: postgresql://user@host:port/db."),
    ],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the PostgreSQL journal into the folder's SQLite file, as stored (every position,
    state and command id), and compare it event by event: the way back to one replica, or a
    backup that ``ibpicker sync push`` ships as segments. The folder must hold no events; stop
    the writers first. Exit 1 when the copy differs."""
    from events.postgres import PostgresJournalReader, copy_to_sqlite, differences, is_postgres_url

    if not is_postgres_url(source):
        cli_options.fail("--from must be a postgresql:// URL")
    folder = resolve_data_dir(data_dir)
    final = journal_path(folder)
    try:
        lock = WriterLock(folder).acquire()
    except WriterBusyError as exc:
        cli_options.fail(f"{exc} (stop the bot first)", code=1)
    try:
        if final.exists() and _head(final):
            cli_options.fail(f"{final} already holds events: use an empty --data-dir")
        partial = final.with_name(final.name + ".partial")
        for leftover in (partial, *(final.with_name(final.name + x) for x in ("", "-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        # Written aside and renamed: an interrupted copy leaves no half journal in the folder.
        copied = copy_to_sqlite(source, partial)
        partial.rename(final)
        original, copy = PostgresJournalReader(source), JournalReader(final)
        try:
            found = differences(original, copy)
        finally:
            original.close()
            copy.close()
    except JournalError as exc:
        cli_options.fail(str(exc), code=1)
    finally:
        lock.release()
    if as_json:
        cli_options.out.print_json(
            msgspec.json.encode({"copied": copied, "differences": found}).decode()
        )
    else:
        verdict = "identical, event by event" if not found else "DIFFERS: " + "; ".join(found)
        cli_options.out.print(f"copied {copied:,} events to {final}; {verdict}", markup=False)
    raise typer.Exit(0 if not found else 1)


def _head(path: Path) -> int:
    reader = JournalReader(path)
    try:
        return reader.head()
    finally:
        reader.close()
