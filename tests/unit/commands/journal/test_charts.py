"""The equity chart: what its axes say."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from commands.journal.charts import equity_chart_png, equity_figure
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
    fig = equity_figure(_curve([3, 5]), title="t")
    fig.canvas.draw()
    axis = fig.axes[1].xaxis
    ticks = [t for t in axis.get_major_ticks() if t.label1.get_text()]
    assert [t.get_loc() for t in ticks] == [0, 1, 2]
    assert [t.label1.get_text() for t in ticks] == ["start", "2026-03-03", "2026-03-05"]


def test_a_long_curve_keeps_whole_trade_ticks_with_dates() -> None:
    """Forty trades: at most a handful of ticks, every one on a whole trade and dated."""
    fig = equity_figure(_curve([1 + i % 28 for i in range(40)]), title="t")
    fig.canvas.draw()
    ticks = [t for t in fig.axes[1].xaxis.get_major_ticks() if t.label1.get_text()]
    assert 2 <= len(ticks) <= 10
    assert all(float(t.get_loc()).is_integer() for t in ticks)
    assert all(t.label1.get_text().startswith(("2026-03-", "start")) for t in ticks)
    assert equity_chart_png(_curve([3]), title="t").startswith(b"\x89PNG")
