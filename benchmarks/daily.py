"""Benchmark of the daily run: fetch, scan and build the post for a 50-symbol watchlist.

    .venv/bin/python benchmarks/daily.py                       # a fresh folder
    .venv/bin/python benchmarks/daily.py --data-dir DIR        # on a journal (benchmarks/box.py)

The daily run is what the scheduler does each trading morning per server
(``commands.picks.daily.DailyRuns.run``): fetch bars and flow alerts of the watchlist, append
them, catch the analytics up, scan the configured strategy over the stored data and return the
post. The offline sample data know 38 symbols, so a synthetic provider
(``tests.support.synthetic``: the sample data's shape, any number of symbols) serves the 50. The
clock is pinned on a trading Tuesday, so a run is reproducible. The first run of a session fetches
a year of bars per symbol; a second run is what a restart the same morning costs (nothing new to
fetch). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

import msgspec

from benchmarks._common import peak_rss_mib, print_json_last, say, timed
from commands.core.models import RED, Invocation
from commands.picks.daily import DailyRuns
from commands.wiring import close_service, open_default_service
from events.clock import FixedClock
from events.market import Bar, FlowAlert
from fetchers.service import MarketData
from tests.support.synthetic import SyntheticMarket, generate_market

NOW = datetime(2026, 11, 24, 14, 40, tzinfo=UTC)  # a Tuesday, 09:40 in New York
GUILD = 42
STRATEGY = "macd_volume_thrust"


class SyntheticProvider:
    """A ``MarketDataProvider`` over ``tests.support.synthetic`` data (no network, any symbols)."""

    name = "sample"

    def __init__(self, market: SyntheticMarket) -> None:
        self.market = market

    async def daily_bars(self, symbol: str, *, limit: int) -> list[Bar]:
        s = self.market.bars[symbol]
        start = max(len(s.day) - limit, 0)
        return [
            Bar(day=s.day[i].astype(date), open=float(s.open[i]), high=float(s.high[i]),
                low=float(s.low[i]), close=float(s.close[i]), volume=int(s.volume[i]))
            for i in range(start, len(s.day))
        ]  # fmt: skip

    async def flow_alerts(
        self,
        symbols: Sequence[str],
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
        newer_than: datetime | None = None,
        limit: int = 200,
    ) -> list[FlowAlert]:
        alerts = [
            a
            for s in symbols
            for a in self.market.alerts.get(s, [])
            if a.created_at <= NOW and (newer_than is None or a.created_at > newer_than)
        ]
        return sorted(alerts, key=lambda a: a.created_at, reverse=True)[:limit]

    async def next_earnings(self, symbol: str) -> None:
        return None

    async def economic_calendar(self) -> list[Any]:
        return []


async def measure(data_dir: Path, symbols: int) -> dict[str, Any]:
    """Configure the watchlist and schedule, then time two daily runs."""
    market = generate_market(symbols, 300, last_day=date(2026, 11, 23), alerts_per_symbol=8.0)
    clock = FixedClock(NOW)
    service = open_default_service(
        data_dir, MarketData(SyntheticProvider(market), clock=clock), clock=clock
    )
    out: dict[str, Any] = {"symbols": symbols}
    try:
        admin = Invocation(command_id="daily-bench-watch", guild_id=GUILD, user_id=1, is_admin=True)
        names = ",".join(market.bars)
        await service.execute("watchlist add", {"symbols": names}, admin)
        set_ = msgspec.structs.replace(admin, command_id="daily-bench-schedule")
        done = await service.execute("schedule set", {"strategy": STRATEGY, "channel": 7}, set_)
        if done.color == RED:
            raise SystemExit(f"schedule set refused: {done.description}")
        for label in ("first", "again"):
            with timed() as t:
                run = await DailyRuns(service).run(GUILD, now=NOW)
            out[f"{label}_run_s"] = round(t.seconds, 3)
            out[f"{label}_picks"] = len(run.picks)
            out[f"{label}_failures"] = len(run.failures)
            out[f"{label}_scanned"] = run.scan_id is not None
            say(f"daily run ({label}): {t.seconds:.2f} s, {len(run.picks)} picks, "
                f"{len(run.failures)} failures")  # fmt: skip
    finally:
        close_service(service)
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a data folder to run in (it is written)")
    parser.add_argument("--symbols", type=int, default=50)
    args = parser.parse_args(argv)
    if args.data_dir is not None:
        result = asyncio.run(measure(args.data_dir, args.symbols))
    else:
        with tempfile.TemporaryDirectory(prefix="ibpicker-daily-") as tmp:
            result = asyncio.run(measure(Path(tmp), args.symbols))
    say(f"peak RSS {result['peak_rss_mib']} MiB")
    print_json_last(result)


if __name__ == "__main__":
    main()
