"""Analytics tables declared once: the DDL derived from the Arrow schema, and the shared load."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.columns import Table, latest_per_key, per_event, sql_type
from projections.registry import all_analytics_projections

# The statements the analytics files on disk were created with, before the tables were declared
# once (frozen here: a file written by that code must read as one written by this code).
_HAND_WRITTEN_DDL = (
    "CREATE TABLE bars (symbol VARCHAR, day DATE, open DOUBLE, high DOUBLE, low DOUBLE, "
    "close DOUBLE, volume BIGINT, source VARCHAR, position BIGINT, PRIMARY KEY (symbol, day))",
    "CREATE TABLE flow_alerts (option_chain VARCHAR, created_at TIMESTAMPTZ, ticker VARCHAR, "
    "option_type VARCHAR, strike DOUBLE, expiry DATE, total_premium DOUBLE, "
    "ask_side_premium DOUBLE, bid_side_premium DOUBLE, volume BIGINT, open_interest BIGINT, "
    "underlying_price DOUBLE, has_sweep BOOLEAN, alert_rule VARCHAR, direction VARCHAR, "
    "source VARCHAR, position BIGINT, PRIMARY KEY (option_chain, created_at))",
    # earnings gained learned_at with its schema version 2 (a version-1 table is rebuilt)
    "CREATE TABLE earnings (symbol VARCHAR, day DATE, announce_time VARCHAR, source VARCHAR, "
    "position BIGINT, learned_at TIMESTAMPTZ, PRIMARY KEY (symbol, day))",
    "CREATE TABLE fetches (position BIGINT, recorded_at TIMESTAMPTZ, symbol VARCHAR, "
    "kind VARCHAR, source VARCHAR, ok BOOLEAN, records BIGINT, error VARCHAR)",
    "CREATE TABLE quotes (symbol VARCHAR PRIMARY KEY, price DOUBLE, change DOUBLE, "
    "change_pct DOUBLE, as_of TIMESTAMPTZ, source VARCHAR, position BIGINT)",
    "CREATE TABLE scans (scan_id VARCHAR, position BIGINT, evaluated_at TIMESTAMPTZ, "
    "strategy_name VARCHAR, strategy_hash VARCHAR, guild_id BIGINT, universe BIGINT, "
    "signals BIGINT, skipped BIGINT)",
    "CREATE TABLE signals (scan_id VARCHAR, position BIGINT, evaluated_at TIMESTAMPTZ, "
    "strategy_name VARCHAR, guild_id BIGINT, symbol VARCHAR, direction VARCHAR, as_of DATE, "
    "entry DOUBLE, stop_loss DOUBLE, take_profit DOUBLE, position_size DOUBLE, score DOUBLE, "
    "evidence VARCHAR)",
    "CREATE TABLE journal_events (position BIGINT, stream VARCHAR, version BIGINT, tag VARCHAR, "
    "recorded_at TIMESTAMPTZ, command_id VARCHAR, guild_id BIGINT, user_id BIGINT)",
    "CREATE TABLE commands (position BIGINT, recorded_at TIMESTAMPTZ, command_id VARCHAR, "
    "guild_id BIGINT, user_id BIGINT, name VARCHAR, options VARCHAR, outcome VARCHAR, "
    "message VARCHAR, latency_ms DOUBLE)",
    "CREATE TABLE trades (guild_id BIGINT, trade_id VARCHAR, user_id BIGINT, symbol VARCHAR, "
    "direction VARCHAR, entry DECIMAL(38, 8), size DECIMAL(38, 8), stop DECIMAL(38, 8), "
    "target DECIMAL(38, 8), strategy VARCHAR, signal_ref VARCHAR, tags VARCHAR, note VARCHAR, "
    "notes BIGINT, opened_at TIMESTAMPTZ, exit DECIMAL(38, 8), closed_at TIMESTAMPTZ, "
    "reason VARCHAR, status VARCHAR, pnl DECIMAL(38, 16), pnl_pct DOUBLE, r_multiple DOUBLE, "
    "holding_seconds DOUBLE, position BIGINT, closed_position BIGINT, "
    "PRIMARY KEY (guild_id, trade_id))",
    # backtests: declared since (projections/backtests.py), never hand-written
    "CREATE TABLE backtests (position BIGINT, run_id VARCHAR, kind VARCHAR, guild_id BIGINT, "
    "strategy_key VARCHAR, strategy_name VARCHAR, strategy_version VARCHAR, "
    "strategy_hash VARCHAR, data_position BIGINT, symbols VARCHAR[], start_day DATE, "
    "end_day DATE, capital DOUBLE, commission DOUBLE, slippage_bps DOUBLE, options VARCHAR, "
    "metrics VARCHAR, final_equity DOUBLE, result_hash VARCHAR)",
)


def _catalog(con: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    """Every table's stored statement, columns and constraints, as DuckDB keeps them."""
    return {
        "tables": con.execute("SELECT table_name, sql FROM duckdb_tables() ORDER BY 1").fetchall(),
        "columns": con.execute(
            "SELECT table_name, column_index, column_name, data_type, is_nullable "
            "FROM duckdb_columns() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall(),
        "constraints": con.execute(
            "SELECT table_name, constraint_type, constraint_text, constraint_column_names "
            "FROM duckdb_constraints() ORDER BY 1, 2, 3"
        ).fetchall(),
    }


def test_declared_tables_create_the_catalog_of_the_files_on_disk() -> None:
    """Tables created from the declarations have the same statements, column types and keys as
    the hand-written DDL that created existing analytics files (so no rebuild is needed)."""
    old = duckdb.connect()
    for statement in _HAND_WRITTEN_DDL:
        old.execute(statement)
    new = duckdb.connect()
    for p in all_analytics_projections():
        for table in p.declared:
            new.execute(table.ddl())
    assert _catalog(new) == _catalog(old)
    assert len(_catalog(new)["tables"]) == len(_HAND_WRITTEN_DDL)


def test_every_projection_names_the_tables_it_declares() -> None:
    """A projection's ``tables`` (what drop, status and verify iterate) are its declared names."""
    for p in all_analytics_projections():
        assert p.tables == tuple(t.name for t in p.declared)


@pytest.mark.parametrize(
    ("kind", "sql"),
    [
        (pa.string(), "VARCHAR"),
        (pa.int64(), "BIGINT"),
        (pa.float64(), "DOUBLE"),
        (pa.bool_(), "BOOLEAN"),
        (pa.date32(), "DATE"),
        (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ"),
        (pa.timestamp("us"), "TIMESTAMP"),
        (pa.decimal128(38, 8), "DECIMAL(38, 8)"),
        (pa.list_(pa.string()), "VARCHAR[]"),
        (pa.list_(pa.decimal128(38, 8)), "DECIMAL(38, 8)[]"),
    ],
)
def test_sql_type_of_each_arrow_kind(kind: pa.DataType, sql: str) -> None:
    """Each Arrow type a projection declares maps to the DuckDB type that holds it unchanged."""
    assert sql_type(kind) == sql


def test_an_undeclared_arrow_type_is_refused_by_name() -> None:
    """An Arrow type with no DuckDB mapping fails with a message naming it, not a wrong column."""
    with pytest.raises(TypeError, match="uint8"):
        sql_type(pa.uint8())


def test_a_key_outside_the_schema_is_refused() -> None:
    """Declaring a key column the schema lacks fails at declaration, naming the column."""
    with pytest.raises(ValueError, match="'missing'"):
        Table("t", pa.schema([("a", pa.string())]), key=("missing",))


def test_keyed_tables_upsert_and_unkeyed_tables_append() -> None:
    """Loading a key twice keeps the later row; a table without a key keeps both rows; list and
    decimal columns round-trip through the derived DDL."""
    schema = pa.schema(
        [("k", pa.string()), ("tags", pa.list_(pa.string())), ("price", pa.decimal128(38, 8))]
    )
    keyed = Table("keyed", schema, key=("k",))
    log = Table("log", schema)
    con = duckdb.connect()
    for table in (keyed, log):
        con.execute(table.ddl())
        table.load_rows(con, [("a", ["x"], None)])
        assert table.load_rows(con, [("a", ["y", "z"], None)]) == 1
        assert table.load_rows(con, []) == 0
    assert con.execute("SELECT k, tags FROM keyed").fetchall() == [("a", ["y", "z"])]
    assert sorted(con.execute("SELECT k, tags FROM log").fetchall()) == [
        ("a", ["x"]),
        ("a", ["y", "z"]),
    ]


@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 3), st.integers(-9, 9)),
        max_size=40,
    )
)
def test_latest_per_key_is_filling_a_dict_row_after_row(rows: list[tuple[str, int, int]]) -> None:
    """Invariant: ``latest_per_key`` gives the rows a dict filled in order gives (one per key, its
    last value, at the place of the key's first row): what the bars and flow projections'
    keyed upserts loaded before the grouping moved into Arrow."""
    expected: dict[tuple[str, int], tuple[str, int, int]] = {}
    for symbol, day, value in rows:
        expected[(symbol, day)] = (symbol, day, value)
    batch = pa.table(
        {
            "symbol": pa.array([r[0] for r in rows], pa.string()),
            "day": pa.array([r[1] for r in rows], pa.int64()),
            "value": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    got = latest_per_key(batch, ("symbol", "day"))
    assert list(zip(*(got[c].to_pylist() for c in got.column_names), strict=True)) == list(
        expected.values()
    )


def test_per_event_repeats_each_events_values_once_per_record() -> None:
    """``per_event`` repeats event ``i``'s values ``counts[i]`` times, in order (none for 0)."""
    got = per_event({"symbol": ["A", "B", "C"], "position": [1, 2, 3]}, [2, 0, 3])
    assert got["symbol"].to_pylist() == ["A", "A", "C", "C", "C"]
    assert got["position"].to_pylist() == [1, 1, 3, 3, 3]
