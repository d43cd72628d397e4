"""Parity of ``analysis.indicators`` with TA-Lib (the reference implementation) to 1e-9."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import talib

from analysis import indicators as ind

RTOL = 1e-9
SEED = 20_260_101


def _ohlc(kind: str, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Generated high/low/close/volume series of a given character (seeded, reproducible)."""
    rng = np.random.default_rng(SEED + n + len(kind))
    if kind == "walk":
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    elif kind == "trend":
        close = np.linspace(20.0, 80.0, n) + rng.normal(0, 0.3, n)
    elif kind == "flat":
        close = np.full(n, 42.17)
    elif kind == "gaps":
        # Overnight gaps of ±15 % every 25 bars on top of a quiet walk.
        jumps = np.where(np.arange(n) % 25 == 0, rng.choice([-0.15, 0.15], n), 0.0)
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.005, n) + jumps))
    elif kind == "penny":
        close = 0.05 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    else:  # pragma: no cover - test table typo
        raise ValueError(kind)
    spread = 0.0 if kind == "flat" else 1.0
    high = close * (1 + spread * rng.uniform(0, 0.02, n))
    low = close * (1 - spread * rng.uniform(0, 0.02, n))
    volume = np.round(rng.uniform(1e5, 5e6, n))
    return high, low, close, volume


KINDS = ["walk", "trend", "flat", "gaps", "penny"]


def _assert_parity(ours: np.ndarray, reference: np.ndarray, scale: float = 0.0) -> None:
    """Same warm-up (NaN positions) and values within 1e-9 relative.

    ``scale`` adds an absolute floor of 1e-9 × scale for lines that cross zero (MACD), where a
    relative error on a value near 0 says nothing about accuracy.
    """
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=RTOL * scale, equal_nan=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("period", [1, 2, 5, 14, 50])
def test_sma_matches_talib(kind: str, period: int) -> None:
    """SMA equals talib.SMA, warm-up included."""
    _, _, close, _ = _ohlc(kind)
    _assert_parity(ind.sma(close, period), talib.SMA(close, period))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("period", [1, 2, 9, 20, 55])
def test_ema_matches_talib(kind: str, period: int) -> None:
    """EMA (seeded with an SMA) equals talib.EMA."""
    _, _, close, _ = _ohlc(kind)
    _assert_parity(ind.ema(close, period), talib.EMA(close, period))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("period", [2, 3, 14, 30])
def test_rsi_matches_talib(kind: str, period: int) -> None:
    """RSI (Wilder smoothing; 0 on a flat series, as TA-Lib) equals talib.RSI."""
    _, _, close, _ = _ohlc(kind)
    _assert_parity(ind.rsi(close, period), talib.RSI(close, period))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("period", [1, 3, 14, 21])
def test_atr_matches_talib(kind: str, period: int) -> None:
    """ATR (Wilder smoothing of the true range) equals talib.ATR."""
    high, low, close, _ = _ohlc(kind)
    _assert_parity(ind.atr(high, low, close, period), talib.ATR(high, low, close, period))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fast", "slow", "signal"), [(12, 26, 9), (8, 21, 5), (3, 5, 2), (26, 12, 9)]
)
def test_macd_matches_talib(kind: str, fast: int, slow: int, signal: int) -> None:
    """MACD line, signal and histogram equal talib.MACD, its warm-up alignment included."""
    _, _, close, _ = _ohlc(kind)
    ours = ind.macd(close, fast, slow, signal)
    reference = talib.MACD(close, fast, slow, signal)
    for mine, theirs in zip(ours, reference, strict=True):
        _assert_parity(mine, theirs, scale=float(np.max(close)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("period", "deviations"), [(20, 2.0), (10, 1.5), (5, 3.0)])
def test_bollinger_matches_talib(kind: str, period: int, deviations: float) -> None:
    """Bollinger upper/middle/lower equal talib.BBANDS (SMA, population deviation)."""
    _, _, close, _ = _ohlc(kind)
    ours = ind.bollinger(close, period, deviations)
    upper, middle, lower = talib.BBANDS(close, period, deviations, deviations)
    _assert_parity(ours.upper, upper)
    _assert_parity(ours.middle, middle)
    _assert_parity(ours.lower, lower)


@pytest.mark.parametrize("kind", KINDS)
def test_volume_sma_matches_talib(kind: str) -> None:
    """VOLUME_SMA is talib.SMA of the volume."""
    _, _, _, volume = _ohlc(kind)
    _assert_parity(ind.volume_sma(volume, 20), talib.SMA(volume, 20))


Call = Callable[[np.ndarray], np.ndarray]
SHORT_CASES: list[tuple[str, Call, Call]] = [
    ("sma", lambda c: ind.sma(c, 10), lambda c: talib.SMA(c, 10)),
    ("ema", lambda c: ind.ema(c, 10), lambda c: talib.EMA(c, 10)),
    ("rsi", lambda c: ind.rsi(c, 10), lambda c: talib.RSI(c, 10)),
    (
        "atr",
        lambda c: ind.atr(c * 1.01, c * 0.99, c, 10),
        lambda c: talib.ATR(c * 1.01, c * 0.99, c, 10),
    ),
    ("macd", lambda c: ind.macd(c, 3, 6, 4).signal, lambda c: talib.MACD(c, 3, 6, 4)[1]),
    ("bollinger", lambda c: ind.bollinger(c, 10).upper, lambda c: talib.BBANDS(c, 10)[0]),
]


@pytest.mark.parametrize(
    ("name", "ours", "reference"), SHORT_CASES, ids=[c[0] for c in SHORT_CASES]
)
@pytest.mark.parametrize("n", [1, 5, 9, 10, 11])
def test_series_around_the_warm_up_match_talib(
    name: str, ours: Call, reference: Call, n: int
) -> None:
    """Series shorter than, equal to and just past the warm-up give TA-Lib's NaNs and values."""
    _, _, close, _ = _ohlc("walk", 40)
    _assert_parity(ours(close[:n]), reference(close[:n]))


def test_a_batch_equals_each_row_alone() -> None:
    """A (symbols × bars) batch gives exactly the rows' own 1-D results (no cross-talk)."""
    rows = [_ohlc(kind, 120) for kind in KINDS]
    high = np.stack([r[0] for r in rows])
    low = np.stack([r[1] for r in rows])
    close = np.stack([r[2] for r in rows])
    batch_rsi = ind.rsi(close, 14)
    batch_atr = ind.atr(high, low, close, 14)
    batch_macd = ind.macd(close)
    for i in range(len(rows)):
        np.testing.assert_array_equal(batch_rsi[i], ind.rsi(close[i], 14))
        np.testing.assert_array_equal(batch_atr[i], ind.atr(high[i], low[i], close[i], 14))
        np.testing.assert_array_equal(batch_macd.histogram[i], ind.macd(close[i]).histogram)
