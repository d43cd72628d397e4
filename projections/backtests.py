"""The backtests projection: one row per ``backtest_completed``, what ``/backtests`` lists.

``/backtests`` used to read every ``backtest_completed`` of the journal by tag on each call; this
table holds the same events as columns (the symbols as a list, the kind's options and the figures
as JSON), appended in journal order, so a listing is one bounded query: a server's newest runs
(``recent_backtests``) and their count. Rebuilt from the journal like every analytics projection
(``ibpicker journal rebuild``), and a rebuild gives the same rows.
"""

from __future__ import annotations

from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from events.backtests import BacktestCompleted, BacktestParameters
from projections.base import Batch, ColumnarProjection
from projections.columns import Table

BACKTESTS = Table(
    "backtests",
    pa.schema(
        [
            ("position", pa.int64()),
            ("run_id", pa.string()),
            ("kind", pa.string()),
            ("guild_id", pa.int64()),
            ("strategy_key", pa.string()),
            ("strategy_name", pa.string()),
            ("strategy_version", pa.string()),
            ("strategy_hash", pa.string()),
            ("data_position", pa.int64()),
            ("symbols", pa.list_(pa.string())),
            ("start_day", pa.date32()),
            ("end_day", pa.date32()),
            ("capital", pa.float64()),
            ("commission", pa.float64()),
            ("slippage_bps", pa.float64()),
            ("options", pa.string()),
            ("metrics", pa.string()),
            ("final_equity", pa.float64()),
            ("result_hash", pa.string()),
        ]
    ),
)
_COLUMNS = ", ".join(BACKTESTS.schema.names)
_OPTIONS = msgspec.json.Decoder(dict[str, str])
_METRICS = msgspec.json.Decoder(dict[str, float | None])


class BacktestsProjection(ColumnarProjection):
    """``backtests``: every completed backtest, appended in journal order."""

    name = "backtests"
    tags = frozenset({BacktestCompleted.event_tag()})
    declared = (BACKTESTS,)

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Append the page's backtests."""
        encode = msgspec.json.encode
        rows: list[tuple[Any, ...]] = []
        for position, ev in zip(batch.positions, batch.events, strict=True):
            assert isinstance(ev, BacktestCompleted)
            p = ev.parameters
            rows.append(
                (position, ev.run_id, ev.kind, ev.guild_id, ev.strategy_key, ev.strategy_name,
                 ev.strategy_version, ev.strategy_hash, ev.data_position, p.symbols, p.start,
                 p.end, p.capital, p.commission, p.slippage_bps, encode(p.options).decode(),
                 encode(ev.metrics).decode(), ev.final_equity, ev.result_hash)
            )  # fmt: skip
        BACKTESTS.load_rows(con, rows)


def _event(row: tuple[Any, ...]) -> tuple[int, BacktestCompleted]:
    (position, run_id, kind, guild_id, key, name, version, sha, data_position, symbols, start,
     end, capital, commission, slippage, options, metrics, equity, result_hash) = row  # fmt: skip
    parameters = BacktestParameters(
        symbols=list(symbols), start=start, end=end, capital=capital, commission=commission,
        slippage_bps=slippage, options=_OPTIONS.decode(options),
    )  # fmt: skip
    event = BacktestCompleted(
        run_id=run_id, kind=kind, guild_id=guild_id, strategy_key=key, strategy_name=name,
        strategy_version=version, strategy_hash=sha, data_position=data_position,
        parameters=parameters, metrics=_METRICS.decode(metrics), final_equity=equity,
        result_hash=result_hash,
    )  # fmt: skip
    return position, event


def recent_backtests(
    con: duckdb.DuckDBPyConnection, guild_id: int | None, *, strategy: str | None, limit: int
) -> tuple[int, list[tuple[int, BacktestCompleted]]]:
    """How many backtests ``guild_id`` ran (``None``: the command line's), only of ``strategy``
    (its key or name, any case) when given, and the newest ``limit`` of them, newest first, each
    with its journal position: the events as appended."""
    where = "guild_id IS NOT DISTINCT FROM ?"
    params: list[Any] = [guild_id]
    if strategy is not None:
        where += " AND (lower(strategy_key) = ? OR lower(strategy_name) = ?)"
        params += [strategy.lower(), strategy.lower()]
    counted = con.execute(f"SELECT count(*) FROM backtests WHERE {where}", params).fetchone()  # noqa: S608
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM backtests WHERE {where} ORDER BY position DESC LIMIT ?",  # noqa: S608
        [*params, limit],
    ).fetchall()
    return (int(counted[0]) if counted else 0), [_event(row) for row in rows]
