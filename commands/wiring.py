"""Assembles a ``CommandService`` over a data folder: journal, projections, read models, ports,
and the feature rooms' routes (``commands.registry``).

It sits beside the rooms, not in ``commands.core``: composing a service means naming the rooms
(their routes, the market read model, the exchange calendar), and the core imports no room.

``bot.py`` (the composition root) and the console both call ``open_service``; tests call it with
fakes for the ports. Files: ``journal.sqlite`` and ``analytics.duckdb`` in the data folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from analysis.strategy import load_strategy_folder
from commands.core.adapters import FetchServiceAdapter, StoredMarketData, StrategyAnalyzer
from commands.core.claude import drafting_from_settings
from commands.core.handler import MAX_SYMBOLS
from commands.core.ports import (
    Analyzer,
    Clock,
    Drafting,
    MarketFetcher,
    SystemClock,
    TradingCalendar,
)
from commands.core.service import CommandService, Ports, Projections
from commands.market.market_view import AnalyticsMarketView
from commands.picks.schedule import xnys
from commands.registry import ROOMS
from events.journal import Journal
from fetchers.http import HttpSession
from fetchers.service import MarketData, market_data_from_keys
from projections.analytics import Analytics
from projections.guild import GuildBook
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner
from projections.strategy_library import StrategyBook
from projections.trading import TradeBook

# Re-exported: the front ends and tests name the data folder's files through the wiring.
from projections.workspace import ANALYTICS_FILE as ANALYTICS_FILE
from projections.workspace import JOURNAL_FILE as JOURNAL_FILE
from settings import Secrets, Settings


def package_version() -> str:
    """The installed ibpicker version."""
    try:
        return metadata.version("ibpicker")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def open_service(
    data_dir: Path,
    *,
    fetcher: MarketFetcher,
    analyzer: Analyzer,
    clock: Clock | None = None,
    calendar: TradingCalendar | None = None,
    features_off: Sequence[str] = (),
    journal: Journal | None = None,
    analytics: Analytics | None = None,
    symbol_limit: int | None = MAX_SYMBOLS,
    drafting: Drafting | None = None,
    catch_up: bool = True,
) -> CommandService:
    """A service over ``data_dir`` with every projection caught up with the journal;
    ``symbol_limit=None`` for a front end whose users are not chat members (the CLI);
    ``catch_up=False`` leaves the catching up to the caller (a bot replica does it off the event
    loop, its health server answering meanwhile)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    journal = journal or Journal.open(data_dir / JOURNAL_FILE)
    analytics = analytics or Analytics(data_dir / ANALYTICS_FILE)
    trades = TradeBook()
    guilds = GuildBook()
    library = StrategyBook()
    runner = ProjectionRunner(journal, None, state=[trades, guilds, library])
    analytics_runner = ProjectionRunner(
        journal, analytics, analytics_projections=all_analytics_projections()
    )
    if catch_up:
        runner.catch_up()
        analytics_runner.catch_up()
    return CommandService(
        journal=journal,
        projections=Projections(runner, trades, guilds, analytics_runner, library),
        ports=Ports(
            fetcher=fetcher,
            analyzer=analyzer,
            market=AnalyticsMarketView(analytics),
            clock=clock or SystemClock(),
            calendar=calendar if calendar is not None else xnys(),
            drafting=drafting,
        ),
        rooms=ROOMS,
        version=package_version(),
        features_off=features_off,
        symbol_limit=symbol_limit,
    )


def open_default_service(
    data_dir: Path,
    market_data: MarketData,
    *,
    clock: Clock | None = None,
    features_off: Sequence[str] = (),
    drafting: Drafting | None = None,
    strategies_dir: Path | None = None,
    journal_url: str | None = None,
    catch_up: bool = True,
) -> CommandService:
    """A service with the real ports: ``market_data`` for fetches, the packaged strategies (and
    the operator's folder ``strategies_dir``, offered as packaged ones), and scans over the
    stored bars and flow alerts (``catch_up`` as for ``open_service``)."""
    # The journal first: its writer lock is what names another process on the folder (the
    # analytics file's own lock would only say "busy"); whatever fails after it gives it back.
    # The operator's strategies first: a file that does not validate stops the start, naming it.
    operator_strategies = load_strategy_folder(strategies_dir) if strategies_dir else []
    data_dir.mkdir(parents=True, exist_ok=True)
    # journal_url (IBPICKER_JOURNAL_URL): the journal in PostgreSQL instead of the folder's file.
    journal = Journal.open(data_dir / JOURNAL_FILE, url=journal_url)
    analytics: Analytics | None = None
    try:
        analytics = Analytics(data_dir / ANALYTICS_FILE)
        stored = StoredMarketData(analytics)
        return open_service(
            data_dir,
            fetcher=FetchServiceAdapter(market_data, stored),
            analyzer=StrategyAnalyzer(stored, shipped=operator_strategies),
            clock=clock,
            features_off=features_off,
            journal=journal,
            analytics=analytics,
            drafting=drafting,
            catch_up=catch_up,
        )
    except BaseException:
        if analytics is not None:
            analytics.close()
        journal.close()
        raise


def open_configured_service(
    settings: Settings,
    secrets: Secrets,
    http: HttpSession,
    *,
    data_dir: Path | None = None,
    clock: Clock | None = None,
    catch_up: bool = True,
) -> CommandService:
    """``open_default_service`` as the operator configured it, for the bot and the console alike:
    the market data their keys select (the offline sample without), the features they switched
    off, drafting with their Anthropic key, their strategies folder and journal URL, in
    ``data_dir`` (default the settings' folder)."""
    market_data = market_data_from_keys(
        http,
        uw_api_key=secrets.value("uw-api-key"),
        finnhub_api_key=secrets.value("finnhub-api-key"),
        clock=clock,
    )
    return open_default_service(
        data_dir or settings.data_dir,
        market_data,
        clock=clock,
        features_off=[str(f) for f in secrets.features_off()],
        drafting=drafting_from_settings(http, settings, secrets.value("anthropic-api-key")),
        strategies_dir=settings.strategies_dir,
        journal_url=settings.journal_database,
        catch_up=catch_up,
    )


def close_service(service: CommandService) -> None:
    """Stop the service's worker and close its files."""
    service.close()
    market = service.market
    if isinstance(market, AnalyticsMarketView):
        market.analytics.close()
    service.journal.close()
