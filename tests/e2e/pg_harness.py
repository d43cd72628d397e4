"""Bot replicas on one PostgreSQL journal, for the tests of the bot in PostgreSQL mode.

``pg_template`` copies the e2e template's journal (sample bars and flows, ``prepare_template``)
into a database, keeping every position, so a copy of the template's folder without its journal
file is a replica's disk whose analytics are already at the database's head (its own snapshot).
``journal_events`` reads the shared journal apart from every replica. ``replica_settings`` are
the settings overrides of one replica (``bot_app(settings=...)``; with
the harness's ``TEST_SYNC`` it serves no health server).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from events.journal import Journal, JournalReader
from events.postgres import migrate


def pg_template(template: Path, url: str) -> None:
    """Copy ``template``'s SQLite journal into the empty database at ``url`` (positions kept)."""
    source = JournalReader(template / "journal.sqlite")
    target = Journal.open("", url=url)
    try:
        migrate(source, target)
    finally:
        target.close()
        source.close()


def replica_folder(template: Path, dest: Path) -> Path:
    """A replica's data folder: the template's analytics, no journal file (the journal is the
    database's)."""
    shutil.copytree(template, dest)
    for name in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm", "writer.lock"):
        (dest / name).unlink(missing_ok=True)
    return dest


def replica_settings(url: str, replica_id: str, **more: Any) -> dict[str, Any]:
    """The settings of one replica on the journal at ``url``, named ``replica_id``."""
    return {"journal_url": url, "replica_id": replica_id, **more}


def journal_events(url: str, tag: str) -> list[Any]:
    """Every event of ``tag`` in the shared journal at ``url``, read apart from the replicas."""
    journal = Journal.open("", url=url)
    try:
        return [env.event for page in journal.read() for env in page if env.tag == tag]
    finally:
        journal.close()
