"""Columnar market data for a scan: per-symbol bar arrays, and batches of equal-length symbols.

``SymbolBars`` is the scan's input type: one symbol's daily bars as numpy columns (what a DuckDB
projection hands over with ``fetchnumpy()``), oldest first. A ``BarBatch`` stacks symbols with the
same number of bars into ``(symbols, bars)`` matrices, so every indicator runs once for the whole
batch; ``indicator_series`` computes a declared indicator's outputs over a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from analysis import indicators as ind
from analysis.errors import AnalysisError
from analysis.strategy import IndicatorSpec, ParamValue
from events.market import Bar

FloatArray = NDArray[np.float64]
DayArray = NDArray[np.datetime64]
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class SymbolBars:
    """One symbol's daily bars as columns (``day`` is ``datetime64[D]``, the rest float64)."""

    day: DayArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, name)) for name in ("day", *PRICE_COLUMNS)}
        if len(lengths) != 1:
            raise AnalysisError(f"bar columns have different lengths: {sorted(lengths)}")
        if len(self.day) > 1 and not bool(np.all(self.day[1:] > self.day[:-1])):
            raise AnalysisError("bar days must be strictly increasing")

    @classmethod
    def from_arrays(
        cls,
        day: Sequence[date] | DayArray,
        open: Sequence[float] | FloatArray,
        high: Sequence[float] | FloatArray,
        low: Sequence[float] | FloatArray,
        close: Sequence[float] | FloatArray,
        volume: Sequence[float] | FloatArray,
    ) -> SymbolBars:
        """Columns converted to the canonical dtypes."""
        return cls(
            day=np.asarray(day, dtype="datetime64[D]"),
            open=np.asarray(open, dtype=np.float64),
            high=np.asarray(high, dtype=np.float64),
            low=np.asarray(low, dtype=np.float64),
            close=np.asarray(close, dtype=np.float64),
            volume=np.asarray(volume, dtype=np.float64),
        )

    @classmethod
    def from_bars(cls, bars: Sequence[Bar]) -> SymbolBars:
        """Columns from ``Bar`` records (sorted by day first)."""
        ordered = sorted(bars, key=lambda bar: bar.day)
        return cls.from_arrays(
            [b.day for b in ordered],
            [b.open for b in ordered],
            [b.high for b in ordered],
            [b.low for b in ordered],
            [b.close for b in ordered],
            [float(b.volume) for b in ordered],
        )

    def __len__(self) -> int:
        return len(self.day)

    def up_to(self, last_day: date) -> SymbolBars:
        """The bars on or before ``last_day`` (a scan never looks past its evaluation date)."""
        limit = np.datetime64(last_day, "D")
        if len(self.day) == 0 or self.day[-1] <= limit:
            return self
        end = int(np.searchsorted(self.day, limit, side="right"))
        return SymbolBars(
            day=self.day[:end],
            open=self.open[:end],
            high=self.high[:end],
            low=self.low[:end],
            close=self.close[:end],
            volume=self.volume[:end],
        )


@dataclass(frozen=True, eq=False)
class BarBatch:
    """Symbols with the same number of bars, stacked as ``(symbols, bars)`` matrices."""

    symbols: tuple[str, ...]
    last_day: tuple[date, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @classmethod
    def stack(cls, items: Sequence[tuple[str, SymbolBars]]) -> BarBatch:
        """Stack equal-length symbols (in the given order).

        The matrices are column-major: one bar of every symbol is contiguous, the layout the
        indicators' bar-by-bar recursions read fastest.
        """
        shape = (len(items), len(items[0][1]) if items else 0)
        columns = {name: np.empty(shape, order="F") for name in PRICE_COLUMNS}
        for row, (_, bars) in enumerate(items):
            for name, matrix in columns.items():
                matrix[row] = getattr(bars, name)
        return cls(
            symbols=tuple(symbol for symbol, _ in items),
            last_day=tuple(_to_date(bars.day[-1]) for _, bars in items),
            **columns,
        )

    def take(self, rows: Sequence[int]) -> BarBatch:
        """The batch of some of these rows, in the given order."""
        index = np.asarray(rows, dtype=np.intp)
        return BarBatch(
            symbols=tuple(self.symbols[i] for i in index),
            last_day=tuple(self.last_day[i] for i in index),
            **{name: np.asfortranarray(self.column(name)[index]) for name in PRICE_COLUMNS},
        )

    @property
    def bars(self) -> int:
        """The number of bars of every symbol in the batch."""
        return int(self.close.shape[1])

    def finite_rows(self) -> NDArray[np.bool_]:
        """Per symbol: whether every price and volume is a finite number."""
        finite = np.ones(len(self.symbols), dtype=bool)
        for name in PRICE_COLUMNS:
            finite &= np.isfinite(self.column(name)).all(axis=1)
        return finite

    def column(self, name: str) -> FloatArray:
        """A price column by name (``open high low close volume``)."""
        if name not in PRICE_COLUMNS:
            raise AnalysisError(f"unknown price column {name!r}")
        matrix: FloatArray = getattr(self, name)
        return matrix


def _int(params: dict[str, ParamValue], name: str) -> int:
    return int(params[name])


def indicator_series(spec: IndicatorSpec, batch: BarBatch) -> dict[str, FloatArray]:
    """Every output of one declared indicator over the batch, keyed by output name."""
    params = spec.resolved_params()
    source = batch.column(str(params.get("source", "close")))
    kind = spec.type
    if kind == "RSI":
        return {"value": ind.rsi(source, _int(params, "period"))}
    if kind == "SMA":
        return {"value": ind.sma(source, _int(params, "period"))}
    if kind == "EMA":
        return {"value": ind.ema(source, _int(params, "period"))}
    if kind == "ATR":
        return {"value": ind.atr(batch.high, batch.low, batch.close, _int(params, "period"))}
    if kind == "MACD":
        lines = ind.macd(
            source,
            _int(params, "fast_period"),
            _int(params, "slow_period"),
            _int(params, "signal_period"),
        )
        return {"line": lines.line, "signal": lines.signal, "histogram": lines.histogram}
    if kind == "BOLLINGER":
        bands = ind.bollinger(source, _int(params, "period"), float(params["std_dev"]))
        return {"middle": bands.middle, "upper": bands.upper, "lower": bands.lower}
    if kind == "VWAP":
        return {
            "value": ind.vwap(
                batch.high, batch.low, batch.close, batch.volume, _int(params, "period")
            )
        }
    if kind == "VOLUME_SMA":
        return {"value": ind.volume_sma(batch.volume, _int(params, "period"))}
    raise AnalysisError(f"no computation for indicator type {kind!r}")


def _to_date(day: np.datetime64) -> date:
    value = day.astype("datetime64[D]").item()
    assert isinstance(value, date)
    return value
