"""Technical indicators, vectorised over a batch of symbols at once.

Every function takes float64 arrays shaped ``(symbols, bars)`` (a 1-D series is accepted and
returned 1-D) and returns arrays of the same shape, NaN during the warm-up. Computing a whole
universe as one 2-D array keeps the sequential recursions (EMA, Wilder smoothing) as a Python loop
over *bars*, each step a numpy operation over all symbols, which is what makes a 500-symbol scan
fast without a compiled extension.

Definitions follow TA-Lib (the reference implementation; the parity tests hold them to 1e-9):

===============  ===================================================  ==========================
indicator        definition                                           first value at index
===============  ===================================================  ==========================
SMA(p)           mean of the last p values                            p - 1
EMA(p)           k = 2 / (p + 1), seeded with SMA(p) of the first p   p - 1
RSI(p)           Wilder smoothing of gains / losses, seeded with      p
                 their plain mean over the first p changes;
                 100 · gain / (gain + loss), and 0 when both are 0
                 (TA-Lib's convention for a flat series)
ATR(p)           Wilder smoothing of the true range, seeded with      p
                 the mean of the first p true ranges (from bar 1)
MACD(f, s, g)    EMA(f) − EMA(s), both first valid at s − 1 (the      s + g − 2
                 fast EMA is seeded on the f values ending there, as
                 TA-Lib does); signal = EMA(g) of the line;
                 histogram = line − signal; all three NaN before the
                 signal's first value, exactly like ``talib.MACD``
BOLLINGER(p, k)  middle = SMA(p); upper/lower = middle ± k · σ with   p - 1
                 σ the population standard deviation (ddof = 0)
VOLUME_SMA(p)    SMA(p) of volume                                     p - 1
VWAP(p)          *not in TA-Lib*: rolling volume-weighted average     p - 1
                 typical price over the last p daily bars,
                 Σ(tp · v) / Σ(v) with tp = (high + low + close) / 3;
                 NaN where the window's volume is 0
===============  ===================================================  ==========================

Daily bars carry no intraday data, so the session VWAP of intraday charts does not exist here; a
rolling p-day VWAP (default 20) is the usual daily-chart reading ("where did volume trade over the
last month"), and an anchored-since-listing VWAP would mean nothing after two years of history.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# TA-Lib treats |x| < 1e-8 as zero when dividing (its TA_IS_ZERO); RSI uses it for a flat series.
_TALIB_ZERO = 1e-8


class MacdLines(NamedTuple):
    """The three outputs of MACD."""

    line: FloatArray
    signal: FloatArray
    histogram: FloatArray


class BollingerBands(NamedTuple):
    """The three Bollinger bands."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def _as_2d(values: FloatArray) -> FloatArray:
    """A float64 2-D view (one row per symbol) of a 1-D or 2-D input."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return array[np.newaxis, :]
    if array.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array, got {array.ndim} dimensions")
    return array


def _like_input(result: FloatArray, values: FloatArray) -> FloatArray:
    """Give ``result`` the dimensionality of the caller's input."""
    return result[0] if np.ndim(values) == 1 else result


def _nans(shape: tuple[int, ...]) -> FloatArray:
    """A NaN-filled result in column-major layout: one bar of all symbols is contiguous, which
    is what the bar-by-bar recursions read and write."""
    return np.full(shape, np.nan, order="F")


def _check_period(period: int, name: str = "period") -> None:
    if period < 1:
        raise ValueError(f"{name} must be at least 1, got {period}")


def _sma_2d(data: FloatArray, period: int) -> FloatArray:
    out = _nans(data.shape)
    if data.shape[1] >= period:
        # A running sum is what TA-Lib does too; its rounding stays ~1e-13 relative for prices.
        out[:, period - 1 :] = _window_sums(data, period) / period
    return out


