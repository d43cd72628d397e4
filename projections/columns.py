"""Columnar batch helpers: build an Arrow table from a page and load it with one statement.

Converting Python ``date`` and tz-aware ``datetime`` objects with ``pa.array`` costs about
1.7 µs a value (pyarrow calls back into Python for each); rendering them to ISO strings with
msgspec and letting Arrow's C++ parser cast them costs about 0.3 µs. Those two column kinds take
the fast path; everything else goes straight to ``pa.array``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import msgspec
import pyarrow as pa


def column(values: Sequence[Any] | pa.Array, kind: pa.DataType) -> pa.Array:
    """One Arrow array of ``kind`` from Python values (``None`` is null) or from an array."""
    if isinstance(values, pa.Array):
        return values if values.type == kind else values.cast(kind)
    if pa.types.is_timestamp(kind) or pa.types.is_date32(kind):
        try:
            return pa.array(msgspec.to_builtins(values), type=pa.string()).cast(kind)
        except (pa.ArrowInvalid, TypeError):
            pass  # naive datetimes or odd values: the exact, slower conversion below
    return pa.array(values, type=kind)


def insert_columns(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Mapping[str, Sequence[Any] | pa.Array],
    schema: pa.Schema,
    *,
    or_replace: bool = False,
) -> int:
    """Insert column lists into ``table`` through one Arrow batch; return the row count."""
    batch = pa.table(
        {name: column(columns[name], schema.field(name).type) for name in schema.names}
    )
    return insert_table(con, table, batch, or_replace=or_replace)


def insert_table(
    con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table, *, or_replace: bool = False
) -> int:
    """Insert an Arrow table into ``table`` (columns by name); return the row count."""
    if batch.num_rows == 0:
        return 0
    verb = "INSERT OR REPLACE INTO" if or_replace else "INSERT INTO"
    names = ", ".join(batch.column_names)
    con.register("_batch", batch)
    try:
        # Identifiers come from projection code, never from input; values travel in Arrow.
        con.execute(f"{verb} {table} ({names}) SELECT {names} FROM _batch")  # noqa: S608
    finally:
        con.unregister("_batch")
    return int(batch.num_rows)


def empty_columns(schema: pa.Schema) -> dict[str, list[Any]]:
    """One empty list per column of ``schema``."""
    return {name: [] for name in schema.names}
