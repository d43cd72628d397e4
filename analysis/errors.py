"""The analysis area's exceptions: one root, translated once at the edge (CLI, cogs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AnalysisError(Exception):
    """Root of every error raised by ``analysis``."""


@dataclass(frozen=True)
class StrategyProblem:
    """One problem in a strategy file: where (field path, or YAML line) and what."""

    field: str
    problem: str


class StrategyError(AnalysisError):
    """A strategy file that cannot be used; names the file, each field path and each problem."""

    def __init__(self, source: str, problems: Sequence[StrategyProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [
            f"{source}: {p.field}: {p.problem}" if p.field else f"{source}: {p.problem}"
            for p in self.problems
        ]
        super().__init__("\n".join(lines))
