"""Helpers shared by the core tests: journals from commands, projection snapshots, state folds."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

import projections
from events.base import Actor, NewEvent
from events.journal import Journal
from projections.base import AnalyticsProjection, StateProjection

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def append_all(
    journal: Journal, commands: Sequence[tuple[Actor, list[NewEvent]]], *, offset: int = 0
) -> None:
    """Append each command in one transaction, with a unique id and a steady clock."""
    for n, (actor, batch) in enumerate(commands, start=offset):
        at = EPOCH + timedelta(seconds=n)
        journal.append(batch, command_id=f"cmd-{n}", actor=actor, recorded_at=at)


def snapshot(path: Path, analytics: Sequence[AnalyticsProjection]) -> dict[str, Any]:
    """Every projection table's rows (order-insensitive) and tracked positions of a DuckDB file."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, Any] = {}
        for p in analytics:
            for table in p.tables:
                try:
                    rows = con.execute(f"SELECT * FROM {table}").fetchall()
                except duckdb.CatalogException:
                    continue
                out[table] = sorted(rows, key=repr)
        out["@positions"] = sorted(
            con.execute(
                "SELECT name, position, schema_version FROM projection_positions"
            ).fetchall()
        )
        return out
    finally:
        con.close()


def state_projection_types() -> list[type[StateProjection]]:
    """Every concrete state projection in the projections package (later ones included)."""
    for module in pkgutil.iter_modules(projections.__path__):
        importlib.import_module(f"projections.{module.name}")
    found: list[type[StateProjection]] = []
    pending = list(StateProjection.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not getattr(cls, "__abstractmethods__", None) and cls.__module__.startswith(
            "projections."
        ):
            found.append(cls)
    return sorted(found, key=lambda c: c.__qualname__)


def state_snapshots(states: Sequence[StateProjection]) -> dict[str, Any]:
    """Each state projection's snapshot and position, by name."""
    return {s.name: (s.position, s.snapshot()) for s in states}