def _window_sums(data: FloatArray, period: int) -> FloatArray:
    """Sums over each full window of ``period`` bars (``n - period + 1`` columns)."""
    csum = np.cumsum(data, axis=1)
    sums = np.empty((data.shape[0], data.shape[1] - period + 1))
    sums[:, 0] = csum[:, period - 1]
    sums[:, 1:] = csum[:, period:] - csum[:, :-period]
    return sums


def _ema_from_seed(
    data: FloatArray, period: int, seed_index: int, out: FloatArray, k: float | None = None
) -> None:
    """EMA of ``data`` written into ``out`` from ``seed_index`` (seeded there with an SMA).

    The seed is the mean of the ``period`` values ending at ``seed_index``.
    """
    alpha = 2.0 / (period + 1) if k is None else k
    seed = data[:, seed_index - period + 1 : seed_index + 1].mean(axis=1)
    _recurse(data, seed, seed_index, out, alpha, 1.0 - alpha)


def _wilder_from_seed(data: FloatArray, period: int, first: int, out: FloatArray) -> None:
    """Wilder smoothing of ``data`` into ``out``, seeded at ``first + period - 1`` by the mean of
    ``data[first : first + period]``."""
    seed_index = first + period - 1
    seed = data[:, first : seed_index + 1].mean(axis=1)
    _recurse(data, seed, seed_index, out, 1.0 / period, (period - 1) / period, wilder=period)


def _recurse(
    data: FloatArray,
    seed: FloatArray,
    seed_index: int,
    out: FloatArray,
    gain: float,
    keep: float,
    wilder: int = 0,
) -> None:
    """``y[i] = gain·x[i] + keep·y[i−1]`` from ``seed_index`` (where ``y = seed``) to the end.

    Sequential by nature: the loop runs over bars, each step one numpy operation over all
    symbols, on a bars-major copy so that every step touches contiguous memory.
    """
    columns = np.ascontiguousarray(data[:, seed_index:].T)
    result = np.empty_like(columns)
    result[0] = prev = seed
    if wilder:
        keep_sum = float(wilder - 1)
        for i in range(1, columns.shape[0]):
            prev = (prev * keep_sum + columns[i]) / wilder
            result[i] = prev
    else:
        for i in range(1, columns.shape[0]):
            prev = columns[i] * gain + prev * keep
            result[i] = prev
    out[:, seed_index:] = result.T


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average over ``period`` bars (first value at index ``period - 1``)."""
    _check_period(period)
    return _like_input(_sma_2d(_as_2d(values), period), values)


def ema(values: FloatArray, period: int) -> FloatArray:
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first values."""
    _check_period(period)
    data = _as_2d(values)
    out = _nans(data.shape)
    if data.shape[1] >= period:
        _ema_from_seed(data, period, period - 1, out)
    return _like_input(out, values)


