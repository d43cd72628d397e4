"""Benchmark: scan every strategy of a folder over a generated universe (default 500 × 500).

Generates sample-like data deterministically (500 symbols × 500 daily bars, with flow alerts),
loads every ``*.yaml`` strategy of ``--strategies DIR`` (default: ibpicker's own examples), then
scans all of them over all symbols ``--repeat`` times (each scan building its
``signals_generated`` event too) and reports the median. Baseline: the predecessor took 21-24 s
for six strategies × 500 symbols × 500 bars on this kind of machine, peaking at ~620 MB. Goal:
≤ 1 s, peak RSS ≤ 300 MiB. The last line of output is one JSON object with the figures.

    .venv/bin/python benchmarks/scan.py --strategies ../shared/compat/strategies
    .venv/bin/python benchmarks/scan.py --symbols 50 --bars 300 --repeat 3   # quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

from analysis.scan import ScanResult, scan, signals_event
from analysis.strategy import Strategy, load_strategy_file
from benchmarks._common import peak_rss_mib, print_json_last, say, timed
from tests.support.synthetic import generate_market

BASELINE_SECONDS = 22.5  # the predecessor: 21-24 s for this workload
GOAL_SECONDS = 1.0
GOAL_RSS_MIB = 300.0


def load_folder(folder: Path | None) -> list[Strategy]:
    """Every strategy file of ``folder`` (default: the packaged examples), sorted by file name."""
    if folder is None:
        root = resources.files("analysis") / "strategies"
        folder = Path(str(root))
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not paths:
        raise SystemExit(f"no strategy files in {folder}")
    return [load_strategy_file(path) for path in paths]


def main() -> None:
    """Generate, scan, print figures and the JSON last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=Path, default=None, help="folder of *.yaml files")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (median reported)")
    parser.add_argument("--seed", type=int, default=20_240_101)
    args = parser.parse_args()

    strategies = load_folder(args.strategies)
    with timed() as generation:
        market = generate_market(args.symbols, args.bars, seed=args.seed)
    say(
        f"data: {args.symbols} symbols × {args.bars} bars, {market.alert_count:,} flow alerts, "
        f"generated in {generation.seconds:.2f} s; evaluated at {market.evaluated_at.isoformat()}"
    )
    say(f"strategies ({len(strategies)}): {', '.join(s.key for s in strategies)}")

    totals: list[float] = []
    cpu_totals: list[float] = []
    per_strategy: dict[str, list[float]] = {s.key: [] for s in strategies}
    results: dict[str, ScanResult] = {}
    for _ in range(args.repeat):
        cpu_start = time.process_time()
        with timed() as everything:
            for strategy in strategies:
                with timed() as one:
                    result = scan(
                        strategy, market.bars, market.alerts, evaluated_at=market.evaluated_at
                    )
                    signals_event(result, strategy, "benchmark")
                per_strategy[strategy.key].append(one.seconds)
                results[strategy.key] = result
        totals.append(everything.seconds)
        cpu_totals.append(time.process_time() - cpu_start)

    for strategy in strategies:
        result = results[strategy.key]
        seconds = statistics.median(per_strategy[strategy.key])
        say(
            f"  {strategy.key:<28} {seconds * 1000:7.1f} ms  signals {len(result.signals):3d}  "
            f"evaluated {result.evaluated:3d}  skipped {len(result.skipped):3d}"
        )
    median = statistics.median(totals)
    peak = peak_rss_mib()
    runs = ", ".join(f"{t:.3f}" for t in totals)
    cpu = statistics.median(cpu_totals)
    say(
        f"all strategies × all symbols: median {median:.3f} s wall, {cpu:.3f} s CPU, "
        f"over {args.repeat} runs ({runs})"
    )
    say(
        f"baseline {BASELINE_SECONDS} s → {BASELINE_SECONDS / median:.0f}× faster; "
        f"goal ≤ {GOAL_SECONDS} s: {'met' if median <= GOAL_SECONDS else 'NOT met'}; "
        f"peak RSS {peak:.0f} MiB (goal ≤ {GOAL_RSS_MIB:.0f}: "
        f"{'met' if peak <= GOAL_RSS_MIB else 'NOT met'})"
    )
    print_json_last(
        {
            "strategies": len(strategies),
            "symbols": args.symbols,
            "bars": args.bars,
            "scan_seconds_median": round(median, 4),
            "scan_cpu_seconds_median": round(cpu, 4),
            "per_symbol_ms": round(median / args.symbols * 1000, 4),
            "baseline_seconds": BASELINE_SECONDS,
            "ratio": round(BASELINE_SECONDS / median, 1),
            "peak_rss_mib": round(peak, 1),
        }
    )


if __name__ == "__main__":
    main()
