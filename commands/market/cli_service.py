"""The ``ibpicker fetch`` / ``ibpicker scan`` service: the command service over a data folder with
the configured providers, metered for a progress bar, keeping each fetch's per-symbol results for
the terminal (``commands.market.market_cli`` renders them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

import cli_options
from analysis.strategy import Strategy
from commands.console.console import LOCAL_GUILD, LOCAL_USER
from commands.core.adapters import FetchServiceAdapter, StoredMarketData, StrategyAnalyzer
from commands.core.errors import CommandError
from commands.core.models import Invocation
from commands.core.service import CommandService
from commands.wiring import close_service, open_service
from events.base import Envelope
from events.market import Bar, EarningsDate, EconomicEvent, FlowAlert
from fetchers.http import HttpSession
from fetchers.provider import MarketDataProvider
from fetchers.sample import SampleProvider
from fetchers.service import (
    FetchResult,
    KnownBars,
    MarketData,
    market_data_from_keys,
)
from projections.analytics import Analytics
from projections.workspace import ANALYTICS_FILE
from settings import SECRET_ENV, SettingsError, load_secrets, load_settings

_err = cli_options.err


class CliInputError(CommandError):
    """Input refused before the command service is reached (exit status 2)."""


class Meter:
    """A progress bar on stderr while a command runs, when stderr is a terminal; else silent."""

    def __init__(self, *, enabled: bool) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_err,
            transient=True,
            disable=not enabled,
        )
        self._task: TaskID | None = None

    @contextmanager
    def running(self, description: str, total: int | None) -> Iterator[None]:
        """Show the bar (``total=None``: a bar without an end) while the block runs."""
        with self.progress:
            self._task = self.progress.add_task(description, total=total)
            try:
                yield
            finally:
                self._task = None

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more answers."""
        if self._task is not None:
            self.progress.advance(self._task, steps)

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` (a run that reports its own count; any thread)."""
        if self._task is not None:
            self.progress.update(self._task, completed=done, total=total)


class MeteredProvider:
    """A ``MarketDataProvider`` that moves the meter once per symbol answered."""

    def __init__(self, inner: MarketDataProvider, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter

    @property
    def name(self) -> str:
        """The wrapped provider's name (what events record as their source)."""
        return self.inner.name

    async def daily_bars(self, symbol: str, *, limit: int) -> list[Bar]:
        """The wrapped provider's bars."""
        try:
            return await self.inner.daily_bars(symbol, limit=limit)
        finally:
            self.meter.advance()

    async def flow_alerts(
        self,
        symbols: Sequence[str],
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
        newer_than: datetime | None = None,
        limit: int = 200,
    ) -> list[FlowAlert]:
        """The wrapped provider's flow alerts (one request covers several symbols)."""
        try:
            return await self.inner.flow_alerts(
                symbols,
                min_premium=min_premium,
                min_volume=min_volume,
                newer_than=newer_than,
                limit=limit,
            )
        finally:
            self.meter.advance(len(symbols))

    async def next_earnings(self, symbol: str) -> EarningsDate | None:
        """The wrapped provider's next earnings date."""
        try:
            return await self.inner.next_earnings(symbol)
        finally:
            self.meter.advance()

    async def economic_calendar(self) -> list[EconomicEvent]:
        """The wrapped provider's economic calendar."""
        return await self.inner.economic_calendar()


class RecordingMarketData(MarketData):
    """``MarketData`` that keeps each ``FetchResult``: the service passes on only the events, and
    the terminal shows the per-symbol outcomes ("up to date", "no data", why it failed)."""

    def __init__(self, base: MarketData, meter: Meter) -> None:
        super().__init__(MeteredProvider(base.market, meter), base.reference, clock=base.clock)
        self.provider = base.market
        self.results: list[FetchResult] = []

    def describe_source(self) -> str:
        """The source in use; for the sample data, also how to get live data."""
        if isinstance(self.provider, SampleProvider):
            return (
                f"{self.sources} (offline sample data; set {SECRET_ENV['uw-api-key']} "
                "for live Unusual Whales data)"
            )
        return self.sources

    def default_universe(self) -> list[str]:
        """The sample data's whole universe; other providers have none."""
        if isinstance(self.provider, SampleProvider):
            return self.provider.symbols
        raise CliInputError(f"give SYMBOLS: {self.sources} has no default universe")

    async def bars(self, symbols: Any, known: KnownBars) -> FetchResult:
        """See ``MarketData.bars``."""
        result = await super().bars(symbols, known)
        self.results.append(result)
        return result

    async def flow_alerts(
        self, symbols: Any, known: KnownBars, *, min_premium: float = 0.0, min_volume: int = 0
    ) -> FetchResult:
        """See ``MarketData.flow_alerts``."""
        result = await super().flow_alerts(
            symbols, known, min_premium=min_premium, min_volume=min_volume
        )
        self.results.append(result)
        return result

    async def earnings(self, symbols: Any) -> FetchResult:
        """See ``MarketData.earnings``."""
        result = await super().earnings(symbols)
        self.results.append(result)
        return result


@dataclass(frozen=True)
class CliContext:
    """What a CLI command works with: the service, the fetch results, the stored market data."""

    service: CommandService
    market_data: RecordingMarketData
    stored: StoredMarketData


@asynccontextmanager
async def cli_service(
    data_dir: Path,
    meter: Meter,
    *,
    strategy_files: Sequence[Strategy] = (),
) -> AsyncIterator[CliContext]:
    """The command service over ``data_dir`` with the configured providers (sample data without
    keys), the packaged strategies plus ``strategy_files``, and the fetch results kept."""
    try:
        settings = load_settings()
        secrets = await load_secrets(settings, required=())
    except SettingsError as exc:
        raise CliInputError(str(exc)) from None
    clock = settings.clock()  # the one clock (IBPICKER_NOW pins it) for fetches and commands
    async with HttpSession() as http:
        market_data = RecordingMarketData(
            market_data_from_keys(
                http,
                uw_api_key=secrets.value("uw-api-key"),
                finnhub_api_key=secrets.value("finnhub-api-key"),
                clock=clock,
            ),
            meter,
        )
        analytics = Analytics(data_dir / ANALYTICS_FILE)
        stored = StoredMarketData(analytics)
        service = open_service(
            data_dir,
            fetcher=FetchServiceAdapter(market_data, stored),
            analyzer=StrategyAnalyzer(stored, files=strategy_files),
            analytics=analytics,
            clock=clock,
            features_off=[str(f) for f in secrets.features_off()],
            symbol_limit=None,
        )
        try:
            yield CliContext(service, market_data, stored)
        finally:
            close_service(service)


def cli_invocation(command_id: str) -> Invocation:
    """The console's local member (an admin) running ``command_id`` from the command line."""
    return Invocation(
        command_id=command_id,
        guild_id=LOCAL_GUILD,
        user_id=LOCAL_USER,
        user_name="cli",
        is_admin=True,
        channel_id=LOCAL_GUILD,
    )


def stored_by(service: CommandService, command_id: str) -> list[Envelope]:
    """What the journal holds for ``command_id`` (fresh or from an earlier run)."""
    span = service.journal.command_span(command_id)
    if span is None:
        return []
    return [env for page in service.journal.read(span[0], span[1]) for env in page]
