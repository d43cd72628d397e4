"""Check outside the project: load and run every strategy file of a folder, unchanged.

For each ``*.yaml`` in DIR: does it load (or which file/field/problem stops it), and run over
generated data (every tenth symbol with a short history, so "too little history" shows), with the
number of symbols evaluated, signals, and the skipped reasons grouped. Exit status 1 if any file
fails to load or to run. The last line of output is one JSON object with the per-file outcome.

    .venv/bin/python benchmarks/compat_strategies.py ../shared/compat/strategies
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

from analysis.errors import AnalysisError
from analysis.scan import scan, signals_event
from analysis.strategy import load_strategy_file
from benchmarks._common import print_json_last, say
from tests.support.synthetic import SyntheticMarket, generate_market

# Per-symbol numbers removed so that equal reasons group together.
_NUMBERS = [
    (re.compile(r"close [-\d.e+]+ "), "close "),
    (re.compile(r"average volume [\d,]+ over"), "average volume over"),
    (re.compile(r"reward/risk [\d.]+ "), "reward/risk "),
    (
        re.compile(r"stop loss [-\d.e+]+ is not between 0 and entry [-\d.e+]+"),
        "stop not below entry",
    ),
    (re.compile(r"take profit [-\d.e+]+ is not above entry [-\d.e+]+"), "target not above entry"),
]


def reason_kind(reason: str) -> str:
    """A skipped reason without the symbol's own numbers."""
    for pattern, replacement in _NUMBERS:
        reason = pattern.sub(replacement, reason)
    return reason


def check(path: Path, market: SyntheticMarket) -> dict[str, Any]:
    """Load and run one file; print its outcome; return it as figures."""
    say(f"{path.name}")
    try:
        strategy = load_strategy_file(path)
    except AnalysisError as exc:
        say(f"  FAILED to load:\n    {str(exc).replace(chr(10), chr(10) + '    ')}")
        return {"file": path.name, "ok": False, "error": str(exc)}
    say(
        f"  loaded OK: {strategy.name!r} v{strategy.spec.strategy.version}, "
        f"sha256 {strategy.sha256[:16]}…"
    )
    try:
        result = scan(strategy, market.bars, market.alerts, evaluated_at=market.evaluated_at)
        signals_event(result, strategy, f"compat-{path.stem}")
    except AnalysisError as exc:
        say(f"  FAILED to run: {exc}")
        return {"file": path.name, "ok": False, "error": str(exc)}
    say(
        f"  symbols: {len(result.universe)} in the universe, {result.evaluated} evaluated, "
        f"{len(result.signals)} signal(s)"
    )
    for signal in result.signals[:3]:
        flow = f", {len(signal.flow_alerts)} flow alert(s)" if signal.flow_alerts else ""
        say(
            f"    {signal.symbol} entry {signal.entry:.2f} stop {signal.stop_loss or 0:.2f} "
            f"target {signal.take_profit or 0:.2f} size {signal.position_size or 0:.0f}{flow}"
        )
    kinds = Counter(reason_kind(s.reason) for s in result.skipped)
    for kind, count in kinds.most_common():
        say(f"  skipped {count:4d}: {kind}")
    return {
        "file": path.name,
        "ok": True,
        "evaluated": result.evaluated,
        "signals": len(result.signals),
        "skipped": len(result.skipped),
    }


def main() -> int:
    """Check every file of the folder; 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of strategy *.yaml files")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=300)
    args = parser.parse_args()
    paths = sorted([*args.folder.glob("*.yaml"), *args.folder.glob("*.yml")])
    if not paths:
        say(f"no strategy files in {args.folder}")
        return 1
    market = generate_market(args.symbols, args.bars, short_history_every=10, short_history_bars=30)
    say(
        f"data: {args.symbols} symbols × {args.bars} bars (every 10th with 30 bars), "
        f"{market.alert_count:,} flow alerts, evaluated at {market.evaluated_at.isoformat()}\n"
    )
    outcomes = [check(path, market) for path in paths]
    failed = [o["file"] for o in outcomes if not o["ok"]]
    say(
        f"\n{len(paths) - len(failed)} of {len(paths)} files loaded and ran"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    print_json_last({"files": len(paths), "failed": failed, "outcomes": outcomes})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
