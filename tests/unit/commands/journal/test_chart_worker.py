"""The chart worker: the same PNG as rendering in process, matplotlib never in the caller, the
worker gone when idle and replaced when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from commands.journal.chart_worker import ChartWorker
from commands.journal.charts import equity_chart_png
from commands.journal.metrics import CurvePoint

ROOT = Path(__file__).resolve().parents[4]


def _curve(n: int) -> list[CurvePoint]:
    start = datetime(2026, 1, 5, 21, 0, tzinfo=UTC)
    total, out, peak = Decimal(0), [], Decimal(0)
    for i in range(n):
        total += Decimal(i % 7 - 3) * 10
        peak = max(peak, total)
        out.append(
            CurvePoint(
                at=start + timedelta(days=i), trade_id=f"t{i}", cumulative=total,
                drawdown=peak - total,
            )
        )  # fmt: skip
    return out


@pytest.fixture
def worker() -> Iterator[ChartWorker]:
    """A worker of its own, stopped after the test."""
    made = ChartWorker(idle_s=60)
    yield made
    made.stop()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_worker_draws_the_same_png_as_the_renderer(worker: ChartWorker) -> None:
    """Two charts through one worker process are byte for byte what ``equity_chart_png`` draws
    in this process."""
    curve = _curve(40)
    assert worker.equity_png(curve, title="Equity") == equity_chart_png(curve, title="Equity")
    assert worker.equity_png(curve[:5], title="Five") == equity_chart_png(curve[:5], title="Five")
    assert worker.started == 1


def test_the_calling_process_never_imports_matplotlib() -> None:
    """A process that draws a chart through the worker has no matplotlib module loaded after."""
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from decimal import Decimal\n"
        "from commands.journal.chart_worker import WORKER, equity_png\n"
        "from commands.journal.metrics import CurvePoint\n"
        "at = datetime(2026, 1, 5, tzinfo=UTC)\n"
        "curve = [CurvePoint(at=at, trade_id='t', cumulative=Decimal(5), drawdown=Decimal(0))]\n"
        "png = equity_png(curve, title='t')\n"
        "WORKER.stop()\n"
        "print(png[:4] == b'\\x89PNG', any(m.startswith('matplotlib') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "False"]


def test_an_idle_worker_exits_and_the_next_chart_starts_another() -> None:
    """After ``idle_s`` without a chart the worker process has exited (its memory returned);
    the next chart starts a new one."""
    worker = ChartWorker(idle_s=0.2)
    try:
        worker.equity_png(_curve(3), title="t")
        pid = worker.pid
        assert pid is not None
        deadline = time.monotonic() + 30
        while worker.pid is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.pid is None
        assert _gone(pid)
        assert worker.equity_png(_curve(3), title="t").startswith(b"\x89PNG")
        assert worker.started == 2
    finally:
        worker.stop()


def test_a_killed_worker_is_replaced_on_the_next_chart(worker: ChartWorker) -> None:
    """A worker killed between charts (as the kernel does over a memory limit) costs nothing
    but a new start: the next chart is drawn."""
    worker.equity_png(_curve(3), title="t")
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert worker.equity_png(_curve(8), title="t") == equity_chart_png(_curve(8), title="t")
    assert worker.started == 2
    assert worker.pid != pid
