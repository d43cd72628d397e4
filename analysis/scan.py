"""Scan a universe of symbols with one strategy: a pure function of its inputs.

The input is columnar (``SymbolBars`` per symbol, as the analytics projections hand it over) plus
the flow alerts per symbol; the output is a ``ScanResult`` that does not depend on the order of the
symbols and is identical on every re-run, and ``signals_event`` turns it into the journal's
``signals_generated`` event (strategy name and file hash included, so every pick is reproducible).

The evaluation date is ``evaluated_at`` seen in New York (the exchange's calendar day); bars after
it are ignored, so a scan of a past moment sees only what was known then. Symbols are grouped by
their number of bars and each group is evaluated as one ``(symbols, bars)`` matrix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from analysis.errors import AnalysisError
from analysis.evaluator import DEFAULT_ACCOUNT_EQUITY, evaluate_batch, require_aware
from analysis.series import BarBatch, SymbolBars
from analysis.strategy import Strategy
from events.analysis import Signal, SignalsGenerated, SkippedSymbol
from events.market import FlowAlert
from events.wording import plural

EXCHANGE_ZONE = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class ScanResult:
    """The outcome of one scan: signals and skipped symbols, each sorted by symbol.

    ``evaluated_at`` is in UTC whatever zone the caller used.
    """

    strategy_name: str
    strategy_hash: str
    strategy_version: str
    evaluated_at: datetime
    evaluation_date: date
    universe: tuple[str, ...]
    signals: tuple[Signal, ...]
    skipped: tuple[SkippedSymbol, ...]
    account_equity: float

    @property
    def evaluated(self) -> int:
        """Symbols whose entry rule was evaluated (not skipped before it or by the filters)."""
        not_evaluated = sum(1 for s in self.skipped if not s.reason.startswith("not taken"))
        return len(self.universe) - not_evaluated


def evaluation_date(evaluated_at: datetime) -> date:
    """The exchange calendar day of an aware moment (America/New_York)."""
    require_aware(evaluated_at, "evaluated_at")
    return evaluated_at.astimezone(EXCHANGE_ZONE).date()


def scan(
    strategy: Strategy,
    bars_by_symbol: Mapping[str, SymbolBars],
    alerts_by_symbol: Mapping[str, Sequence[FlowAlert]],
    *,
    evaluated_at: datetime,
    universe: Sequence[str] | None = None,
    earnings: Mapping[str, Sequence[date]] | None = None,
    skip_earnings_within: int | None = None,
    account_equity: float = DEFAULT_ACCOUNT_EQUITY,
) -> ScanResult:
    """Evaluate ``strategy`` for every symbol of ``universe`` (default: every symbol with bars).

    ``earnings`` maps symbols to known earnings dates; with ``skip_earnings_within=N`` a symbol
    whose earnings fall within N calendar days from the evaluation date (inclusive) is skipped.
    """
    day = evaluation_date(evaluated_at)
    evaluated_at = evaluated_at.astimezone(UTC)
    if skip_earnings_within is not None and earnings is None:
        raise AnalysisError("skip_earnings_within needs the earnings dates (earnings=...)")
    if account_equity <= 0:
        raise AnalysisError(f"account equity must be positive, got {account_equity}")
    symbols = sorted(set(universe) if universe is not None else set(bars_by_symbol))
    skipped: list[SkippedSymbol] = []
    by_length: dict[int, list[tuple[str, SymbolBars]]] = defaultdict(list)
    for symbol in symbols:
        reason, bars = _prepare(symbol, bars_by_symbol.get(symbol), day)
        if reason is None and skip_earnings_within is not None and earnings is not None:
            reason = _earnings_reason(earnings.get(symbol, ()), day, skip_earnings_within)
        if reason is not None or bars is None:
            skipped.append(SkippedSymbol(symbol=symbol, reason=reason or "no bars"))
            continue
        by_length[len(bars)].append((symbol, bars))

    signals: list[Signal] = []
    for length in sorted(by_length):
        outcome = evaluate_batch(
            strategy,
            BarBatch.stack(by_length[length]),
            alerts_by_symbol,
            evaluated_at=evaluated_at,
            account_equity=account_equity,
        )
        signals.extend(outcome.signals)
        skipped.extend(outcome.skipped)
    return ScanResult(
        strategy_name=strategy.name,
        strategy_hash=strategy.sha256,
        strategy_version=strategy.spec.strategy.version,
        evaluated_at=evaluated_at,
        evaluation_date=day,
        universe=tuple(symbols),
        signals=tuple(sorted(signals, key=lambda s: s.symbol)),
        skipped=tuple(sorted(skipped, key=lambda s: s.symbol)),
        account_equity=account_equity,
    )


def _prepare(
    symbol: str, bars: SymbolBars | None, day: date
) -> tuple[str | None, SymbolBars | None]:
    """The symbol's bars up to the evaluation date, or why it cannot be evaluated."""
    if bars is None or len(bars) == 0:
        return "no bars", None
    known = bars.up_to(day)
    if len(known) == 0:
        return f"no bars on or before {day.isoformat()}", None
    return None, known


def _earnings_reason(dates: Sequence[date], day: date, within: int) -> str | None:
    upcoming = sorted(d for d in dates if 0 <= (d - day).days <= within)
    if not upcoming:
        return None
    return f"earnings on {upcoming[0].isoformat()} (within {plural(within, 'day')})"


def signals_event(
    result: ScanResult, strategy: Strategy, scan_id: str, *, guild_id: int | None = None
) -> SignalsGenerated:
    """The ``signals_generated`` event recording a scan of ``strategy``."""
    if result.strategy_hash != strategy.sha256:
        raise AnalysisError(
            f"scan result is from strategy {result.strategy_name!r} "
            f"({result.strategy_hash[:12]}), not {strategy.name!r} ({strategy.sha256[:12]})"
        )
    return SignalsGenerated(
        scan_id=scan_id,
        strategy_name=result.strategy_name,
        strategy_hash=result.strategy_hash,
        strategy_version=result.strategy_version,
        evaluated_at=result.evaluated_at,
        universe=list(result.universe),
        signals=list(result.signals),
        skipped=list(result.skipped),
        guild_id=guild_id,
        account_equity=result.account_equity,
    )
