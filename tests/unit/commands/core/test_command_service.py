"""The command service end to end over a real journal, with fake clock, fetcher and analyzer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec
import pytest

from commands.core.adapters import StoredMarketData
from commands.core.handler import MAX_SYMBOLS
from commands.core.reply_record import REPLY_RECORD_MAX, reply_from_record
from commands.core.service import CommandService
from commands.journal.handlers import log_trade_prefill
from commands.market.market_view import AnalyticsMarketView
from events.audit import CommandHandled
from events.trading import TradeClosed, TradeOpened
from tests.unit.commands.fakes import FakeAnalyzer, FakeFetcher, Members
from tests.unit.commands.service_kit import Start, open_trade


def _events(service: CommandService) -> list[object]:
    return [e.event for page in service.journal.read() for e in page]


def _tags(service: CommandService) -> list[str]:
    return [e.tag for page in service.journal.read() for e in page]


async def test_trade_open_appends_trade_and_audit_in_one_append(
    service: CommandService, members: Members
) -> None:
    """/trade open appends trade_opened plus one command_handled, with exact decimals and an id."""
    reply = await open_trade(service, members, stop="180", tags="swing,tech")
    assert reply.ok
    assert _tags(service) == ["trade_opened", "command_handled"]
    opened = _events(service)[0]
    assert isinstance(opened, TradeOpened)
    assert opened.entry == Decimal("187.5")
    assert opened.size == Decimal(10)
    assert opened.tags == ["swing", "tech"]
    assert len(opened.trade_id) == 5
    assert opened.trade_id in reply.title


async def test_retried_interaction_appends_once_and_replies_the_same(
    service: CommandService, members: Members
) -> None:
    """The same command id twice appends once and returns an equal reply (same trade id)."""
    inv = members.inv(command_id="interaction-42")
    opts = {"symbol": "AAPL", "direction": "long", "entry": 10, "size": 1}
    first = await service.execute("trade open", opts, inv)
    second = await service.execute("trade open", opts, inv)
    assert first == second
    assert _tags(service).count("trade_opened") == 1


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"entry": "-1"}, "entry must be greater than zero"),
        ({"entry": "0"}, "entry must be greater than zero"),
        ({"entry": "nan"}, "entry must be a finite number"),
        ({"entry": float("inf")}, "entry must be a finite number"),
        ({"size": "0"}, "size must be greater than zero"),
        ({"symbol": "NOT-A-TICKER!"}, "Unknown symbol"),
        ({"direction": "sideways"}, "direction must be one of long, short"),
        ({"stop": "190"}, "the stop must be below the entry"),
        ({"strategy": "nope"}, "Unknown strategy nope"),
        ({"entry": "1.123456789"}, "more than 8 decimal places"),
        ({"target": "1E+30"}, "target must be at most 10,000,000,000"),
        ({"size": "20000000000"}, "size must be at most 10,000,000,000"),
    ],
)
async def test_bad_trade_input_is_rejected_with_only_an_audit_event(
    service: CommandService, members: Members, opts: dict[str, object], message: str
) -> None:
    """Bad input gets an ephemeral ok=False reply naming the problem; only the audit is appended."""
    reply = await open_trade(service, members, **opts)
    assert not reply.ok
    assert reply.ephemeral
    assert message in reply.description
    events = _events(service)
    assert len(events) == 1
    assert isinstance(events[0], CommandHandled)
    assert events[0].outcome == "rejected"


async def test_close_computes_exact_pnl_and_refuses_a_second_close(
    service: CommandService, members: Members
) -> None:
    """Closing a short at a lower price is a gain; closing it again is refused."""
    opened = await open_trade(service, members, direction="short", entry="100.10", size="3")
    trade_id = opened.title.split()[1]
    closed = await service.execute(
        "trade close", {"id": trade_id.lower(), "exit": "99.05"}, members.inv()
    )
    assert closed.ok
    assert ("P&L", "+3.15", True) in closed.fields
    again = await service.execute("trade close", {"id": trade_id, "exit": "99"}, members.inv())
    assert not again.ok
    assert "already closed" in again.description
    assert sum(isinstance(e, TradeClosed) for e in _events(service)) == 1


async def test_only_the_owner_changes_a_trade(service: CommandService, members: Members) -> None:
    """Another member cannot close or note someone's trade."""
    opened = await open_trade(service, members)
    trade_id = opened.title.split()[1]
    other = members.inv(user=2)
    reply = await service.execute("trade close", {"id": trade_id, "exit": "1"}, other)
    assert not reply.ok
    assert "belongs to another member" in reply.description
    note = await service.execute("trade note", {"id": trade_id, "text": "x"}, members.inv(user=2))
    assert not note.ok


