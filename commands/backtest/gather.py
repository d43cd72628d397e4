"""What ``/backtest`` and ``/backtests`` gather before their handlers run: the backtest itself
(options checked, data read at one journal position, the engine run), and the past runs.

Runs through the command service (``commands.core.service.Gather``): the reading and the engine
on the service's worker (``service.call``), where scans run too, after the analytics caught up
with the journal (``READS_ANALYTICS``). The data position is the analytics' applied position of
the market-data projections, or the ``at`` a member asks for to repeat a run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import msgspec

from analysis.backtest import (
    BacktestError,
    BacktestParams,
    MonteCarloParams,
    Sizing,
    bars_needed,
    compare,
    monte_carlo,
    run,
    walk_forward,
)
from analysis.errors import StrategyError
from analysis.strategy import Strategy, load_strategy, parse_strategy
from commands.backtest.inputs import JournalMarketData, MarketReader, Window, read_window
from commands.backtest.report import BacktestOutcome, StrategyRun
from commands.backtest.request import BacktestRequest, parse_request, versioned
from commands.core.adapters import StoredMarketData
from commands.core.fetching import FetchProgress
from commands.core.handler import Command, State, reject
from commands.core.ports import StrategyRef, UnknownStrategyError
from commands.core.service import CommandService, Gather
from commands.strategies.draft import DRAFT_FILE, draft_id_of, draft_ref, draft_text
from commands.strategies.library import Resolved, parse_version, resolve
from events.backtests import BacktestCompleted
from projections.analytics import Analytics
from projections.backtests import recent_backtests
from projections.runner import ProjectionRunner

BACKTESTS_LISTED = 50
"""The newest runs ``/backtests`` lists (in pages); its title counts them all."""
MARKET_PROJECTIONS = ("bars", "flow_alerts", "earnings")
"""The analytics projections a backtest reads; the data position is the lowest they applied."""


@runtime_checkable
class _Loads(Protocol):
    """An analyzer that hands out the strategy a reference names (``StrategyAnalyzer.load``)."""

    def load(self, ref: StrategyRef) -> Strategy:
        """The strategy ``ref`` names."""
        ...


def strategy_at_version(
    service: CommandService, state: State, cmd: Command, name: str, version: int | None
) -> tuple[Resolved, Strategy]:
    """The strategy ``name`` names on this server at an exact version (the library's resolver:
    the server's own, else a shipped or operator one, else a file the CLI offered), parsed; or
    a draft's exact text (``draft:<command id>``, read back from the journal)."""
    draft_id = draft_id_of(name)
    if draft_id is not None:
        return drafted(service, cmd, draft_id, version)
    found = resolve(state, cmd.inv.guild_id, name, version)
    if found.version is not None:
        return found, parse_version(found.version)
    analyzer = service.analyzer
    try:
        if isinstance(analyzer, _Loads):
            return found, analyzer.load(found.ref)
        return found, load_strategy(found.key)
    except (StrategyError, UnknownStrategyError) as exc:
        raise reject(f"Strategy {found.key} cannot be loaded: {exc}") from None


def drafted(
    service: CommandService, cmd: Command, draft_id: str, version: int | None
) -> tuple[Resolved, Strategy]:
    """The draft that command ``draft_id`` appended on this server (``/strategy draft``), at its
    exact text: key ``draft:<id>``, version ``draft``, the text's SHA-256 (a draft's text never
    changes, so the same reference repeats to the byte). Refused with ``version`` (a draft has
    none), or when no valid draft has that id here."""
    if version is not None:
        raise reject("A draft has no versions: leave version: out (save it to version it).")
    text = draft_text(service.journal, draft_id, cmd.inv.guild_id)
    key = draft_ref(draft_id)
    found = Resolved(key=key, origin="draft", label="draft", ref=text)
    return found, parse_strategy(text.yaml_text.encode("utf-8"), DRAFT_FILE)


def _analytics(service: CommandService) -> tuple[ProjectionRunner, Analytics]:
    """The service's analytics runner and projections; refused when it has none."""
    runner = service.analytics_runner
    if runner is None or runner.analytics is None:
        raise reject("Backtests need the analytics projections, which this service has not.")
    return runner, runner.analytics


def data_position(service: CommandService, asked: int | None) -> tuple[int, MarketReader]:
    """The journal position to read at (``asked``, else what the analytics applied) and the
    reader: the projections for the position they hold, the journal's events for an earlier
    one (``commands.backtest.inputs``); refuses a position beyond what the analytics hold."""
    runner, analytics = _analytics(service)
    applied = runner.positions()
    position = min(applied.get(name, 0) for name in MARKET_PROJECTIONS)
    if asked is None or asked == position:
        return position, StoredMarketData(analytics)
    if asked > position:
        raise reject(
            f"at must be a journal position up to {position} (what the analytics hold); "
            f"got {asked}."
        )
    return asked, JournalMarketData(service.journal)


def _params(request: BacktestRequest, window: Window) -> BacktestParams:
    return BacktestParams(
        capital=request.capital,
        commission=request.commission,
        slippage_bps=request.slippage_bps,
        start=window.start,
        end=window.end,
        skip_earnings_within=request.skip_earnings_within,
        earnings_lead_days=request.earnings_lead,
        direction=request.direction,
        risk_free_rate=request.risk_free_rate,
        max_positions=request.max_positions,
        sizing=Sizing() if request.fraction is None else Sizing("fraction", request.fraction),
    )


def _number(found: Resolved) -> int | None:
    return found.version.version if found.version is not None else None


def _engine(
    request: BacktestRequest,
    strategies: list[tuple[Resolved, Strategy]],
    window: Window,
    report: Callable[[int, int], None] | None,
) -> list[StrategyRun]:
    params = _params(request, window)
    data = window.data
    if request.mode == "compare":
        found = compare([s for _, s in strategies], data, params, progress=report)
        return [
            StrategyRun(r.key, r.label, s, result, version=_number(r))
            for (r, s), result in zip(strategies, found.results, strict=True)
        ]
    resolved, strategy = strategies[0]
    one = functools.partial(
        StrategyRun, resolved.key, resolved.label, strategy, version=_number(resolved)
    )
    if request.mode == "walk-forward":
        wf = walk_forward(
            strategy, data, params, in_sample_sessions=request.in_sample,
            out_of_sample_sessions=request.out_of_sample, progress=report,
        )  # fmt: skip
        return [one(wf.out_of_sample, walk_forward=wf)]
    result = run(strategy, data, params, progress=report)
    if request.mode == "monte-carlo":
        mc_params = MonteCarloParams(
            method=request.method,  # type: ignore[arg-type]  # the spec's choices
            runs=request.resamples,
            seed=request.seed,
            ruin_drawdown=request.ruin,
        )
        return [one(result, monte_carlo=monte_carlo(result, mc_params))]
    return [one(result)]


def compute(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> BacktestOutcome:
    """(On the worker) the request checked, its data read at one position, the engine run.
    ``progress`` hears ``("backtest", done, total)`` from the engine (on this thread)."""
    state = service.state()
    request = parse_request(cmd, state)
    strategies = [
        strategy_at_version(service, state, cmd, *versioned(name, request.version))
        for name in request.strategies
    ]
    position, stored = data_position(service, request.at)
    needed = max(bars_needed(s) for _, s in strategies)
    window = read_window(
        stored,
        request.symbols,
        start=request.start,
        end=request.end,
        position=position,
        needed=needed,
        strategy=", ".join(found.key for found, _ in strategies),
    )
    report = None if progress is None else (lambda done, total: progress("backtest", done, total))
    try:
        runs = _engine(request, strategies, window, report)
    except BacktestError as exc:
        raise reject(str(exc)) from None
    return BacktestOutcome(request=request, window=window, runs=runs)


async def gather_backtest(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/backtest``: the outcome for the handler, which records and shows it."""
    outcome = await service.call(compute, service, cmd, progress)
    return msgspec.structs.replace(cmd, context={"backtest": outcome})


def past_runs(
    service: CommandService, guild_id: int | None, strategy: str | None
) -> tuple[int, list[tuple[int, BacktestCompleted]]]:
    """(On the worker) how many backtests the guild ran (of ``strategy`` when given) and the
    newest ``BACKTESTS_LISTED``, from the ``backtests`` projection (one bounded query)."""
    _, analytics = _analytics(service)
    with analytics.cursor() as cur:
        return recent_backtests(cur, guild_id, strategy=strategy, limit=BACKTESTS_LISTED)


async def gather_backtests(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/backtests``: the count and the newest past runs for the handler."""
    strategy = cmd.options.get("strategy")
    found = await service.call(past_runs, service, cmd.inv.guild_id, strategy)
    return msgspec.structs.replace(cmd, context={"backtests": found})


GATHERS: dict[str, Gather] = {"backtest": gather_backtest, "backtests": gather_backtests}
READS_ANALYTICS = frozenset({"backtest", "backtests"})
"""This room's commands that read the analytics (caught up with the journal first)."""
