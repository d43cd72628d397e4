"""Nothing typed at the console poisons the journal (issue 10, Hypothesis).

Random command lines, option values and byte strings go through the console's parser
(``ConsoleSession.run_line``) into the command service over a real journal and real DuckDB
analytics (fake market data and clock). Invariants, for every input:

- the line ends with exit status 0, 1 or 2, never with an exception, a traceback or "Something
  went wrong" (the service logs no error);
- a numeric option's value is either refused with a message naming the option, or accepted;
- after the whole run, ``journal verify`` is sound (every projection equals a fresh rebuild of the
  journal) and ``journal rebuild`` builds every projection again.

Hypothesis prints the failing example and a ``@reproduce_failure`` blob to replay it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from analysis.strategy import load_strategy
from commands.console.console import LOCAL_GUILD, ConsoleSession, Printer
from commands.core.service import CommandService
from commands.core.spec import COMMANDS
from commands.wiring import close_service, open_service
from projections.registry import all_analytics_projections
from projections.verify import verify
from projections.workspace import Workspace, analytics_path, journal_path
from tests.support.backtest_data import append, sample_events, strategy_added
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeAnalyzer, FakeCalendar, FakeFetcher

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
FUZZ_EXAMPLES = 1000
NUMERIC_EXAMPLES = 400

EXTREMES = [
    "0", "-0", "0.0", "1e-8", "1e-9", "0.00000001", "0.000000001", "1E-999999999",
    "1E+999999999", "-1E+999999999", "100.000000000000000000000000001", "10000000000",
    "10000000000.00000001", "9999999999.99999999", "1e10", "1e11", "-1", "-1e-8",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "99999999999999999999999", "-99999999999999999999", "10000000000", "36500", "36501", "365",
    "366", "nan", "NaN", "-nan", "sNaN", "inf", "-Infinity", "", " ", "1,5", "1,000", "1,000.5",
    "$5", "$", "0x10", "1_000", "١٢٣", "１２", "1e", "--1", "+1", "1.", ".5", "1e+", "5%",
    "<#123>", "<@!42>", "<@&>", "1" * 70, "9" * 5000,
]  # fmt: skip
"""Numbers at and beyond every bound the gate knows, and malformed ones."""
REPRODUCTIONS = [
    "1e-999999999", "100.000000000000000000000000001", "10000000000", "99999999999999999999999",
    "-99999999999999999999",
]  # fmt: skip
"""The values of issue 10's reproductions 1, 2 and 6, drawn more often than the other extremes."""

NUMERIC_TYPES = ("float", "int", "user", "channel")
NUMERIC_OPTIONS = [
    (spec.name, opt.name) for spec in COMMANDS for opt in spec.options if opt.type in NUMERIC_TYPES
]
"""Every numeric option of every command: (command, option)."""

OPEN_BASE = {"symbol": "AAPL", "direction": "long", "entry": "100", "size": "1"}
BACKTEST_BASE = {"strategy": "bt", "symbols": "AAPL", "export": "json", "from": "2026-06-01"}
BACKTEST_TEXT = load_strategy("macd_volume_thrust").text


def _number_text() -> st.SearchStrategy[str]:
    """The issue's values and other extremes (more than half the time), and numbers Hypothesis
    draws: decimals of any exponent, floats as Python prints them, integers of any size, and
    arbitrary text."""
    extremes = st.sampled_from(EXTREMES)
    reproductions = st.sampled_from(REPRODUCTIONS)
    return st.one_of(
        reproductions,
        reproductions,
        extremes,
        extremes,
        extremes,
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.floats().map(repr),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.text(max_size=30),
    )


def _option_value() -> st.SearchStrategy[str]:
    return st.one_of(
        _number_text(),
        st.sampled_from(["AAPL", "long", "short", "rsi_flow", "09:30", "true", "all", "x y"]),
        st.text(),
    )


def _token(name: str, value: str, quote: bool) -> str:
    return f"{name}:{shlex.quote(value) if quote else value}"


