"""The backtest's charts: equity with the buy-and-hold of the same symbols for reference above,
the strategy's drawdown below (PNG); for a Monte Carlo, the equity cone of the resamples.

Rendered in the chart worker process (``commands.journal.chart_worker``: matplotlib's memory goes
back to the system when it idles): ``backtest_png`` sends the series there, where
``render_png`` draws them. matplotlib is imported only inside ``render_png``, in the worker.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from commands.journal.chart_worker import WORKER

if TYPE_CHECKING:  # the worker imports this module: it stays lean (no strategy or engine code)
    from analysis.backtest import EquityPoint, MonteCarloResult
    from analysis.series import SymbolBars

RENDERER = f"{__name__}:render_png"
CONE_RENDERER = f"{__name__}:render_cone_png"


class ChartSeries(msgspec.Struct, frozen=True, kw_only=True):
    """What the chart draws: one value per session of the equity curve."""

    title: str
    days: list[date]
    equity: list[float]
    buy_and_hold: list[float]


class ConeSeries(msgspec.Struct, frozen=True, kw_only=True):
    """The Monte Carlo's equity cone: equity percentiles after each sampled number of trades."""

    title: str
    trades: list[int]
    bands: list[list[float]]
    """p5, p25, p50, p75, p95: one list each, aligned with ``trades``."""
    ruin: float
    """The equity at which the starting capital has fallen by the ruin drawdown."""


def cone(title: str, result: MonteCarloResult) -> ConeSeries:
    """The cone of a Monte Carlo, for ``cone_png``."""
    points = result.cone
    return ConeSeries(
        title=title,
        trades=[p.trade for p in points],
        bands=[[getattr(p, k) for p in points] for k in ("p5", "p25", "p50", "p75", "p95")],
        ruin=result.initial_equity * (1.0 - result.ruin_drawdown),
    )


def cone_png(chart: ConeSeries) -> bytes:
    """The equity cone as PNG, rendered in the chart worker."""
    return WORKER.render(CONE_RENDERER, msgspec.msgpack.encode(chart), title=chart.title)


def render_cone_png(payload: bytes) -> bytes:
    """(In the chart worker) the PNG of an encoded ``ConeSeries``: the 5–95 and 25–75 %
    bands, the median, and the ruin level."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chart = msgspec.msgpack.decode(payload, type=ConeSeries)
    fig = Figure(figsize=(8, 4), dpi=90)
    fig.subplots_adjust(left=0.11, right=0.98, top=0.91, bottom=0.12)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    p5, p25, p50, p75, p95 = chart.bands
    ax.fill_between(chart.trades, p5, p95, color="#2b7bb9", alpha=0.15, label="5–95 %")
    ax.fill_between(chart.trades, p25, p75, color="#2b7bb9", alpha=0.3, label="25–75 %")
    ax.plot(chart.trades, p50, color="#2b7bb9", linewidth=1.6, label="median")
    ax.axhline(chart.ruin, color="#d9534f", linewidth=1.0, linestyle="--", label="ruin")
    ax.set_xlabel("Trades")
    ax.set_ylabel("Equity")
    ax.set_title(chart.title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def buy_and_hold(
    bars: Mapping[str, SymbolBars], days: Sequence[date], capital: float
) -> list[float]:
    """``capital`` split equally over the symbols with a close on the first day, each held from
    that close to the end (a day without a bar keeps the symbol's last close)."""
    if not days:
        return []
    wanted = np.asarray(days, dtype="datetime64[D]")
    closes: list[np.ndarray] = []
    for b in bars.values():
        index = np.searchsorted(b.day, wanted, side="right") - 1
        if len(b) == 0 or index[0] < 0:
            continue
        closes.append(b.close[index] / b.close[index[0]])
    if not closes:
        return [capital] * len(days)
    values = capital * np.mean(np.vstack(closes), axis=0)
    return [float(v) for v in values]


def series(
    title: str, equity: Sequence[EquityPoint], bars: Mapping[str, SymbolBars], capital: float
) -> ChartSeries:
    """The chart's series for a run's equity curve over ``bars``."""
    days = [p.date for p in equity]
    return ChartSeries(
        title=title,
        days=days,
        equity=[p.value for p in equity],
        buy_and_hold=buy_and_hold(bars, days, capital),
    )


def backtest_png(chart: ChartSeries) -> bytes:
    """The chart as PNG, rendered in the chart worker."""
    return WORKER.render(RENDERER, msgspec.msgpack.encode(chart), title=chart.title)


def render_png(payload: bytes) -> bytes:
    """(In the chart worker) the PNG of an encoded ``ChartSeries``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chart = msgspec.msgpack.decode(payload, type=ChartSeries)
    fig = Figure(figsize=(8, 5), dpi=90)
    # Fixed margins instead of tight_layout(), which costs an extra full draw.
    fig.subplots_adjust(left=0.11, right=0.98, top=0.93, bottom=0.1, hspace=0.08)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    xs = np.asarray(chart.days, dtype="datetime64[D]")
    equity = np.asarray(chart.equity, dtype=np.float64)
    top.plot(xs, equity, color="#2b7bb9", linewidth=1.8, label="strategy")
    top.plot(xs, chart.buy_and_hold, color="#888888", linewidth=1.2, label="buy and hold")
    top.set_ylabel("Equity")
    top.set_title(chart.title)
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    drawdown = np.where(peak > 0, equity / np.where(peak > 0, peak, 1.0) - 1.0, 0.0) * 100
    bottom.fill_between(xs, drawdown, 0, color="#d9534f", alpha=0.5)
    bottom.set_ylabel("Drawdown %")
    bottom.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
