"""Helpers shared by the benchmark scripts: timing, percentiles, peak RSS, the JSON last line.

Every benchmark prints readable figures and, as its LAST line, one JSON object with its figures,
so a script can read them (``json.loads(output.splitlines()[-1])``).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def peak_rss_mib(*, children: bool = False) -> float:
    """Peak resident set size of this process (or of its waited-for children) in MiB.

    Linux reports ``ru_maxrss`` in KiB (macOS in bytes). For this process on Linux we read
    ``VmHWM`` instead: ``ru_maxrss`` survives ``exec``, so a benchmark's child process started with
    ``subprocess`` would report its parent's peak at the time of the fork, not its own.
    """
    if not children:
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    peak = resource.getrusage(who).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return peak / scale


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (0.0 when empty)."""
    return statistics.median(values) if values else 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by the nearest-rank method (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Timer:
    """Elapsed wall-clock seconds of a ``with timed() as t:`` block, in ``t.seconds``."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    """Measure the wall-clock time of a block with ``time.perf_counter``."""
    timer = Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def say(text: str) -> None:
    """Print one readable line at once (benchmarks run long; flush so progress shows)."""
    print(text, flush=True)


def print_json_last(figures: dict[str, Any]) -> None:
    """Print the figures as one JSON object: it must be the script's last line of output."""
    print(json.dumps(figures, sort_keys=False), flush=True)
