"""A backtest's options, checked: what ``/backtest`` (and ``ibpicker backtest``) asked for.

Pure: the option values the value gate passed (``commands.core.spec``) and the state become a
``BacktestRequest``, or a ``CommandRejectedError`` naming what is wrong and what would be valid,
before any data is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from analysis.backtest import EARNINGS_LEAD_DAYS, Direction
from commands.core import text as tx
from commands.core.handler import Command, State, reject, symbols_or, watched

Mode = Literal["run", "walk-forward", "monte-carlo", "compare"]
MODES: tuple[Mode, ...] = ("run", "walk-forward", "monte-carlo", "compare")

DEFAULT_CAPITAL = 100_000.0
_AT_VERSION = re.compile(r"(.+)@([0-9]+)")
CHAT_SYMBOL_LIMIT = 25
"""Symbols one ``/backtest`` may run over in a chat: Discord keeps a deferred reply open for 15
minutes, and a member waits far less; the command line has no limit."""
MAX_COMPARED = 6
"""Strategies one ``compare`` runs side by side (an embed shows six columns of figures well)."""
DEFAULT_RESAMPLES = 1_000
DEFAULT_IN_SAMPLE = 126
DEFAULT_OUT_OF_SAMPLE = 63
DEFAULT_RUIN = 0.5
"""Monte Carlo's ruin: a drawdown of half the peak equity."""


@dataclass(frozen=True)
class BacktestRequest:
    """A checked backtest request; ``start``/``end`` ``None`` take the defaults from the data."""

    mode: Mode
    strategies: tuple[str, ...]
    """Strategy names as given (one, or several for ``compare``; ``key@N``: version N of a
    server's own); the library resolves them."""
    symbols: tuple[str, ...]
    start: date | None
    end: date | None
    capital: float
    commission: float
    slippage_bps: float
    at: int | None
    """The journal position of the data to read (``None``: what the analytics hold now)."""
    export: str | None
    version: int | None = None
    """A server's version of its strategy (``None``: the latest)."""
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    method: str = "shuffle"
    in_sample: int = DEFAULT_IN_SAMPLE
    out_of_sample: int = DEFAULT_OUT_OF_SAMPLE
    skip_earnings_within: int | None = None
    """No entry when an earnings date known at the signal's close is within that many days
    (``None`` or 0: earnings ignored)."""
    earnings_lead: int = EARNINGS_LEAD_DAYS
    """Days before an earnings date learned later from which it counts as known
    (``analysis.backtest.EARNINGS_LEAD_DAYS`` says why the default)."""
    direction: Direction = "long"
    """Trade the strategy's entries long (the format's own side) or as shorts, levels mirrored."""
    risk_free_rate: float = 0.0
    """Annual risk-free rate for Sharpe and Sortino (0.04 = 4 %)."""
    ruin: float = DEFAULT_RUIN
    """monte-carlo: the drawdown from a peak that counts as ruin (0.5 = 50 %)."""
    fraction: float | None = None
    """Size each entry at this fraction of equity (``None``: the strategy's risk per trade down
    to its stop)."""
    max_positions: int | None = None
    """Open positions at most (``None``: the strategy's own)."""

    def settings(self) -> dict[str, str]:
        """The settings besides the common parameters, as text (what ``backtest_completed``
        records and the repeat line gives): the mode's own, then each optional one only when it
        differs from its default, so a run that does not use one records what it did before."""
        own: dict[str, str] = {}
        if self.mode == "monte-carlo":
            own = {"method": self.method, "resamples": str(self.resamples), "seed": str(self.seed)}
            if self.ruin != DEFAULT_RUIN:
                own["ruin"] = f"{self.ruin:g}"
        elif self.mode == "walk-forward":
            own = {"in_sample": str(self.in_sample), "out_of_sample": str(self.out_of_sample)}
        if self.direction != "long":
            own["direction"] = self.direction
        if self.fraction is not None:
            own["fraction"] = f"{self.fraction:g}"
        if self.max_positions is not None:
            own["max_positions"] = str(self.max_positions)
        if self.risk_free_rate:
            own["risk_free_rate"] = f"{self.risk_free_rate:g}"
        if self.skip_earnings_within:
            own["skip_earnings_within"] = str(self.skip_earnings_within)
            own["earnings_lead"] = str(self.earnings_lead)
        return own


