"""The handler contract every feature room implements: ``(command, state, clock) -> (events,
reply)``.

A handler never touches Discord, SQLite or the network. What a command needs from outside (fetched
market data, a scan, a strategy's text, a daily run) is gathered first and handed in as
``command.inputs`` / ``command.context``. Bad input raises ``CommandRejectedError`` with a
specific message; the service turns it into an ephemeral ``ok=False`` reply and appends only the
audit event. Also here: the checks several rooms share (symbols, strategies, bounded text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from commands.core import text as tx
from commands.core.errors import CommandRejectedError
from commands.core.models import Invocation, Reply
from commands.core.ports import Clock, MarketView, StrategyInfo, TradingCalendar
from events.base import NewEvent
from events.market import SYMBOL_PATTERN
from projections.guild import GuildBook
from projections.strategy_library import StrategyBook
from projections.trading import TradeBook

MAX_TEXT = 1000


MAX_SYMBOLS = 50


"""Symbols a member may type into one command (Discord, the console). It bounds typed input
only: an omitted ``symbols`` option (the watchlist, every stored symbol) is never refused, and a
front end that is not a chat (the CLI) opens its service without a limit. Fetches of more
symbols than this are asked for in batches of it (``CommandService``), with progress."""


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed command: its name, typed options, who runs it, and what the service gathered."""

    name: str
    options: dict[str, Any]
    inv: Invocation
    inputs: list[NewEvent] = []
    context: dict[str, Any] = {}


class ServiceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/about`` shows."""

    version: str
    sources: list[str]
    features_off: list[str] = []
    drafting_model: str | None = None
    """The model strategy drafting asks (``None``: drafting with Claude is off)."""
    journal_head: int = 0
    projection_faults: list[str] = []
    """Projections stopped at an event they could not apply (``ProjectionFault.message``)."""


@dataclass(frozen=True)
class State:
    """The state a handler reads: projections and read models, never the journal itself."""

    trades: TradeBook
    guilds: GuildBook
    market: MarketView
    strategies: Sequence[StrategyInfo]
    info: ServiceInfo
    calendar: TradingCalendar | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    symbol_limit: int | None = MAX_SYMBOLS
    """How many symbols one command may name (``None``: any number; see ``MAX_SYMBOLS``)."""
    library: StrategyBook = field(default_factory=StrategyBook)
    """Every server's strategy versions (``strategies`` already lists the invoking server's
    current ones; ``commands.strategies.library`` resolves a name to a version)."""


Outcome = tuple[list[NewEvent], Reply]


Handler = Callable[[Command, State, Clock], Outcome]


def reject(message: str) -> CommandRejectedError:
    """A rejection to raise."""
    return CommandRejectedError(message)


def check_symbol(raw: str, state: State, guild_id: int) -> str:
    """A known or well-formed ticker, normalised; rejected otherwise."""
    symbol = tx.normalise_symbol(raw)
    if not symbol:
        raise reject("Give a ticker symbol, e.g. AAPL.")
    known = symbol in state.market.known_symbols() or symbol in state.guilds.watched_symbols(
        guild_id
    )
    if not known and not SYMBOL_PATTERN.fullmatch(symbol):
        raise reject(
            f"Unknown symbol {tx.escape(raw)!s}: not in the watchlist or fetched data, and not a "
            "ticker (a letter, then up to 9 letters, digits, '.' or '-', e.g. AAPL or BRK.B)."
        )
    return symbol


def check_symbols(raw: str | None, state: State, guild_id: int) -> list[str]:
    """A list of checked symbols from comma/space-separated text, at most
    ``state.symbol_limit`` of them."""
    items = tx.split_list(raw)
    limit = state.symbol_limit
    if limit is not None and len(items) > limit:
        raise reject(f"At most {limit} symbols at once (got {len(items)}).")
    out: list[str] = []
    for item in items:
        symbol = check_symbol(item, state, guild_id)
        if symbol not in out:
            out.append(symbol)
    return out


def watched(state: State, guild_id: int) -> list[str]:
    """The guild's watchlist."""
    return state.guilds.watched_symbols(guild_id)


def watched_and_stored(state: State, guild_id: int) -> list[str]:
    """The guild's watchlist, then every other symbol with stored bars (sorted)."""
    return list(dict.fromkeys([*watched(state, guild_id), *sorted(state.market.known_symbols())]))


def symbols_or(
    cmd: Command,
    state: State,
    default: Callable[[State, int], list[str]],
    *,
    refusal: str | None,
) -> list[str]:
    """The rule of every command that takes ``symbols``: those given (checked), else
    ``default(state, guild)`` (the watchlist, or it and every stored symbol); when both are
    empty, rejected with ``refusal`` (``None``: an empty list is an answer, e.g. for /status)."""
    symbols = check_symbols(cmd.options.get("symbols"), state, cmd.inv.guild_id)
    symbols = symbols or default(state, cmd.inv.guild_id)
    if not symbols and refusal is not None:
        raise reject(refusal)
    return symbols


def find_strategy(name: str, strategies: Sequence[StrategyInfo]) -> StrategyInfo | None:
    """The strategy ``name`` names: its key, else its display name (case-insensitive)."""
    wanted = name.strip().lower()
    by_key = (s for s in strategies if s.name.lower() == wanted)
    by_title = (s for s in strategies if s.title and s.title.lower() == wanted)
    return next(by_key, None) or next(by_title, None)


def check_strategy(name: str, state: State) -> str:
    """A known strategy's key, from its key or its display name (case-insensitive)."""
    found = find_strategy(name, state.strategies)
    if found is not None:
        return found.name
    names = ", ".join(s.name for s in state.strategies) or "none are installed"
    raise reject(f"Unknown strategy {tx.escape(name)!s}. Known strategies: {names}.")


def bounded_text(name: str, value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > MAX_TEXT:
        raise reject(f"{name} is too long ({len(value)} characters; at most {MAX_TEXT}).")
    return value


def reply_footer(state: State, clock: Clock) -> str:
    return tx.footer(state.info.sources, clock.now())
