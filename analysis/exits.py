"""Exit levels and position size of a long entry: take profit, stop loss and trailing distance
from a strategy's exit rules (percentage, ATR multiple, fixed price, trailing stop), and whole
shares risking a fraction of equity down to the stop, capped by buying power.

Used by ``analysis.evaluator`` for each pick; the ATR values come from there (the strategy's ATR,
else ATR(14), which the pick's notes then say).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from analysis.strategy import (
    DEFAULT_EXIT_ATR_PERIOD,
    ExitRule,
    Strategy,
)


def exit_atr_requirement(strategy: Strategy) -> int:
    """The bars the ATRs of ATR-multiple exits need (the default ATR(14) when none declared)."""
    needed = 0
    for rule in exit_rules(strategy):
        if rule.type == "atr_multiple":
            spec = strategy.exit_atr(rule)
            needed = max(needed, spec.bars_needed() if spec else DEFAULT_EXIT_ATR_PERIOD + 1)
    return needed


def exit_rules(strategy: Strategy) -> list[ExitRule]:
    exit_ = strategy.spec.exit
    return [r for r in (exit_.take_profit, exit_.stop_loss, exit_.trailing_stop) if r is not None]


def default_atr_label() -> str:
    return f"ATR({DEFAULT_EXIT_ATR_PERIOD})"


class ExitLevels:
    """Take profit, stop loss and trailing distance for a long entry."""

    def __init__(
        self, strategy: Strategy, entry: float, atr: Mapping[str, float], notes: list[str]
    ) -> None:
        self.strategy = strategy
        self.entry = entry
        self.atr = atr
        self.notes = notes
        exit_ = strategy.spec.exit
        self.take_profit = self._level(exit_.take_profit, +1)
        self.stop_loss = self._level(exit_.stop_loss, -1)
        self.trailing_pct = self._trailing(exit_.trailing_stop)
        if (
            self.trailing_pct is None
            and exit_.stop_loss is not None
            and exit_.stop_loss.type == "trailing_stop"
        ):
            self.trailing_pct = exit_.stop_loss.value

    def _atr_distance(self, rule: ExitRule) -> float:
        spec = self.strategy.exit_atr(rule)
        key = spec.name if spec else default_atr_label()
        if spec is None:
            note = f"no ATR indicator in the strategy: exits use {key}"
            if note not in self.notes:
                self.notes.append(note)
        return rule.atr_multiple() * self.atr[key]

    def _level(self, rule: ExitRule | None, side: int) -> float | None:
        if rule is None:
            return None
        if rule.type == "fixed_price":
            assert rule.value is not None
            return rule.value
        if rule.type == "atr_multiple":
            return self.entry + side * self._atr_distance(rule)
        assert rule.value is not None  # percentage or trailing_stop
        return self.entry * (1 + side * rule.value / 100)

    def _trailing(self, rule: ExitRule | None) -> float | None:
        if rule is None:
            return None
        if rule.type == "atr_multiple":
            return self._atr_distance(rule) / self.entry * 100
        return rule.value

    def problem(self) -> str | None:
        """Why these levels cannot be traded, if so."""
        if self.stop_loss is not None and not 0 < self.stop_loss < self.entry:
            return f"stop loss {self.stop_loss:.6g} is not between 0 and entry {self.entry:.6g}"
        if self.take_profit is not None and not self.take_profit > self.entry:
            return f"take profit {self.take_profit:.6g} is not above entry {self.entry:.6g}"
        return None

    def risk_reward(self) -> float | None:
        """Reward per unit of risk, when both levels are set."""
        if self.take_profit is None or self.stop_loss is None:
            return None
        return (self.take_profit - self.entry) / (self.entry - self.stop_loss)


def position_size(
    entry: float,
    stop_loss: float | None,
    risk_pct: float,
    account_equity: float,
    notes: list[str],
) -> float | None:
    """Whole shares risking ``risk_pct`` of equity down to the stop, capped by buying power."""
    if stop_loss is None:
        notes.append("no stop loss: position size not computed")
        return None
    by_risk = math.floor(account_equity * risk_pct / 100 / (entry - stop_loss))
    affordable = math.floor(account_equity / entry)
    if by_risk > affordable:
        notes.append(f"size capped at {affordable} shares by account equity {account_equity:,.0f}")
    return float(min(by_risk, affordable))
