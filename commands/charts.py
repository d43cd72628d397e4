"""Charts attached to replies: the equity curve and drawdown of a member's closed trades (PNG).

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global state), so it is
safe in a server thread and never opens a window.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from commands.metrics import CurvePoint


def equity_chart_png(curve: list[CurvePoint], *, title: str) -> bytes:
    """A two-panel PNG: cumulative P&L per closed trade above, drawdown below."""
    # Fixed margins instead of tight_layout(), which costs an extra full draw (~100 ms).
    fig = Figure(figsize=(8, 5), dpi=90)
    fig.subplots_adjust(left=0.11, right=0.98, top=0.93, bottom=0.1, hspace=0.08)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    xs = list(range(len(curve) + 1))
    equity = [0.0, *(float(p.cumulative) for p in curve)]
    drawdown = [0.0, *(-float(p.drawdown) for p in curve)]
    top.plot(xs, equity, color="#2b7bb9", linewidth=1.8)
    top.axhline(0, color="#888888", linewidth=0.8)
    top.set_ylabel("Cumulative P&L")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(xs, drawdown, 0, color="#d9534f", alpha=0.5)
    bottom.set_ylabel("Drawdown")
    bottom.set_xlabel("Closed trades")
    bottom.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
