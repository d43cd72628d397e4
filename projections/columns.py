"""Analytics tables declared once, and the columnar load every projection shares.

A ``Table`` is an Arrow schema plus its primary key: the ``CREATE TABLE`` statement is derived
from it, and so is the load (one Arrow batch, upserted when the table has a key, appended when
not), so a column's type is written in one place.

Converting Python ``date`` and tz-aware ``datetime`` objects with ``pa.array`` costs about
1.7 µs a value (pyarrow calls back into Python for each); rendering them to ISO strings with
msgspec and letting Arrow's C++ parser cast them costs about 0.3 µs. Those two column kinds take
the fast path, and so do decimals (``str`` of each, then Arrow's parser: ~7x faster than
``pa.array`` of ``Decimal`` objects); everything else goes straight to ``pa.array``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def column(values: Sequence[Any] | pa.Array, kind: pa.DataType) -> pa.Array:
    """One Arrow array of ``kind`` from Python values (``None`` is null) or from an array."""
    if isinstance(values, pa.Array):
        return values if values.type == kind else values.cast(kind)
    if pa.types.is_timestamp(kind) or pa.types.is_date32(kind):
        try:
            return pa.array(msgspec.to_builtins(values), type=pa.string()).cast(kind)
        except (pa.ArrowInvalid, TypeError):
            pass  # naive datetimes or odd values: the exact, slower conversion below
    if pa.types.is_decimal(kind):
        # Arrow converts a Python Decimal in ~7x the time its parser takes for the same digits
        # as text; the result is the same value, and too many places fail alike.
        text = [None if v is None else str(v) for v in values]
        return pa.array(text, type=pa.string()).cast(kind)
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
    return insert_table(con, table, arrow_table(columns, schema), or_replace=or_replace)


def arrow_table(columns: Mapping[str, Sequence[Any] | pa.Array], schema: pa.Schema) -> pa.Table:
    """One Arrow table of ``schema`` from column lists or arrays (by name)."""
    return pa.table({name: column(columns[name], schema.field(name).type) for name in schema.names})


def per_event(columns: Mapping[str, Sequence[Any]], counts: Sequence[int]) -> dict[str, pa.Array]:
    """Columns of one value per event repeated ``counts[i]`` times each (one per record of event
    ``i``), repeated by Arrow instead of a Python loop over the records."""
    owners = pa.array(np.repeat(np.arange(len(counts), dtype=np.int64), counts))
    return {name: pa.array(values).take(owners) for name, values in columns.items()}


def latest_per_key(batch: pa.Table, key: Sequence[str]) -> pa.Table:
    """``batch`` with one row per ``key``: each key's last row, at the place of its first row.

    The same rows in the same order as filling a dict by key row after row (a later row of a
    key replaces its value, the key keeps its place), found with Arrow's dictionary encoding and
    numpy instead of a Python loop (Arrow's ``group_by`` would do it too, but it loads Acero:
    +34 MiB anonymous memory in the process, too much for the container); a keyed insert
    (``INSERT OR REPLACE``) takes each key once.
    """
    rows = batch.num_rows
    groups = np.zeros(rows, dtype=np.int64)
    for name in key:
        codes = pc.dictionary_encode(batch[name].combine_chunks(), null_encoding="encode")
        # Each key column's codes joined into one code per row, kept below ``rows``.
        combined = groups * len(codes.dictionary) + codes.indices.to_numpy(zero_copy_only=False)
        _, groups = np.unique(combined, return_inverse=True)
    count = int(groups.max()) + 1 if rows else 0
    if count == rows:
        return batch
    order = np.arange(rows, dtype=np.int64)
    first = np.full(count, rows, dtype=np.int64)
    last = np.zeros(count, dtype=np.int64)
    np.minimum.at(first, groups, order)
    np.maximum.at(last, groups, order)
    return batch.take(last[np.argsort(first)])


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


def sql_type(kind: pa.DataType) -> str:
    """The DuckDB column type that holds Arrow ``kind`` unchanged."""
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ" if kind.tz is not None else "TIMESTAMP"
    if pa.types.is_decimal(kind):
        return f"DECIMAL({kind.precision}, {kind.scale})"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"{sql_type(kind.value_type)}[]"
    found = _SQL_TYPES.get(kind)
    if found is None:
        raise TypeError(f"no DuckDB column type is declared for Arrow type {kind}")
    return found


_SQL_TYPES: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


@dataclass(frozen=True, slots=True)
class Table:
    """One analytics table: its name, its columns as an Arrow schema, and its primary key.

    A keyed table is loaded with ``INSERT OR REPLACE`` (a later position replaces the row of the
    same key); a table without a key is appended to.
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [k for k in self.key if k not in self.schema.names]
        if missing:
            raise ValueError(f"table {self.name}: key columns {missing} are not in its schema")

    def ddl(self, *, keyed: bool = True) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this table (``keyed=False``: without its key).

        A one-column key is written on its column, a longer one as a table constraint: the same
        statements the tables were first created with, so DuckDB's catalog of an existing file
        and of a fresh one read alike.
        """
        key = self.key if keyed else ()
        single = key[0] if len(key) == 1 else None
        parts = [
            f"{f.name} {sql_type(f.type)}" + (" PRIMARY KEY" if f.name == single else "")
            for f in self.schema
        ]
        if len(key) > 1:
            parts.append(f"PRIMARY KEY ({', '.join(key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(parts)})"

    def copy_from(
        self, con: duckdb.DuckDBPyConnection, source: str, *, latest: bool = False
    ) -> None:
        """Replace this (empty) table's rows with ``source``'s (a table of the same columns).

        ``latest``: of a source filled by ``load_latest(append=True)`` (rows appended in journal
        order, never updated or deleted), only each key's last appended row (its highest
        ``rowid``) is copied, the row an upsert of the pages in turn would have kept.

        A key of several columns is added after the rows, as DuckDB builds its index at once
        from them instead of growing it row by row (measured, 668k bars: 0.58 -> 0.39 s of CPU),
        and reads back the same declaration as ``ddl``'s (a one-column key would not: it is
        copied into the keyed table).
        """
        select = f"SELECT * FROM {source}"  # noqa: S608
        if latest and self.key:
            # A hash aggregate of one integer per key and a filter on it: less than a semi join
            # on the key and the position (668k bars: 0.21-0.27 -> 0.15-0.18 s), itself less
            # than a window's sort. Key columns are never null (the event types').
            last = f"SELECT max(rowid) FROM {source} GROUP BY {', '.join(self.key)}"  # noqa: S608
            select += f" WHERE rowid IN ({last})"
        if len(self.key) < 2:
            con.execute(f"INSERT INTO {self.name} {select}")
            return
        con.execute(f"DROP TABLE {self.name}")
        con.execute(self.ddl(keyed=False))
        con.execute(f"INSERT INTO {self.name} {select}")
        con.execute(f"ALTER TABLE {self.name} ADD PRIMARY KEY ({', '.join(self.key)})")

    def load(
        self, con: duckdb.DuckDBPyConnection, columns: Mapping[str, Any], *, append: bool = False
    ) -> int:
        """Load one Arrow batch of ``columns`` (every column by name); return the row count.
        ``append``: as ``load_latest``'s, for rows holding each key once."""
        keyed = bool(self.key) and not append
        return insert_columns(con, self.name, columns, self.schema, or_replace=keyed)

    def load_latest(
        self, con: duckdb.DuckDBPyConnection, columns: Mapping[str, Any], *, append: bool = False
    ) -> int:
        """Load ``columns`` of a keyed table keeping each key's last row (``latest_per_key``);
        return the row count loaded. ``append``: every row appended, in order, to the table
        created without its key, each key's last row taken when it is copied (``copy_from``
        with ``latest``), so a key repeated within the batch is not grouped here."""
        batch = arrow_table(columns, self.schema)
        if append:
            return insert_table(con, self.name, batch)
        return insert_table(con, self.name, latest_per_key(batch, self.key), or_replace=True)

    def load_rows(
        self,
        con: duckdb.DuckDBPyConnection,
        rows: Collection[tuple[Any, ...]],
        *,
        append: bool = False,
    ) -> int:
        """Load rows (tuples in schema order) as one Arrow batch; return the row count.
        ``append``: as ``load``'s."""
        if not rows:
            return 0
        columns = dict(zip(self.schema.names, zip(*rows, strict=True), strict=True))
        return self.load(con, columns, append=append)

    def empty_columns(self) -> dict[str, list[Any]]:
        """One empty list per column."""
        return {name: [] for name in self.schema.names}
