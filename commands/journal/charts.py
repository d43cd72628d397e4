"""Charts attached to replies: the equity curve and drawdown of a member's closed trades (PNG).

Drawn with Pillow's ``ImageDraw`` (lines, a filled polygon, FreeType text), not matplotlib: the
same two panels cost about 150 ms of CPU per chart through matplotlib's artists and Agg, which at
the container's 0.25 vCPU made a ``/metrics`` answer take 400-500 ms; this takes a few ms. The
layout is matplotlib's old one: 8 x 5 inches at 90 dpi, the same margins, a 3:1 split, the same
colours, ticks at "nice" steps (1, 2, 2.5, 5 x 10^k) and whole trades on the x axis.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, NamedTuple

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:  # the chart worker process imports this module without the journal's code
    from commands.journal.metrics import CurvePoint

WIDTH, HEIGHT = 720, 450
LEFT, RIGHT, TOP, BOTTOM = 79, 706, 32, 396
"""The plot area (pixels): matplotlib's margins 0.11, 0.98, 0.93, 0.12 of 8 x 5 in at 90 dpi."""
GAP = 8
EQUITY = (43, 123, 185)
ZERO = (136, 136, 136)
DRAWDOWN = (236, 169, 167)  # #d9534f at half opacity on white
GRID = (222, 222, 222)
INK = (0, 0, 0)
MAX_X_TICKS = 8
MAX_Y_TICKS = 6
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class Panel(NamedTuple):
    """One plot area: its pixel box and the data range it shows."""

    top: int
    bottom: int
    low: float
    high: float

    def y(self, value: float) -> float:
        """The pixel row of ``value``."""
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """At most ``most`` ticks within ``low..high`` at a step of 1, 2, 2.5 or 5 x 10^k."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def x_ticks(count: int) -> list[int]:
    """Trade numbers to tick for ``count`` closed trades: whole trades only, at most
    ``MAX_X_TICKS`` + 1, from 0 (the start)."""
    step = max(1, math.ceil(nice_ticks(0, max(count, 1), MAX_X_TICKS + 1)[1]))
    # nice_ticks' second tick is its step; a whole trade at least.
    return list(range(0, max(count, 1) + 1, step))


def close_date(curve: list[CurvePoint], index: int) -> str:
    """The label of trade ``index``: the date it closed (``start`` at 0)."""
    if index <= 0 or index > len(curve):
        return "start" if index == 0 else ""
    return f"{curve[index - 1].at:%Y-%m-%d}"


def _padded(values: list[float]) -> tuple[float, float]:
    """The range of ``values`` with matplotlib's 5 % margins (a flat series gets +-1)."""
    low, high = min(values), max(values)
    if high == low:
        return low - 1, high + 1
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _label(value: float, ticks: list[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    text = f"{value:,.{decimals}f}"
    return "0" if text.strip("-0.,") == "" else text


def equity_chart_png(curve: list[CurvePoint], *, title: str) -> bytes:
    """The two panels as a PNG: cumulative P&L after each closed trade above, its drawdown (a
    loss, at or below zero) below. The x axis counts closed trades from the start (0) and labels
    each tick with the date that trade closed."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    big = ImageFont.load_default(size=13)
    count = len(curve)
    equity = [0.0, *(float(p.cumulative) for p in curve)]
    drawdown = [0.0, *(-float(p.drawdown) for p in curve)]
    split = TOP + (BOTTOM - TOP - GAP) * 3 // 4
    top = Panel(TOP, split, *_padded(equity))
    bottom = Panel(split + GAP, BOTTOM, *_padded(drawdown))
    span = max(count, 1)

    def x(i: float) -> float:
        return LEFT + i / span * (RIGHT - LEFT)

    ticks = x_ticks(count)
    for panel, values in ((top, equity), (bottom, drawdown)):
        for i in ticks:
            draw.line([(x(i), panel.top), (x(i), panel.bottom)], fill=GRID)
        y_ticks = nice_ticks(panel.low, panel.high, MAX_Y_TICKS if panel is top else 3)
        for v in y_ticks:
            row = panel.y(v)
            draw.line([(LEFT, row), (RIGHT, row)], fill=GRID)
            draw.line([(LEFT - 4, row), (LEFT, row)], fill=INK)
            draw.text((LEFT - 7, row), _label(v, y_ticks), font=font, fill=INK, anchor="rm")
        points = [(x(i), panel.y(v)) for i, v in enumerate(values)]
        if panel is top:
            draw.line([(LEFT, top.y(0)), (RIGHT, top.y(0))], fill=ZERO, width=1)
            draw.line(points, fill=EQUITY, width=2, joint="curve")
        else:
            base = bottom.y(0)
            draw.polygon([(x(0), base), *points, (x(count), base)], fill=DRAWDOWN)
        draw.rectangle([(LEFT, panel.top), (RIGHT, panel.bottom)], outline=INK)
    for i in ticks:
        draw.line([(x(i), BOTTOM), (x(i), BOTTOM + 4)], fill=INK)
        label = close_date(curve, i)
        half = draw.textlength(label, font=font) / 2
        at = min(max(x(i), half + 2), WIDTH - half - 2)  # the last date stays on the image
        draw.text((at, BOTTOM + 7), label, font=font, fill=INK, anchor="mt")
    draw.text(((LEFT + RIGHT) / 2, TOP - 6), title, font=big, fill=INK, anchor="md")
    draw.text(
        ((LEFT + RIGHT) / 2, HEIGHT - 8), "Closing date of each trade", font=font, fill=INK,
        anchor="md",
    )  # fmt: skip
    for panel, text in ((top, "Cumulative P&L"), (bottom, "Drawdown")):
        _vertical(image, text, font, 14, (panel.top + panel.bottom) // 2)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)  # 3: as small as 6 here, half the time
    return buf.getvalue()


def _vertical(image: Image.Image, text: str, font: _Font, x: int, y: int) -> None:
    """``text`` turned a quarter left, centred on (x, y)."""
    left, upper, right, lower = (round(v) for v in font.getbbox(text))
    strip = Image.new("RGB", (right - left + 2, lower - upper + 2), "white")
    ImageDraw.Draw(strip).text((1 - left, 1 - upper), text, font=font, fill=INK)
    turned = strip.rotate(90, expand=True)
    image.paste(turned, (x - turned.width // 2, y - turned.height // 2))
