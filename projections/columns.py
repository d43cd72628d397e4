"""Columnar batch helpers: build an Arrow table from a page and load it with one statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa


def insert_columns(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Mapping[str, Sequence[Any]],
    schema: pa.Schema,
    *,
    or_replace: bool = False,
) -> int:
    """Insert column lists into ``table`` through one Arrow batch; return the row count."""
    batch = pa.table(
        {name: pa.array(columns[name], type=schema.field(name).type) for name in schema.names}
    )
    if batch.num_rows == 0:
        return 0
    verb = "INSERT OR REPLACE INTO" if or_replace else "INSERT INTO"
    con.register("_batch", batch)
    try:
        con.execute(
            f"{verb} {table} ({', '.join(schema.names)}) SELECT {', '.join(schema.names)} FROM _batch"
        )
    finally:
        con.unregister("_batch")
    return batch.num_rows


def empty_columns(schema: pa.Schema) -> dict[str, list[Any]]:
    """One empty list per column of ``schema``."""
    return {name: [] for name in schema.names}