TRADE = "@trade"
"""Stands for the id of the last trade a line opened (replaced when the line runs)."""
VALID: dict[str, dict[str, str]] = {
    "help": {"command": "trade open"},
    "fetch stocks": {"symbols": "AAPL"},
    "fetch flows": {"symbols": "AAPL", "min_premium": "1000"},
    "status": {"symbols": "AAPL"},
    "watchlist add": {"symbol": "AAPL", "note": "core", "tags": "tech"},
    "watchlist remove": {"symbol": "AAPL"},
    "analyze": {"strategy": "rsi_flow", "symbols": "AAPL", "skip_earnings_within": "3"},
    "signals": {"symbol": "AAPL", "days": "7"},
    "strategy show": {"name": "rsi_flow"},
    "trade open": {
        "symbol": "AAPL", "direction": "long", "entry": "100", "size": "1", "stop": "90",
        "target": "120", "note": "n", "tags": "swing",
    },
    "trade close": {"id": TRADE, "exit": "110", "reason": "target"},
    "trade note": {"id": TRADE, "text": "held"},
    "trades": {"symbol": "AAPL", "status": "all"},
    "metrics": {"days": "30", "member": "1"},
    "schedule set": {
        "channel": "123", "time": "09:30", "strategy": "rsi_flow", "enabled": "true",
        "skip_earnings_within": "2",
    },
}  # fmt: skip
"""Options that make each command succeed: a line starts from them and perturbs some, so random
values reach the handlers and the projections, not only the parser."""
WEIGHTED = [*COMMANDS, *[c for c in COMMANDS if c.name.startswith("trade ")] * 5]
"""Commands to draw from, the trade journal's five times over: its values reach the DuckDB
projections' exact decimals."""


@st.composite
def command_lines(draw: st.DrawFn) -> str:
    """A console line: a known command whose valid options are kept (an optional one now and
    then dropped) but for one or two that get random values (sometimes plus an unknown option),
    or random text, or random bytes decoded as the console decodes stdin."""
    kind = draw(st.sampled_from(["command"] * 6 + ["text", "bytes"]))
    if kind == "text":
        return draw(st.text(max_size=80))
    if kind == "bytes":
        return draw(st.binary(max_size=80)).decode("utf-8", "surrogateescape")
    spec = draw(st.sampled_from(WEIGHTED))
    valid = VALID.get(spec.name, {})
    names = [o.name for o in spec.options]
    # One or two options get random values and the rest stay valid, so that a random value
    # usually meets a command that would succeed and reaches the projections.
    changed = draw(st.lists(st.sampled_from(names), max_size=2, unique=True)) if names else []
    tokens = []
    for opt in spec.options:
        if opt.name in changed:
            numeric = opt.type in NUMERIC_TYPES
            value = draw(_number_text() if numeric else _option_value())
        elif opt.name in valid and (opt.required or draw(st.integers(0, 9)) > 0):
            value = valid[opt.name]
        else:
            continue
        tokens.append(_token(opt.name, value, draw(st.booleans())))
    if draw(st.integers(0, 19)) == 0:
        tokens.append(_token(draw(st.sampled_from(["bogus", "x" * 60])), "1", False))
    return " ".join([f"/{spec.name}", *tokens])


