"""``/backtests`` from the ``backtests`` projection: a bounded listing (the newest runs of a
server, counted in full), the same events the journal holds, and the same listing after the
analytics are rebuilt from the journal."""

from __future__ import annotations

from datetime import date

from commands.backtest.gather import BACKTESTS_LISTED
from commands.core.service import CommandService, Reply
from events.backtests import BacktestCompleted, BacktestParameters, backtests_stream
from events.base import NewEvent
from projections.backtests import recent_backtests
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from tests.support.backtest_data import append
from tests.unit.commands.backtest.conftest import GUILD, SYMBOLS
from tests.unit.commands.backtest.test_backtest_room import run
from tests.unit.commands.fakes import Members


def completed(n: int, guild_id: int | None = GUILD, key: str = "macd_volume_thrust") -> NewEvent:
    """A ``backtest_completed`` numbered ``n`` (its figures and options differ by ``n``)."""
    event = BacktestCompleted(
        run_id=f"r{n}", kind="monte_carlo" if n % 3 else "run", guild_id=guild_id,
        strategy_key=key, strategy_name=key.upper(), strategy_version="1.0",
        strategy_hash=f"{n:064x}", data_position=n,
        parameters=BacktestParameters(
            symbols=list(SYMBOLS[: 1 + n % 5]), start=date(2026, 1, 2), end=date(2026, 11, 30),
            capital=1000.0 * n, commission=n / 10, slippage_bps=0.5,
            options={"seed": str(n)} if n % 3 else {},
        ),
        metrics={"cagr": n / 100, "max_drawdown": 0.1, "trades": float(n), "sharpe": None},
        final_equity=1000.0 * n + 0.125, result_hash=f"{n:064x}",
    )  # fmt: skip
    return NewEvent(backtests_stream(guild_id), event)


async def listing(service: CommandService, command_id: str, **options: object) -> list[Reply]:
    """Every page of ``/backtests`` as member 1 of the guild."""
    inv = Members().inv(guild=GUILD, command_id=command_id)
    reply = await service.execute("backtests", dict(options), inv)
    assert reply.ok, reply.description
    return [reply, *reply.pages]


def journal_runs(
    service: CommandService, guild_id: int | None
) -> list[tuple[int, BacktestCompleted]]:
    """The guild's ``backtest_completed`` events read from the journal by tag, newest first
    (what ``/backtests`` read on every call before the projection)."""
    found = [
        (env.position, env.event)
        for page in service.journal.read(tags=(BacktestCompleted.event_tag(),))
        for env in page
        if isinstance(env.event, BacktestCompleted) and env.event.guild_id == guild_id
    ]
    return found[::-1]


async def test_the_listing_is_bounded_to_the_newest_runs_and_counts_them_all(
    service: CommandService,
) -> None:
    """With more runs than ``BACKTESTS_LISTED``, ``/backtests`` lists the newest of them, newest
    first across its pages, says how many there are in all, and leaves out another server's;
    ``strategy:`` counts and lists only that strategy's (by key or name, any case)."""
    total = BACKTESTS_LISTED + 7
    await append(service, [completed(n) for n in range(1, total + 1)], "many", GUILD)
    await append(service, [completed(n, GUILD + 1) for n in range(3)], "other", GUILD + 1)
    await append(service, [completed(900, key="mine")], "mine", GUILD)
    pages = await listing(service, "l-1")
    assert pages[0].title.startswith(f"Backtests ({total + 1})")
    lines = [line for page in pages for line in page.description.splitlines()]
    assert len(lines) == BACKTESTS_LISTED
    assert "`mine`" in lines[0]
    newest = [f"(#{position})" for position, _ in journal_runs(service, GUILD)[:BACKTESTS_LISTED]]
    assert [line.rsplit(" ", 1)[-1] for line in lines] == newest
    assert f"the newest {BACKTESTS_LISTED} of {total + 1} listed" in pages[0].footer
    only = await listing(service, "l-2", strategy="MINE")
    assert only[0].title == "Backtests (1)"
    assert "the newest" not in only[0].footer


async def test_the_projection_holds_the_journal_s_events_and_a_rebuild_lists_the_same(
    service: CommandService,
) -> None:
    """Runs through ``/backtest`` and appended events alike: the projection gives back exactly
    the events the journal holds (every field), and after the analytics are rebuilt from the
    journal ``/backtests`` answers with the same pages."""
    await run(service, "bt-1")
    await run(service, "bt-2", capital=50_000)
    await append(service, [completed(n) for n in range(1, 4)], "more", GUILD)
    before = await listing(service, "l-before")
    runner = service.analytics_runner
    assert runner is not None
    assert runner.analytics is not None
    with runner.analytics.cursor() as cur:
        count, held = recent_backtests(cur, GUILD, strategy=None, limit=100)
    assert count == 5
    assert held == journal_runs(service, GUILD)
    report = rebuild(service.journal, runner.analytics.path, all_analytics_projections(), jobs=1)
    assert report.swapped
    after = await listing(service, "l-after")
    assert [(p.title, p.description, p.footer) for p in after] == [
        (p.title, p.description, p.footer) for p in before
    ]