async def test_a_guild_never_sees_another_guilds_trade(
    service: CommandService, members: Members
) -> None:
    """A trade id from guild 100 is unknown in guild 200, even to the same user."""
    opened = await open_trade(service, members)
    trade_id = opened.title.split()[1]
    reply = await service.execute(
        "trade close", {"id": trade_id, "exit": "1"}, members.inv(guild=200)
    )
    assert not reply.ok
    assert "No trade with id" in reply.description
    listed = await service.execute("trades", {}, members.inv(guild=200))
    assert trade_id not in listed.description


async def test_unknown_trade_id_is_rejected(service: CommandService, members: Members) -> None:
    """Closing an id that does not exist names the id."""
    reply = await service.execute("trade close", {"id": "ZZZZZ", "exit": "1"}, members.inv())
    assert not reply.ok
    assert "ZZZZZ" in reply.description


async def test_admin_commands_are_refused_to_members(
    service: CommandService, members: Members
) -> None:
    """schedule set needs is_admin; the refusal is audited as rejected."""
    reply = await service.execute("schedule set", {"strategy": "rsi_flow"}, members.inv())
    assert not reply.ok
    assert "Manage Server" in reply.description
    ok = await service.execute(
        "schedule set", {"strategy": "rsi_flow", "time": "9:45"}, members.inv(admin=True)
    )
    assert ok.ok
    assert "09:45" in ok.description


async def test_metrics_attach_a_png_chart_and_count_break_evens_apart(
    service: CommandService, members: Members
) -> None:
    """/metrics replies with an equity PNG; a break-even trade is not a loss."""
    for exit_ in ("110", "100", "95"):
        opened = await open_trade(service, members, entry="100", size="1")
        await service.execute(
            "trade close", {"id": opened.title.split()[1], "exit": exit_}, members.inv()
        )
    reply = await service.execute("metrics", {"days": 30}, members.inv())
    assert reply.ok
    assert reply.attachments[0].data.startswith(b"\x89PNG")
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["Trades"] == "3 (1 W / 1 L / 1 BE)"
    assert fields["Total P&L"] == "+5.00"
    assert "manual" in fields["By strategy"]


async def test_export_is_a_csv_of_the_members_trades(
    service: CommandService, members: Members
) -> None:
    """/trade export attaches a CSV with a header and one row per trade of that member only."""
    await open_trade(service, members)
    await open_trade(service, members, symbol="MSFT")
    await service.execute(
        "trade open",
        {"symbol": "TSLA", "direction": "long", "entry": 1, "size": 1},
        members.inv(user=9),
    )
    reply = await service.execute("trade export", {}, members.inv())
    rows = reply.attachments[0].data.decode().splitlines()
    assert rows[0].startswith("trade_id,symbol,direction,entry")
    assert len(rows) == 3
    assert not any("TSLA" in r for r in rows)


async def test_fetch_then_analyze_uses_projected_data_and_offers_log_buttons(
    service: CommandService, members: Members, fetcher: FakeFetcher, analyzer: FakeAnalyzer
) -> None:
    """/fetch stocks appends bars; /analyze appends a scan and its picks carry Log-trade buttons."""
    fetched = await service.execute("fetch stocks", {"symbols": "aapl, msft"}, members.inv())
    assert fetched.ok
    assert "**AAPL**: 3 new bars" in fetched.description
    status = await service.execute("status", {}, members.inv())
    assert "AAPL" in status.description
    assert "3 bars" in status.description
    reply = await service.execute(
        "analyze", {"strategy": "RSI_FLOW", "symbols": "AAPL,MSFT"}, members.inv()
    )
    assert reply.ok
    assert "AAPL" in reply.description
    assert reply.buttons[0].custom_id.startswith("ibpicker:logtrade:scan-")
    prefill = log_trade_prefill(service.market, reply.buttons[0].custom_id)
    assert prefill["symbol"] == "AAPL"
    assert prefill["stop"] == "95.00"
    signals = await service.execute("signals", {}, members.inv())
    assert "AAPL" in signals.description
    other_guild = await service.execute("signals", {}, members.inv(guild=200))
    assert "AAPL" not in other_guild.description


async def test_a_failing_provider_is_reported_not_silent(
    service: CommandService, members: Members, fetcher: FakeFetcher
) -> None:
    """A fetch that fails appends fetch_failed and the reply says what failed."""
    fetcher.failing = {"MSFT"}
    reply = await service.execute("fetch stocks", {"symbols": "AAPL,MSFT"}, members.inv())
    assert "Failed: MSFT (fake): HTTP 503" in reply.description
    assert "fetch_failed" in _tags(service)