def rsi(values: FloatArray, period: int = 14) -> FloatArray:
    """Relative strength index with Wilder smoothing (first value at index ``period``)."""
    _check_period(period)
    data = _as_2d(values)
    out = _nans(data.shape)
    n = data.shape[1]
    if n <= period:
        return _like_input(out, values)
    change = np.diff(data, axis=1)
    rows = change.shape[0]
    # Gains and losses smoothed in one pass: one loop over bars instead of two.
    both = np.empty((2 * rows, change.shape[1]), order="F")
    np.maximum(change, 0.0, out=both[:rows])
    np.maximum(-change, 0.0, out=both[rows:])
    smoothed = _nans(both.shape)
    _wilder_from_seed(both, period, 0, smoothed)
    avg_gain, avg_loss = smoothed[:rows], smoothed[rows:]
    total = avg_gain[:, period - 1 :] + avg_loss[:, period - 1 :]
    flat = np.abs(total) < _TALIB_ZERO
    with np.errstate(invalid="ignore", divide="ignore"):
        # 100 · (gain / total), in TA-Lib's order: (100 · gain) / total can round above 100.
        share = avg_gain[:, period - 1 :] / np.where(flat, 1.0, total)
        value = np.where(flat, 0.0, 100.0 * share)
    out[:, period:] = value
    return _like_input(out, values)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """True range from bar 1 on (bar 0 has no previous close and is NaN, as in TA-Lib)."""
    h, lo, c = _as_2d(high), _as_2d(low), _as_2d(close)
    out = _nans(h.shape)
    prev_close = c[:, :-1]
    out[:, 1:] = np.maximum(h[:, 1:], prev_close) - np.minimum(lo[:, 1:], prev_close)
    return _like_input(out, high)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Average true range with Wilder smoothing (first value at index ``period``)."""
    _check_period(period)
    tr = _as_2d(true_range(high, low, close))
    out = _nans(tr.shape)
    if tr.shape[1] > period:
        _wilder_from_seed(tr, period, 1, out)
    return _like_input(out, high)


def macd(
    values: FloatArray, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9
) -> MacdLines:
    """MACD line, signal and histogram, aligned exactly like ``talib.MACD``."""
    for name, period in (
        ("fast_period", fast_period),
        ("slow_period", slow_period),
        ("signal_period", signal_period),
    ):
        _check_period(period, name)
    if slow_period < fast_period:  # TA-Lib swaps them too
        fast_period, slow_period = slow_period, fast_period
    data = _as_2d(values)
    shape = data.shape
    line = _nans(shape)
    signal = _nans(shape)
    start = slow_period - 1
    first = start + signal_period - 1
    if shape[1] > first:
        fast_line = _nans(shape)
        slow_line = _nans(shape)
        # Both EMAs start at the slow one's first value; the fast one is seeded there.
        _ema_from_seed(data, fast_period, start, fast_line)
        _ema_from_seed(data, slow_period, start, slow_line)
        raw = fast_line - slow_line
        _ema_from_seed(raw, signal_period, first, signal)
        line[:, first:] = raw[:, first:]
    histogram = line - signal
    return MacdLines(
        _like_input(line, values), _like_input(signal, values), _like_input(histogram, values)
    )


def bollinger(values: FloatArray, period: int = 20, std_dev: float = 2.0) -> BollingerBands:
    """Bollinger bands: SMA ± ``std_dev`` population standard deviations."""
    _check_period(period)
    data = _as_2d(values)
    middle = _sma_2d(data, period)
    upper = _nans(data.shape)
    lower = _nans(data.shape)
    if data.shape[1] >= period:
        # Two-pass deviation over each window (no cancellation, unlike E[x²] − E[x]²),
        # summed offset by offset: `period` whole-array operations instead of a strided reduce.
        count = data.shape[1] - period + 1
        mean = middle[:, period - 1 :]
        squares = np.zeros(mean.shape, order="F")
        for offset in range(period):
            squares += (data[:, offset : offset + count] - mean) ** 2
        deviation = np.sqrt(squares / period)
        upper[:, period - 1 :] = middle[:, period - 1 :] + std_dev * deviation
        lower[:, period - 1 :] = middle[:, period - 1 :] - std_dev * deviation
    return BollingerBands(
        _like_input(upper, values), _like_input(middle, values), _like_input(lower, values)
    )


def vwap(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int = 20
) -> FloatArray:
    """Rolling ``period``-bar VWAP of the typical price (see the module docstring)."""
    _check_period(period)
    h, lo, c, v = _as_2d(high), _as_2d(low), _as_2d(close), _as_2d(volume)
    typical = (h + lo + c) / 3.0
    out = _nans(h.shape)
    if h.shape[1] >= period:
        weighted = _window_sums(typical * v, period)
        total = _window_sums(v, period)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, period - 1 :] = np.where(
                total > 0, weighted / np.where(total > 0, total, 1), np.nan
            )
    return _like_input(out, high)


def volume_sma(volume: FloatArray, period: int = 20) -> FloatArray:
    """Simple moving average of volume."""
    return sma(volume, period)
