"""Invariants of the indicators on arbitrary plausible price series (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analysis import indicators as ind

# Daily log returns within ±20 % (flat stretches included), from a start between 1 and 1,000.
returns = arrays(
    np.float64,
    st.integers(1, 250),
    elements=st.one_of(st.just(0.0), st.floats(-0.2, 0.2, allow_nan=False)),
)
starts = st.floats(1.0, 1000.0)
periods = st.integers(1, 60)


def _series(start: float, moves: np.ndarray) -> np.ndarray:
    return np.asarray(start * np.exp(np.cumsum(moves)), dtype=np.float64)


def _ohlcv(start: float, moves: np.ndarray, wiggle: float) -> tuple[np.ndarray, ...]:
    close = _series(start, moves)
    high = close * (1 + wiggle)
    low = close * (1 - wiggle)
    volume = np.round(np.abs(np.sin(np.arange(len(close)))) * 1e6)
    return high, low, close, volume


@settings(max_examples=150, deadline=None)
@given(starts, returns, st.integers(2, 60))
def test_rsi_is_finite_and_between_0_and_100_after_warm_up(
    start: float, moves: np.ndarray, period: int
) -> None:
    """Invariant: RSI is NaN exactly for the first `period` bars, then finite and in [0, 100]."""
    values = ind.rsi(_series(start, moves), period)
    warm = min(period, len(values))
    assert np.isnan(values[:warm]).all()
    after = values[warm:]
    assert np.isfinite(after).all()
    assert ((after >= 0) & (after <= 100)).all()


@settings(max_examples=150, deadline=None)
@given(starts, returns, periods, st.floats(0.1, 4.0))
def test_bollinger_bands_are_ordered(
    start: float, moves: np.ndarray, period: int, deviations: float
) -> None:
    """Invariant: after warm-up every band is finite and lower ≤ middle ≤ upper."""
    bands = ind.bollinger(_series(start, moves), period, deviations)
    valid = ~np.isnan(bands.middle)
    assert valid.sum() == max(len(moves) - period + 1, 0)
    lower, middle, upper = bands.lower[valid], bands.middle[valid], bands.upper[valid]
    assert np.isfinite(np.concatenate([lower, middle, upper])).all()
    assert (lower <= middle).all()
    assert (middle <= upper).all()


@settings(max_examples=150, deadline=None)
@given(starts, returns, periods)
def test_moving_averages_stay_within_the_series_range(
    start: float, moves: np.ndarray, period: int
) -> None:
    """Invariant: SMA and EMA lie within [min, max] of the series (to 1e-9 of its scale)."""
    close = _series(start, moves)
    slack = 1e-9 * float(np.max(np.abs(close)))
    for values in (ind.sma(close, period), ind.ema(close, period)):
        after = values[~np.isnan(values)]
        assert np.isfinite(after).all()
        assert (after >= close.min() - slack).all()
        assert (after <= close.max() + slack).all()


@settings(max_examples=100, deadline=None)
@given(starts, returns, periods, st.floats(0.0, 0.1))
def test_atr_and_vwap_are_finite_and_bounded(
    start: float, moves: np.ndarray, period: int, wiggle: float
) -> None:
    """Invariant: ATR ≥ 0 and finite after warm-up; VWAP within the typical-price range or NaN
    only where its window has no volume."""
    high, low, close, volume = _ohlcv(start, moves, wiggle)
    atr = ind.atr(high, low, close, period)
    after = atr[period:]
    assert np.isfinite(after).all()
    assert (after >= 0).all()
    vwap = ind.vwap(high, low, close, volume, period)
    typical = (high + low + close) / 3
    slack = 1e-9 * float(np.max(typical))
    defined = ~np.isnan(vwap)
    assert (vwap[defined] >= typical.min() - slack).all()
    assert (vwap[defined] <= typical.max() + slack).all()
    if len(moves) >= period:
        windows_with_volume = np.convolve(volume > 0, np.ones(period), mode="valid") > 0
        assert (defined[period - 1 :] == windows_with_volume).all()
    assert not defined[: period - 1].any()


@settings(max_examples=100, deadline=None)
@given(starts, returns, st.integers(1, 30), st.integers(1, 30), st.integers(1, 15))
def test_macd_histogram_is_line_minus_signal(
    start: float, moves: np.ndarray, fast: int, slow: int, signal: int
) -> None:
    """Invariant: the three MACD outputs share one warm-up and histogram = line − signal."""
    lines = ind.macd(_series(start, moves), fast, slow, signal)
    nan = np.isnan(lines.line)
    assert (np.isnan(lines.signal) == nan).all()
    assert (np.isnan(lines.histogram) == nan).all()
    assert np.array_equal(lines.histogram[~nan], lines.line[~nan] - lines.signal[~nan])
    assert nan.sum() == min(max(fast, slow) + signal - 2, len(moves))
