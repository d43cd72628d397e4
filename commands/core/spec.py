"""The one registry of commands: names, options and help. ``/help``, the console's parser and the
Discord cogs are all generated from ``COMMANDS``.

Option values arrive typed from Discord and as text from the console or a form; ``coerce_options``
is the one gate both front ends pass (``commands.core.values``): it turns either into the types the
handlers expect, within each option's bounds (numbers of type ``float`` become exact ``Decimal``s
with at most 8 places: Discord sends JSON numbers, and ``repr`` of a float is the shortest text
that round-trips, which is what the member typed; integers within ``low``/``high``; text cleaned
and at most ``max_length`` characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import msgspec

from commands.core.values import (
    MAX_DAYS,
    MAX_EARNINGS_DAYS,
    MAX_NAME,
    MAX_SNOWFLAKE,
    MAX_TEXT,
    OptionError,
    clean_text,
    decimal_value,
    int_value,
    shown,
    text_value,
    upload_value,
)

OptionType = Literal["str", "int", "float", "bool", "user", "channel", "attachment"]
"""``attachment``: a file (Discord: an attachment, read by the front end; the console: a path),
handed to the handler as a ``commands.core.models.Upload``."""


class OptionSpec(msgspec.Struct, frozen=True):
    """One option of a command."""

    name: str
    description: str
    type: OptionType
    required: bool = False
    choices: list[str] = []
    autocomplete: str | None = None
    """``symbol``, ``strategy`` or ``open_trade``: what ``CommandService.autocomplete`` offers."""
    low: int | None = None
    """The smallest value of a number (``None``: an ``int`` takes 1 as ids do; a ``float`` any
    value down to ``-MAX_AMOUNT``)."""
    high: int | None = None
    """The largest value of a number (``None``: ``MAX_SNOWFLAKE`` for an ``int``, ``MAX_AMOUNT``
    for a ``float``)."""
    max_length: int = MAX_TEXT
    """The most characters a text option takes."""


class CommandSpec(msgspec.Struct, frozen=True):
    """One command: a space-separated path (``trade open``), its help and its options."""

    name: str
    description: str
    options: list[OptionSpec] = []
    admin_only: bool = False
    slow: bool = False
    """Slow commands (network, scans, charts) should be deferred by a front end."""
    group: str = "core"


def _o(
    name: str,
    description: str,
    type_: OptionType = "str",
    *,
    required: bool = False,
    choices: list[str] | None = None,
    autocomplete: str | None = None,
    low: int | None = None,
    high: int | None = None,
    max_length: int = MAX_TEXT,
) -> OptionSpec:
    return OptionSpec(
        name, description, type_, required, choices or [], autocomplete, low, high, max_length
    )


_SYMBOLS = "Comma-separated tickers, e.g. AAPL,MSFT"
_FETCH_DEFAULT = " (default: the watchlist and all stored)"
_REQUIRED_ID: dict[str, Any] = {"required": True, "max_length": MAX_NAME}
_SKIP_EARNINGS = "Skip stocks with earnings within N days (0: skip none)"
_SKIP_EARNINGS_BT = "No entry with earnings known within N days (0: none)"
_DAY_TEXT = 10
_MODES = ["run", "walk-forward", "monte-carlo", "compare"]
_RESAMPLING = ["shuffle", "bootstrap", "drop"]
_SIDES = ["long", "short"]

COMMANDS: list[CommandSpec] = [
    CommandSpec("ping", "Check that the bot answers, and how fast."),
    CommandSpec(
        "help",
        "List the commands, or show one.",
        [_o("command", "A command, e.g. trade open", max_length=MAX_NAME)],
    ),
    CommandSpec("about", "Version, data sources, features that are off, and the journal head."),
    CommandSpec(
        "fetch stocks",
        "Fetch daily price bars and next earnings dates for symbols.",
        [_o("symbols", _SYMBOLS + _FETCH_DEFAULT, autocomplete="symbol")],
        slow=True,
        group="data",
    ),
    CommandSpec(
        "fetch flows",
        "Fetch options-flow alerts for symbols.",
        [
            _o("symbols", _SYMBOLS + _FETCH_DEFAULT, autocomplete="symbol"),
            _o("min_premium", "Smallest total premium in USD", "float", low=0),
        ],
        slow=True,
        group="data",
    ),
    CommandSpec(
        "status",
        "Data coverage per symbol: bars from-to, last fetch, last flow alert.",
        [_o("symbols", _SYMBOLS + " (default: watchlist and known symbols)")],
        group="data",
    ),
    CommandSpec("watchlist list", "Show this server's watchlist.", group="data"),
    CommandSpec(
        "watchlist add",
        "Add symbols to this server's watchlist.",
        [
            _o("symbols", _SYMBOLS, autocomplete="symbol"),
            _o("symbol", "One ticker, e.g. AAPL", autocomplete="symbol", max_length=MAX_NAME),
            _o("note", "Why it is watched"),
            _o("tags", "Comma-separated tags"),
        ],
        group="data",
    ),
    CommandSpec(
        "watchlist remove",
        "Remove a symbol from this server's watchlist.",
        [_o("symbol", "Ticker", required=True, autocomplete="symbol", max_length=MAX_NAME)],
        group="data",
    ),
    CommandSpec("watchlist clear", "Empty this server's watchlist.", admin_only=True, group="data"),
    CommandSpec(
        "analyze",
        "Run a strategy over symbols (the watchlist when omitted) and show entry signals.",
        [
            _o(
                "strategy",
                "Strategy name",
                required=True,
                autocomplete="strategy",
                max_length=MAX_NAME,
            ),
            _o("symbols", _SYMBOLS + " (default: the watchlist)", autocomplete="symbol"),
            _o("skip_earnings_within", _SKIP_EARNINGS, "int", low=0, high=MAX_EARNINGS_DAYS),
        ],
        slow=True,
        group="analysis",
    ),
    CommandSpec(
        "signals",
        "Recent picks of this server's scans.",
        [
            _o("symbol", "Only this ticker", autocomplete="symbol", max_length=MAX_NAME),
            _o("days", "How many days back (default 7)", "int", high=MAX_DAYS),
        ],
        group="analysis",
    ),
    CommandSpec(
        "strategies", "List the strategies: shipped ones and this server's own.", group="analysis"
    ),
    CommandSpec(
        "strategy show",
        "Show one strategy: indicators, entry, exit and risk (any version of this server's).",
        [
            _o(
                "name", "Strategy name", required=True, autocomplete="strategy", max_length=MAX_NAME
            ),
            _o("version", "This server's version number (default: the latest)", "int"),
        ],
        group="analysis",
    ),
    CommandSpec(
        "strategy add",
        "Add a strategy file (YAML) to this server, or a new version of one of its strategies.",
        [
            _o("file", "The strategy's YAML file (at most 64 KiB)", "attachment", required=True),
            _o("name", "Its name (default: the file's name without .yaml)", max_length=MAX_NAME),
            _o("replace", "Use yours in place of the shipped strategy of that name", "bool"),
        ],
        slow=True,
        group="analysis",
    ),
    CommandSpec(
        "strategy remove",
        "Remove one of this server's strategies (past scans keep naming their version).",
        [_o("name", "Strategy name", required=True, autocomplete="strategy", max_length=MAX_NAME)],
        admin_only=True,
        group="analysis",
    ),
    CommandSpec(
        "strategy settings",
        "Who may add strategies to this server: Manage Server only (default), or everyone.",
        [_o("open_add", "Let every member add strategies", "bool", required=True)],
        admin_only=True,
        group="analysis",
    ),
    CommandSpec(
        "strategy draft",
        "Draft a strategy from a description in plain English, with Claude.",
        [
            _o(
                "description",
                "When to enter and exit, e.g. buy when RSI(2) < 10 above the 200-day SMA",
                required=True,
            )
        ],
        slow=True,
        group="analysis",
    ),
    CommandSpec(
        "strategy save",
        "Save a draft to this server's strategies (the draft's Save button).",
        [
            _o("draft", "The draft's id (its Save button gives it)", **_REQUIRED_ID),
            _o("name", "Its name (default: from the draft's title)", max_length=MAX_NAME),
            _o("replace", "Use yours in place of the shipped strategy of that name", "bool"),
        ],
        group="analysis",
    ),
    CommandSpec(
        "strategy try",
        "Scan the watchlist with a draft before saving it (the draft's Try it button).",
        [
            _o("draft", "The draft's id (its Try it button gives it)", **_REQUIRED_ID),
            _o("symbols", _SYMBOLS + " (default: the watchlist)", autocomplete="symbol"),
        ],
        slow=True,
        group="analysis",
    ),
    CommandSpec(
        "backtest",
        "How a strategy would have done on the stored bars and flow: figures, equity chart.",
        [
            _o(
                "strategy",
                "Strategy name, or draft:ID of a draft (compare: several, comma-separated)",
                required=True,
                autocomplete="strategy",
                max_length=MAX_TEXT,
            ),
            _o("symbols", _SYMBOLS + " (default: the watchlist)", autocomplete="symbol"),
            _o(
                "from",
                "First session, YYYY-MM-DD (default: a year before the last)",
                max_length=_DAY_TEXT,
            ),
            _o(
                "to",
                "Last session, YYYY-MM-DD (default: the last stored bar)",
                max_length=_DAY_TEXT,
            ),
            _o("capital", "Starting capital (default 100000)", "float"),
            _o("commission", "Commission per trade side (default 0)", "float", low=0),
            _o("slippage_bps", "Slippage in basis points (default 0)", "float", low=0, high=1000),
            _o("mode", "run (default), walk-forward, monte-carlo or compare", choices=_MODES),
            _o("at", "Journal position of the data (repeat a run from /backtests)", "int"),
            _o("direction", "long (default), or short: the entries as shorts", choices=_SIDES),
            _o(
                "fraction",
                "Size entries at this fraction of equity (default: the risk)",
                "float",
                low=0,
                high=1,
            ),
            _o(
                "max_positions",
                "Open positions at most (default: the strategy's)",
                "int",
                low=1,
                high=1000,
            ),
            _o(
                "risk_free_rate",
                "Annual risk-free rate for Sharpe/Sortino, 0.04 = 4% (default 0)",
                "float",
                low=0,
                high=1,
            ),
            _o("skip_earnings_within", _SKIP_EARNINGS_BT, "int", low=0, high=MAX_EARNINGS_DAYS),
            _o(
                "earnings_lead",
                "Days before an earnings date it counts as known when fetched later (default 7)",
                "int",
                low=0,
                high=MAX_EARNINGS_DAYS,
            ),
            _o("version", "This server's version of its strategy (default: the latest)", "int"),
            _o("resamples", "monte-carlo: resamples (default 1000)", "int", high=100_000),
            _o("seed", "monte-carlo: random seed (default 0)", "int", low=0, high=2**32 - 1),
            _o("method", "monte-carlo: how trades are resampled", choices=_RESAMPLING),
            _o(
                "ruin",
                "monte-carlo: drawdown counted as ruin, 0.5 = 50% (default)",
                "float",
                low=0,
                high=1,
            ),
            _o("in_sample", "walk-forward: in-sample sessions (default 126)", "int", high=5000),
            _o(
                "out_of_sample",
                "walk-forward: out-of-sample sessions (default 63)",
                "int",
                high=5000,
            ),
            _o(
                "export",
                "Attach the trades as CSV, or the whole result as JSON",
                choices=["csv", "json"],
            ),
        ],
        slow=True,
        group="analysis",
    ),
    CommandSpec(
        "backtests",
        "Past backtests of this server: strategy version, data position, figures.",
        [_o("strategy", "Only this strategy", autocomplete="strategy", max_length=MAX_NAME)],
        group="analysis",
    ),
    CommandSpec(
        "trade open",
        "Open a trade in your trade journal.",
        [
            _o("symbol", "Ticker", required=True, autocomplete="symbol", max_length=MAX_NAME),
            _o("direction", "long or short", required=True, choices=["long", "short"]),
            _o("entry", "Entry price", "float", required=True),
            _o("size", "Shares or contracts", "float", required=True),
            _o("stop", "Stop-loss price", "float"),
            _o("target", "Target price", "float"),
            _o("signal", "The signal it follows (scan id:symbol)", max_length=MAX_NAME),
            _o("tags", "Comma-separated tags"),
            _o("note", "A note"),
            _o("strategy", "The strategy it follows", autocomplete="strategy", max_length=MAX_NAME),
        ],
        group="journal",
    ),
    CommandSpec(
        "trade close",
        "Close one of your open trades at an exit price.",
        [
            _o("id", "Trade id", required=True, autocomplete="open_trade", max_length=MAX_NAME),
            _o("exit", "Exit price", "float", required=True),
            _o("reason", "Why (target, stop, manual…)"),
        ],
        group="journal",
    ),
    CommandSpec(
        "trade note",
        "Add a note to one of your trades.",
        [
            _o("id", "Trade id", required=True, autocomplete="open_trade", max_length=MAX_NAME),
            _o("text", "The note", required=True),
        ],
        group="journal",
    ),
    CommandSpec("trade export", "Your trades as a CSV attachment.", slow=True, group="journal"),
    CommandSpec(
        "trades",
        "Your recent trades.",
        [
            _o("symbol", "Only this ticker", autocomplete="symbol", max_length=MAX_NAME),
            _o("status", "open, closed or all (default all)", choices=["open", "closed", "all"]),
        ],
        group="journal",
    ),
    CommandSpec(
        "metrics",
        "Trading performance with an equity-curve and drawdown chart.",
        [
            _o("days", "How many days back (default: all)", "int", high=MAX_DAYS),
            _o("member", "Whose metrics (default: yours)", "user"),
        ],
        slow=True,
        group="journal",
    ),
    CommandSpec(
        "schedule status",
        "The daily picks: time, channel, strategy, next run, last post.",
        admin_only=True,
        group="admin",
    ),
    CommandSpec(
        "schedule run",
        "Run the daily picks now (posted here).",
        admin_only=True,
        slow=True,
        group="admin",
    ),
    CommandSpec(
        "schedule set",
        "Configure the daily picks.",
        [
            _o("channel", "Where to post", "channel"),
            _o("time", "HH:MM, America/New_York", max_length=MAX_NAME),
            _o("strategy", "Strategy to run", autocomplete="strategy", max_length=MAX_NAME),
            _o("enabled", "Post every trading day", "bool"),
            _o("skip_earnings_within", _SKIP_EARNINGS, "int", low=0, high=MAX_EARNINGS_DAYS),
        ],
        admin_only=True,
        group="admin",
    ),
]

_BY_NAME = {c.name: c for c in COMMANDS}


def find_command(name: str) -> CommandSpec | None:
    """The spec of a command by its space-separated name (case-insensitive)."""
    return _BY_NAME.get(" ".join(name.lower().split()))


def command_names() -> list[str]:
    """Every command name."""
    return [c.name for c in COMMANDS]


_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}


def _coerce(opt: OptionSpec, value: object) -> object:
    t = opt.type
    if t == "str":
        text = text_value(opt.name, value, max_length=opt.max_length)
        if opt.choices and text.lower() not in opt.choices:
            raise OptionError(f"{opt.name} must be one of {', '.join(opt.choices)}")
        return text.lower() if opt.choices else text
    if t == "bool":
        if isinstance(value, bool):
            return value
        text = text_value(opt.name, value, max_length=MAX_NAME).lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise OptionError(f"{opt.name} must be true or false")
    if t == "attachment":
        return upload_value(opt.name, value)
    if t == "float":
        low, high = (None if b is None else Decimal(b) for b in (opt.low, opt.high))
        return decimal_value(opt.name, value, low=low, high=high)
    # int, user, channel: Discord ids and counts are integers
    return int_value(
        opt.name,
        value,
        low=1 if opt.low is None else opt.low,
        high=MAX_SNOWFLAKE if opt.high is None else opt.high,
    )


def coerce_options(spec: CommandSpec, raw: Mapping[str, object]) -> dict[str, object]:
    """Typed option values for ``spec`` from typed or textual values (``None`` = not given).

    Raises ``OptionError`` naming the option for an unknown, missing or ill-typed value.
    """
    known = {o.name: o for o in spec.options}
    unknown = sorted(k for k in raw if k not in known)
    if unknown:
        allowed = ", ".join(known) or "none"
        raise OptionError(f"/{spec.name} has no option {shown(unknown[0])} (options: {allowed})")
    out: dict[str, object] = {}
    for opt in spec.options:
        value = raw.get(opt.name)
        if value is None or (isinstance(value, str) and not clean_text(value)):
            if opt.required:
                raise OptionError(f"/{spec.name} needs {opt.name}: {opt.description}")
            continue
        out[opt.name] = _coerce(opt, value)
    return out


def usage(spec: CommandSpec) -> str:
    """One-line usage, e.g. ``/trade close id: exit: [reason:]``."""
    parts = [f"/{spec.name}"]
    for o in spec.options:
        parts.append(f"{o.name}:" if o.required else f"[{o.name}:]")
    return " ".join(parts)