async def test_watchlist_add_list_remove_clear(service: CommandService, members: Members) -> None:
    """The watchlist keeps notes and tags per guild; clear is admin-only."""
    await service.execute(
        "watchlist add", {"symbol": "nvda", "note": "AI *hype*", "tags": "semis"}, members.inv()
    )
    listed = await service.execute("watchlist list", {}, members.inv())
    assert "**NVDA**: #semis · AI \\*hype\\*" in listed.description
    assert (
        "NVDA"
        not in (await service.execute("watchlist list", {}, members.inv(guild=7))).description
    )
    assert not (await service.execute("watchlist clear", {}, members.inv())).ok
    assert (await service.execute("watchlist clear", {}, members.inv(admin=True))).ok
    removed = await service.execute("watchlist remove", {"symbol": "NVDA"}, members.inv())
    assert not removed.ok
    assert "not on the watchlist" in removed.description


async def test_help_is_generated_and_unknown_commands_are_rejected(
    service: CommandService, members: Members
) -> None:
    """/help lists every group; an unknown command or option gets a specific message."""
    reply = await service.execute("help", {}, members.inv())
    assert {f[0] for f in reply.fields} == {"Core", "Data", "Analysis", "Journal", "Admin"}
    assert not (await service.execute("frobnicate", {}, members.inv())).ok
    bad = await service.execute("ping", {"loud": "yes"}, members.inv())
    assert not bad.ok
    assert "has no option 'loud'" in bad.description


async def test_autocomplete_offers_the_members_open_trades_only(
    service: CommandService, members: Members
) -> None:
    """open_trade autocomplete lists the caller's open trade ids, not others'."""
    mine = (await open_trade(service, members)).title.split()[1]
    await service.execute(
        "trade open",
        {"symbol": "TSLA", "direction": "long", "entry": 1, "size": 1},
        members.inv(user=9),
    )
    assert await service.autocomplete("open_trade", "", members.inv()) == [mine]
    assert await service.autocomplete("strategy", "gold", members.inv()) == ["golden_cross"]


def _stored_earnings(service: CommandService, symbols: list[str]) -> dict[str, list[date]]:
    """What the DuckDB analytics hold right now (no catch-up forced)."""
    market = service.market
    assert isinstance(market, AnalyticsMarketView)
    return StoredMarketData(market.analytics).earnings(symbols)


async def test_fetched_earnings_dates_are_in_the_analytics_at_once(
    service: CommandService, members: Members, fetcher: FakeFetcher
) -> None:
    """A fetch that brings only an earnings date (bars up to date) loads it into the analytics
    at once, so the next scan or fetch sees it (earnings_fetched is eager)."""
    fetcher.up_to_date = {"AAPL"}
    fetcher.earnings = {"AAPL": date(2026, 3, 12)}
    reply = await service.execute("fetch stocks", {"symbols": "AAPL"}, members.inv())
    assert reply.ok
    assert _tags(service) == ["earnings_fetched", "command_handled"]
    assert _stored_earnings(service, ["AAPL"]) == {"AAPL": [date(2026, 3, 12)]}


async def test_analyze_scans_analytics_caught_up_with_every_earlier_event(
    service: CommandService, members: Members, analyzer: FakeAnalyzer
) -> None:
    """The catch-up of analytics readers happens before the scan reads, not after it: at scan
    time the analytics have applied every event appended before the command."""
    await service.execute("watchlist add", {"symbol": "AAPL"}, members.inv())  # not eager
    seen: list[tuple[int, int]] = []

    def observe() -> None:
        runner = service.analytics_runner
        assert runner is not None
        analytics = {p.name for p in runner.analytics_projections}
        applied = min(v for k, v in runner.positions().items() if k in analytics)
        seen.append((applied, service.journal.head()))

    analyzer.on_scan = observe
    reply = await service.execute("analyze", {"strategy": "rsi_flow"}, members.inv())
    assert reply.ok
    assert seen == [(2, 2)]


async def test_a_retry_after_a_restart_rebuilds_the_same_reply(
    start: Start,
    members: Members,
) -> None:
    """A retried command id after a restart (nothing in memory) replies with the same title,
    description, fields and footer, rebuilt from its command_handled event."""
    inv = members.inv(command_id="interaction-7")
    opts = {"symbol": "AAPL", "direction": "long", "entry": "10", "size": "1", "stop": "9"}
    with start() as first:
        original = await first.execute("trade open", opts, inv)
        about = await first.execute("about", {}, members.inv(command_id="interaction-8"))
    with start() as second:
        head = second.journal.head()
        assert await second.execute("trade open", opts, inv) == original
        rebuilt = await second.execute("about", {}, members.inv(command_id="interaction-8"))
        assert rebuilt == about
        assert second.journal.head() == head


