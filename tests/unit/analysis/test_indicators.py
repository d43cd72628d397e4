"""Indicators TA-Lib does not define (VWAP) and the input checks of ``analysis.indicators``."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import indicators as ind


def _reference_vwap(
    high: list[float], low: list[float], close: list[float], volume: list[float], period: int
) -> list[float]:
    """Straightforward VWAP: for each full window, sum(typical × volume) / sum(volume)."""
    out = []
    for i in range(len(close)):
        if i + 1 < period:
            out.append(float("nan"))
            continue
        window = range(i + 1 - period, i + 1)
        weighted = sum((high[j] + low[j] + close[j]) / 3 * volume[j] for j in window)
        total = sum(volume[j] for j in window)
        out.append(weighted / total if total > 0 else float("nan"))
    return out


@pytest.mark.parametrize("period", [1, 3, 20])
def test_vwap_matches_a_plain_loop(period: int) -> None:
    """Rolling VWAP equals the textbook loop over each window of typical price × volume."""
    rng = np.random.default_rng(7)
    close = 30 * np.exp(np.cumsum(rng.normal(0, 0.02, 80)))
    high, low = close * 1.01, close * 0.985
    volume = np.round(rng.uniform(1e4, 1e6, 80))
    expected = _reference_vwap(list(high), list(low), list(close), list(volume), period)
    np.testing.assert_allclose(
        ind.vwap(high, low, close, volume, period), expected, rtol=1e-12, equal_nan=True
    )


def test_vwap_is_nan_where_the_window_has_no_volume() -> None:
    """A window without volume has no VWAP (NaN), and windows with volume still do."""
    close = np.linspace(10, 20, 10)
    volume = np.array([0, 0, 0, 5, 5, 5, 5, 5, 5, 5], dtype=float)
    result = ind.vwap(close, close, close, volume, 3)
    assert np.isnan(result[:3]).all()
    np.testing.assert_allclose(result[3], close[3])
    assert np.isfinite(result[4:]).all()


def test_vwap_of_equal_prices_is_that_price() -> None:
    """When high, low and close are one price, VWAP is that price whatever the volumes."""
    price = np.full(30, 12.5)
    volume = np.arange(1, 31, dtype=float)
    assert np.allclose(ind.vwap(price, price, price, volume, 5)[4:], 12.5)


def test_a_period_below_one_is_refused() -> None:
    """A zero period is a programming error, reported as ValueError naming the parameter."""
    with pytest.raises(ValueError, match="period must be at least 1"):
        ind.sma(np.arange(5.0), 0)
    with pytest.raises(ValueError, match="signal_period"):
        ind.macd(np.arange(50.0), 12, 26, 0)


def test_three_dimensional_input_is_refused() -> None:
    """Only a series or a (symbols × bars) batch is accepted."""
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ind.ema(np.zeros((2, 2, 2)), 2)


def test_rsi_stays_between_0_and_100_on_a_one_way_series() -> None:
    """A series that only rises has RSI 100, one that only falls RSI 0."""
    up = np.arange(1.0, 40.0)
    assert np.allclose(ind.rsi(up, 14)[14:], 100.0)
    assert np.allclose(ind.rsi(up[::-1], 14)[14:], 0.0)
