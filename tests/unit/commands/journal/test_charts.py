"""The equity chart: what its axes say, and that it is a PNG of the declared size."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from commands.journal.charts import (
    HEIGHT,
    MAX_X_TICKS,
    WIDTH,
    close_date,
    equity_chart_png,
    nice_ticks,
    x_ticks,
)
from commands.journal.metrics import CurvePoint


def _curve(days: list[int]) -> list[CurvePoint]:
    return [
        CurvePoint(
            at=datetime(2026, 3, day, 20, 0, tzinfo=UTC),
            trade_id=f"T{i}",
            cumulative=Decimal(10 * i),
            drawdown=Decimal(0),
        )
        for i, day in enumerate(days, 1)
    ]


def test_the_x_axis_shows_the_closing_dates_of_whole_trades() -> None:
    """With two closed trades the x ticks are whole trades (no 0.5, 1.5) labelled with the date
    each trade closed, after the start."""
    curve = _curve([3, 5])
    assert x_ticks(len(curve)) == [0, 1, 2]
    assert [close_date(curve, i) for i in x_ticks(2)] == ["start", "2026-03-03", "2026-03-05"]


def test_a_long_curve_keeps_whole_trade_ticks_with_dates() -> None:
    """Forty trades: at most a handful of ticks, every one a whole trade and dated; the chart is
    a PNG of the declared size."""
    curve = _curve([1 + i % 28 for i in range(40)])
    ticks = x_ticks(len(curve))
    assert 2 <= len(ticks) <= MAX_X_TICKS + 1
    assert all(isinstance(t, int) and 0 <= t <= 40 for t in ticks)
    assert all(close_date(curve, t).startswith(("2026-03-", "start")) for t in ticks)
    png = equity_chart_png(curve, title="t")
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size == (WIDTH, HEIGHT)


def test_no_trades_and_losses_draw_too() -> None:
    """No closed trade (a flat start) and a curve of losses with drawdowns both draw a PNG."""
    losing = [
        CurvePoint(at=datetime(2026, 3, d, tzinfo=UTC), trade_id=f"T{d}",
                   cumulative=Decimal(-7 * d), drawdown=Decimal(7 * d))
        for d in (1, 2, 3)
    ]  # fmt: skip
    for curve in ([], losing):
        assert equity_chart_png(curve, title="t").startswith(b"\x89PNG")


@given(
    st.floats(-1e7, 1e7, allow_nan=False),  # P&L in money: cents to billions
    st.floats(0.01, 1e9, allow_nan=False),
    st.integers(2, 9),
)
def test_nice_ticks_fall_inside_at_a_round_step(low: float, span: float, most: int) -> None:
    """Invariant: the ticks of any range lie inside it, are at most ``most``, and are spaced at
    1, 2, 2.5 or 5 x 10^k."""
    high = low + span
    ticks = nice_ticks(low, high, most)
    assert len(ticks) <= most
    tolerance = span * 1e-6
    assert all(low - tolerance <= t <= high + tolerance for t in ticks)
    if len(ticks) > 1:
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        # 1e-3: the difference of two large neighbouring ticks carries their rounding error
        assert any(abs(mantissa - m) < 1e-3 for m in (1, 2, 2.5, 5, 10))