class ErrorRecords(logging.Handler):
    """Keeps every ERROR record: an unexpected exception in the service logs one."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def _service(data_dir: Path) -> CommandService:
    return open_service(
        data_dir, fetcher=FakeFetcher(), analyzer=FakeAnalyzer(), clock=FakeClock(T0),
        calendar=FakeCalendar(),
    )  # fmt: skip


def _session(service: CommandService, data_dir: Path) -> tuple[ConsoleSession, Console]:
    out = Console(record=True, width=200, file=io.StringIO())
    return ConsoleSession(service, Printer(out, data_dir / "console")), out


def _assert_sound_and_rebuildable(service: CommandService, data_dir: Path) -> None:
    """After the run: verify is sound with every projection equal to a rebuild, and a rebuild
    of every projection succeeds and verifies sound again."""
    close_service(service)
    for _ in range(2):
        report = verify(
            journal_path(data_dir), analytics_path(data_dir), all_analytics_projections()
        )
        assert report.sound, report.problems
        assert report.projections, "every projection was compared"
        assert all(c.outcome == "ok" for c in report.projections), report.projections
        with Workspace.open(data_dir, analytics=False, catch_up=False) as ws:
            assert ws.rebuild().swapped


def test_random_console_lines_never_poison_the_journal(
    tmp_path: Path, errors: ErrorRecords
) -> None:
    """1,000 random lines (known commands with random options and values, random text, random
    bytes): each ends with status 0, 1 or 2 and no traceback or "Something went wrong"; the
    journal then verifies sound and every projection rebuilds equal."""
    service = _service(tmp_path)
    session, out = _session(service, tmp_path)
    loop = asyncio.new_event_loop()
    seen = {"lines": 0}
    trades = ["NOPE1"]

    @settings(
        max_examples=FUZZ_EXAMPLES, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(line=command_lines())
    def run(line: str) -> None:
        session.status = 0
        line = line.replace(TRADE, trades[-1])
        reply = loop.run_until_complete(session.run_line(line))
        if reply is not None and reply.ok and reply.title.endswith(" opened"):
            trades.append(reply.title.split()[1])
        seen["lines"] += 1
        assert session.exit_code in (0, 1, 2)
        text = out.export_text(clear=True)
        assert "Traceback" not in text, (line, text)
        assert "Something went wrong" not in text, (line, text)
        assert not errors.records, (line, [r.getMessage() for r in errors.records])

    try:
        run()
    finally:
        loop.close()
    assert seen["lines"] >= FUZZ_EXAMPLES
    assert len(trades) > 10, "lines opened trades, so random values reached the projections"
    _assert_sound_and_rebuildable(service, tmp_path)


@st.composite
def numeric_cases(draw: st.DrawFn) -> tuple[str, str, str]:
    """(command, numeric option, value as typed)."""
    command, option = draw(st.sampled_from(NUMERIC_OPTIONS))
    return command, option, draw(_number_text())


def test_every_numeric_option_refuses_clearly_or_loads_everywhere(
    tmp_path: Path, errors: ErrorRecords
) -> None:
    """Every numeric option (entry, size, stop, target, exit, min_premium, days,
    skip_earnings_within, channel, member) fed extremes and malformed values through the
    console: either refused with a message naming the option (nothing but the audit appended),
    or accepted; and whatever was accepted, every projection loads and rebuilds equal."""
    service = _service(tmp_path)
    session, out = _session(service, tmp_path)
    loop = asyncio.new_event_loop()
    outcomes = {"accepted": 0, "refused": 0}
    # /backtest's numbers need a strategy it can run and bars to run it on (the server's own).
    ready = [*sample_events(["AAPL"]), strategy_added(LOCAL_GUILD, "bt", BACKTEST_TEXT)]
    loop.run_until_complete(append(service, ready, "backtest-data", LOCAL_GUILD))

    def line(command: str, options: dict[str, str]) -> str:
        return " ".join([f"/{command}", *(_token(k, v, True) for k, v in options.items())])

    @settings(
        max_examples=NUMERIC_EXAMPLES, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )  # fmt: skip
    @given(case=numeric_cases())
    def run(case: tuple[str, str, str]) -> None:
        command, option, value = case
        options: dict[str, str] = {}
        if command == "trade open":
            options = dict(OPEN_BASE)
            if option == "stop":
                options["entry"] = "10000000000"  # any positive stop is below it
        if command == "trade close":
            opened = loop.run_until_complete(session.run_line(line("trade open", OPEN_BASE)))
            assert opened is not None
            assert opened.ok
            options = {"id": opened.title.split()[1]}
        if command == "analyze":
            options = {"strategy": "rsi_flow", "symbols": "AAPL"}
        if command == "fetch flows":
            options = {"symbols": "AAPL"}
        if command == "schedule set":
            options = {"strategy": "rsi_flow"}
        if command == "strategy show":
            options = {"name": "bt"}  # a server's own, so its version option means something
        if command in ("backtest", "backtests"):
            options = dict(BACKTEST_BASE)
        options[option] = value
        head = service.journal.head()
        reply = loop.run_until_complete(session.run_line(line(command, options)))
        out.export_text(clear=True)
        assert not errors.records, (case, [r.getMessage() for r in errors.records])
        if reply is None:  # the line did not parse: a value shlex cannot carry (none so far)
            return
        if reply.ok:
            outcomes["accepted"] += 1
            return
        outcomes["refused"] += 1
        assert option in reply.description, (case, reply.description)
        assert "Something went wrong" not in reply.description
        assert service.journal.head() == head + 1, "a refusal appends only its audit event"

    try:
        run()
    finally:
        loop.close()
    assert outcomes["accepted"] > 0
    assert outcomes["refused"] > 0
    _assert_sound_and_rebuildable(service, tmp_path)
