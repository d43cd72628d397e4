"""Charts rendered in a separate process that exits when idle, so their memory goes back.

matplotlib (with its fonts, caches and the Agg buffers of each figure) added about 100 MiB to the
bot's resident set after its first ``/metrics`` and kept it for the life of the process: in the
ADR's container (0.5 GiB) that is a fifth of everything, held for a chart drawn now and then. The
bot process never imports matplotlib now: ``equity_png`` hands the curve to one worker process
(``python -m commands.journal.chart_worker``, started on the first chart: a fresh interpreter, so
it copies nothing of the bot), which renders with ``commands.journal.charts`` and stays while
charts keep coming; ``IDLE_S`` after the last one it is told to exit and its memory is the
system's again. Other rooms' charts go through the same worker (``ChartWorker.render``: a
``module:function`` the worker imports, with bytes the room encodes, as the backtest's chart).
Requests and answers are length-prefixed msgpack frames on its stdin and stdout. A worker that died
(killed for memory) is replaced on the next chart. The first chart after an idle period pays the
worker's start (the equity chart is drawn with Pillow now: ~0.1 s of CPU and ~19 MiB; a
backtest chart still imports matplotlib there, about a second and a half).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import msgspec

from commands.core.errors import CommandError

if TYPE_CHECKING:  # the worker stays lean: matplotlib, msgspec and the tiny root error only
    from commands.journal.metrics import CurvePoint

log = logging.getLogger(__name__)

IDLE_S = 120.0
"""The worker exits after this long without a chart."""

_LENGTH = struct.Struct(">I")


class ChartWorkerError(CommandError):
    """The chart worker could not render (it died twice, or the chart itself failed)."""


class _Request(msgspec.Struct, array_like=True):
    title: str
    curve: list[Any]  # ``CurvePoint``s; the worker reads them as ``_Point``s
    renderer: str = ""
    """``module:function`` of another chart (``render``), taking ``payload``; empty: the equity
    chart of ``curve``."""
    payload: bytes = b""


class _Point(msgspec.Struct, frozen=True, kw_only=True):
    """(In the worker) the fields of ``commands.journal.metrics.CurvePoint`` the chart reads."""

    at: datetime
    trade_id: str
    cumulative: Decimal
    drawdown: Decimal


class _WorkerRequest(msgspec.Struct, array_like=True):
    title: str
    curve: list[_Point]
    renderer: str = ""
    payload: bytes = b""


class _Answer(msgspec.Struct, array_like=True):
    png: bytes = b""
    error: str = ""


def _write_frame(stream: IO[bytes], body: bytes) -> None:
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame, or ``None`` at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


class ChartWorker:
    """One chart process at a time, started on demand and stopped after ``idle_s`` unused."""

    def __init__(self, *, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._timer: threading.Timer | None = None
        self._decoder = msgspec.msgpack.Decoder(_Answer)
        self.started = 0
        """How many worker processes were started (tests read it)."""

    @property
    def pid(self) -> int | None:
        """The worker's process id while one runs."""
        return self._process.pid if self._process is not None else None

    def equity_png(self, curve: Sequence[CurvePoint], *, title: str) -> bytes:
        """The equity and drawdown chart as PNG bytes, rendered in the worker process."""
        return self._png(_Request(title, list(curve)))

    def render(self, renderer: str, payload: bytes, *, title: str = "") -> bytes:
        """PNG bytes from another room's chart, rendered in the worker process: ``renderer`` is
        its ``module:function``, called there with ``payload`` (bytes the room encodes and
        decodes itself), so the worker imports that room's chart code and the caller never
        imports matplotlib."""
        return self._png(_Request(title, [], renderer, payload))

    def _png(self, message: _Request) -> bytes:
        request = msgspec.msgpack.encode(message)
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            try:
                answer = self._ask(request)
            finally:
                self._timer = threading.Timer(self.idle_s, self._stop_if_idle)
                self._timer.daemon = True
                self._timer.start()
        if answer.error:
            raise ChartWorkerError(f"the chart could not be drawn: {answer.error}")
        return answer.png

    def _ask(self, request: bytes) -> _Answer:
        for attempt in (1, 2):
            process = self._process or self._start()
            try:
                assert process.stdin is not None
                assert process.stdout is not None
                _write_frame(process.stdin, request)
                body = _read_frame(process.stdout)
            except (BrokenPipeError, OSError):
                body = None
            if body is not None:
                return self._decoder.decode(body)
            # The worker died (killed for memory, or by an operator): one new one, once.
            log.warning("chart worker %s died (exit %s)", process.pid, process.poll())
            self._end(process)
            if attempt == 2:
                break
        raise ChartWorkerError("the chart worker died twice in a row")

    def _start(self) -> subprocess.Popen[bytes]:
        # This module by its own name: it runs itself, wherever the package puts it.
        self._process = subprocess.Popen(  # noqa: S603 (our own module, no input)
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.started += 1
        return self._process

    def _stop_if_idle(self) -> None:
        with self._lock:
            self._timer = None
            if self._process is not None:
                self._end(self._process)

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        """Close its input (it exits at the end of it) and reap it."""
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                # A killed worker's stdin may still hold the unsent request: closing flushes
                # it into a broken pipe, which says only what is known (it died).
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._process is process:
            self._process = None

    def stop(self) -> None:
        """Stop the worker now (shutdown; tests)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._process is not None:
                self._end(self._process)


WORKER = ChartWorker()
"""The process's chart worker (``commands.journal.handlers.handle_metrics`` renders through it)."""


def equity_png(curve: Sequence[CurvePoint], *, title: str) -> bytes:
    """The equity and drawdown chart as PNG, rendered in this process's chart worker."""
    return WORKER.equity_png(curve, title=title)


def _named(renderer: str) -> Callable[[bytes], bytes]:
    """(The worker) the chart function ``module:function`` names."""
    module, _, name = renderer.partition(":")
    found: Callable[[bytes], bytes] = getattr(importlib.import_module(module), name)
    return found


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """(The worker) render each request until the end of ``stdin``."""
    from commands.journal.charts import equity_chart_png

    decoder = msgspec.msgpack.Decoder(_WorkerRequest)
    encoder = msgspec.msgpack.Encoder()
    while (body := _read_frame(stdin)) is not None:
        try:
            request = decoder.decode(body)
            if request.renderer:
                answer = _Answer(png=_named(request.renderer)(request.payload))
            else:
                curve: Any = request.curve  # read as CurvePoints: the same fields
                answer = _Answer(png=equity_chart_png(curve, title=request.title))
        except Exception as exc:  # the bot's reply says the chart failed; the worker goes on
            answer = _Answer(error=f"{type(exc).__name__}: {exc}")
        _write_frame(stdout, encoder.encode(answer))


if __name__ == "__main__":
    # Frames go to a copy of the original stdout; anything a library prints goes to stderr.
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, frames)