def versioned(name: str, version: int | None) -> tuple[str, int | None]:
    """A strategy name and the server's version it names: ``mine@2`` is version 2 of ``mine``
    (so ``compare`` can set versions side by side), else ``version``."""
    found = _AT_VERSION.fullmatch(name.strip())
    if found is None:
        return name, version
    return found[1], int(found[2])


def parse_day(name: str, value: object) -> date | None:
    """A ``YYYY-MM-DD`` option, or ``None`` when not given."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise reject(
            f"{name} must be a date as YYYY-MM-DD, e.g. 2025-01-02 (got {tx.escape(text)})."
        ) from None


def _number(options: dict[str, Any], name: str, default: float) -> float:
    value = options.get(name)
    return default if value is None else float(Decimal(value))


def parse_request(cmd: Command, state: State) -> BacktestRequest:
    """The request ``cmd`` makes, checked against ``state`` (see the module docstring)."""
    o = cmd.options
    mode: Mode = o.get("mode") or "run"
    names = tx.split_list(str(o["strategy"]))
    if not names:
        raise reject("Give a strategy, e.g. strategy:macd_volume_thrust (/strategies lists them).")
    if mode != "compare" and len(names) > 1:
        raise reject(
            f"One strategy at a time for mode {mode} (got {len(names)}); "
            "mode:compare runs several side by side."
        )
    if len(names) > MAX_COMPARED:
        raise reject(f"At most {MAX_COMPARED} strategies in one compare (got {len(names)}).")
    given: dict[str, str] = {}
    for name in names:  # the same strategy twice runs once; a file's path keeps its case
        given.setdefault(name.lower(), name)
    keys = tuple(given.values())
    capital = _number(o, "capital", DEFAULT_CAPITAL)
    if capital <= 0:
        raise reject(f"capital must be more than 0 (got {capital:g}).")
    start, end = parse_day("from", o.get("from")), parse_day("to", o.get("to"))
    if start is not None and end is not None and start > end:
        raise reject(f"from ({start}) is after to ({end}): the range is empty.")
    symbols = symbols_or(
        cmd,
        state,
        watched,
        refusal="Give symbols, or add some to the watchlist first (/watchlist add).",
    )
    if state.symbol_limit is not None and len(symbols) > CHAT_SYMBOL_LIMIT:
        raise reject(
            f"At most {CHAT_SYMBOL_LIMIT} symbols in one /backtest here (got {len(symbols)}): "
            "a chat reply must come within Discord's time. For more, use the command line: "
            f"ibpicker backtest {mode} --strategy {keys[0]} --symbols {','.join(symbols[:3])},…"
        )
    return BacktestRequest(
        mode=mode,
        strategies=keys,
        symbols=tuple(symbols),
        start=start,
        end=end,
        capital=capital,
        commission=_number(o, "commission", 0.0),
        slippage_bps=_number(o, "slippage_bps", 0.0),
        at=o.get("at"),
        export=o.get("export"),
        version=o.get("version"),
        resamples=o.get("resamples") or DEFAULT_RESAMPLES,
        seed=o.get("seed") or 0,
        method=o.get("method") or "shuffle",
        in_sample=o.get("in_sample") or DEFAULT_IN_SAMPLE,
        out_of_sample=o.get("out_of_sample") or DEFAULT_OUT_OF_SAMPLE,
        skip_earnings_within=o.get("skip_earnings_within") or None,
        earnings_lead=EARNINGS_LEAD_DAYS if o.get("earnings_lead") is None else o["earnings_lead"],
        direction=o.get("direction") or "long",
        risk_free_rate=_number(o, "risk_free_rate", 0.0),
        ruin=_number(o, "ruin", DEFAULT_RUIN),
        fraction=None if o.get("fraction") is None else _number(o, "fraction", 0.0),
        max_positions=o.get("max_positions"),
    )