async def test_the_reply_kept_in_the_audit_event_is_bounded(
    service: CommandService, members: Members
) -> None:
    """A reply longer than REPLY_RECORD_MAX (pages of long lines) is kept within it: the first
    page's title and the start of its description, no further pages."""
    for i in range(30):
        await service.execute("watchlist add", {"symbol": f"S{i}", "note": "n" * 900},
                              members.inv())  # fmt: skip
    listed = await service.execute("watchlist list", {}, members.inv())
    assert listed.pages
    audit = _events(service)[-1]
    assert isinstance(audit, CommandHandled)
    assert 0 < len(audit.reply) <= REPLY_RECORD_MAX
    kept = reply_from_record(audit.reply)
    assert kept is not None
    assert (kept.title, kept.pages) == (listed.title, [])
    assert kept.description
    assert listed.description.startswith(kept.description)


async def test_the_reply_kept_has_no_attachments(service: CommandService, members: Members) -> None:
    """/metrics' chart is not copied into the journal: the kept reply is the embed without it."""
    opened = await open_trade(service, members, entry="100", size="1")
    await service.execute(
        "trade close", {"id": opened.title.split()[1], "exit": "110"}, members.inv()
    )
    reply = await service.execute("metrics", {}, members.inv())
    assert reply.attachments
    audit = _events(service)[-1]
    assert isinstance(audit, CommandHandled)
    assert "PNG" not in audit.reply
    assert reply_from_record(audit.reply) == msgspec.structs.replace(reply, attachments=[])


async def test_analyze_passes_skip_earnings_within_and_rejects_a_negative_one(
    service: CommandService, members: Members, analyzer: FakeAnalyzer
) -> None:
    """skip_earnings_within:N reaches the scan (0 or omitted: no skipping); a negative number is
    refused with only the audit event."""
    for opts in ({"skip_earnings_within": "3"}, {"skip_earnings_within": 0}, {}):
        reply = await service.execute(
            "analyze", {"strategy": "rsi_flow", "symbols": "AAPL", **opts}, members.inv()
        )
        assert reply.ok, reply.description
    assert analyzer.skip_earnings == [3, None, None]
    bad = await service.execute(
        "analyze", {"strategy": "rsi_flow", "symbols": "AAPL", "skip_earnings_within": -1},
        members.inv(),
    )  # fmt: skip
    assert not bad.ok
    assert "skip_earnings_within must be between 0 and 365" in bad.description


async def test_typed_symbols_are_limited_but_the_watchlist_and_stored_ones_are_not(
    start: Start,
    fetcher: FakeFetcher,
    analyzer: FakeAnalyzer,
    members: Members,
) -> None:
    """Typing more symbols than the limit is refused; an omitted symbols option fetches the
    watchlist and every stored symbol however many, in batches of the limit with progress,
    and /analyze scans the whole watchlist."""
    with start(symbol_limit=3) as service:
        typed = await service.execute("fetch stocks", {"symbols": "A,B,C,D"}, members.inv())
        assert not typed.ok
        assert "At most 3 symbols at once (got 4)" in typed.description
        assert (await service.execute("fetch stocks", {"symbols": "S1"}, members.inv())).ok
        for symbol in ("W1", "W2", "W3", "W4"):
            await service.execute("watchlist add", {"symbol": symbol}, members.inv())
        fetcher.calls.clear()
        seen: list[tuple[str, int, int]] = []
        reply = await service.execute(
            "fetch stocks", {}, members.inv(),
            progress=lambda kind, done, total: seen.append((kind, done, total)),
        )  # fmt: skip
        assert reply.ok, reply.description
        assert fetcher.calls == [("bars", ("W1", "W2", "W3")), ("bars", ("W4", "S1"))]
        assert seen == [("bars", 3, 5), ("bars", 5, 5)]
        assert reply.description.count("3 new bars") == 5
        await service.execute("analyze", {"strategy": "rsi_flow"}, members.inv())
        assert analyzer.scans[-1] == ("rsi_flow", ("W1", "W2", "W3", "W4"))


async def test_a_service_without_a_symbol_limit_takes_a_large_universe_in_batches(
    start: Start,
    fetcher: FakeFetcher,
    analyzer: FakeAnalyzer,
    members: Members,
) -> None:
    """The CLI's service (no limit) fetches and scans 120 typed symbols: fetched in batches of
    MAX_SYMBOLS, appended as one command."""
    with start(symbol_limit=None) as service:
        universe = ",".join(f"S{i}" for i in range(120))
        reply = await service.execute("fetch stocks", {"symbols": universe}, members.inv())
        assert reply.ok, reply.description
        assert [len(c[1]) for c in fetcher.calls] == [MAX_SYMBOLS, MAX_SYMBOLS, 20]
        assert _tags(service).count("bars_fetched") == 120
        assert len({e.command_id for page in service.journal.read() for e in page}) == 1
        scan = await service.execute(
            "analyze", {"strategy": "rsi_flow", "symbols": universe}, members.inv()
        )
        assert scan.ok, scan.description
        assert len(analyzer.scans[-1][1]) == 120
