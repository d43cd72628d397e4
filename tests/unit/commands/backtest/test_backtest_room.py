"""``/backtest`` and ``/backtests`` through the command service over the sample data: what is
appended, what is answered, that a run repeats to the byte at its journal position, and that bad
input is refused with a clear message and only the audit event."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json

import pytest

from analysis.strategy import load_strategy
from commands.core.service import CommandService, Reply
from events.audit import CommandHandled
from events.backtests import BacktestCompleted
from events.base import Envelope
from tests.support.backtest_data import append, sample_events, strategy_added
from tests.unit.commands.backtest.conftest import GUILD, SYMBOLS
from tests.unit.commands.fakes import Members

STRATEGY = "macd_volume_thrust"
BASE = {"strategy": STRATEGY, "symbols": ",".join(SYMBOLS)}
RANGE = {"from": "2026-01-02", "to": "2026-11-30"}


def stored(service: CommandService, command_id: str) -> list[Envelope]:
    """The events the journal holds for ``command_id``."""
    span = service.journal.command_span(command_id)
    assert span is not None
    return [env for page in service.journal.read(span[0], span[1]) for env in page]


def attachment(reply: Reply, name: str) -> bytes:
    """The bytes of the reply's attachment ``name``."""
    found = [a.data for a in reply.attachments if a.filename == name]
    assert found, [a.filename for a in reply.attachments]
    return found[0]


async def run(service: CommandService, command_id: str, **options: object) -> Reply:
    """``/backtest`` with ``BASE`` and ``options`` as member 1 of the guild."""
    inv = Members().inv(guild=GUILD, command_id=command_id)
    return await service.execute("backtest", {**BASE, **options}, inv)


async def test_backtest_records_the_strategy_version_data_position_and_figures(
    service: CommandService,
) -> None:
    """A run appends one ``backtest_completed`` naming the strategy's key and sha256, the journal
    position of the data it read, its parameters and figures, the hash of its result document;
    the reply shows the figures with a PNG chart attached."""
    head = service.journal.head()
    reply = await run(service, "bt-1")
    assert reply.ok, reply.description
    png = attachment(reply, "backtest.png")
    assert png.startswith(b"\x89PNG")
    fields = {name for name, _, _ in reply.fields}
    assert {"CAGR", "Sharpe", "Sortino", "Max drawdown", "Win rate", "Profit factor"} <= fields
    events = [e.event for e in stored(service, "bt-1")]
    done = [e for e in events if isinstance(e, BacktestCompleted)]
    assert len(done) == 1
    ev = done[0]
    assert ev.strategy_key == STRATEGY
    assert len(ev.strategy_hash) == 64
    assert ev.data_position == head
    assert ev.parameters.symbols == list(SYMBOLS)
    assert ev.parameters.end.isoformat() == "2026-12-03"
    assert ev.parameters.capital == 100_000.0
    assert ev.metrics["trades"] is not None
    assert "sharpe" in ev.metrics
    assert len(ev.result_hash) == 64
    assert f"at:{head}" in reply.description


async def test_a_run_repeated_at_its_position_gives_the_same_bytes(
    service: CommandService,
) -> None:
    """The same inputs at the same journal position give a byte-identical result document, even
    after newer bars were appended (which a run without ``at`` reads); the recorded result hash
    is the document's sha256."""
    first = await run(service, "bt-a", export="json", **{"from": "2026-01-02", "to": "2026-11-30"})
    assert first.ok, first.description
    position = next(
        e.event for e in stored(service, "bt-a") if isinstance(e.event, BacktestCompleted)
    ).data_position
    await append(service, sample_events(["AAPL"]), "fetch-2")  # re-stored rows, later position
    again = await run(
        service, "bt-b", export="json", at=position, **{"from": "2026-01-02", "to": "2026-11-30"}
    )
    assert again.ok, again.description
    body = attachment(first, "backtest.json")
    assert attachment(again, "backtest.json") == body
    doc = json.loads(body)
    assert doc["data_position"] == position
    assert set(doc) >= {"trades", "open_positions", "equity", "metrics", "strategy"}
    compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    recorded = [e.event for e in stored(service, "bt-b") if isinstance(e.event, BacktestCompleted)]
    assert recorded[0].result_hash == hashlib.sha256(compact).hexdigest()


async def test_export_csv_attaches_every_closed_trade(service: CommandService) -> None:
    """``export:csv`` attaches the closed trades, one row each, beside the chart."""
    reply = await run(service, "bt-csv", export="csv")
    assert reply.ok, reply.description
    rows = list(csv.DictReader(io.StringIO(attachment(reply, "trades.csv").decode())))
    trades = next(
        e.event for e in stored(service, "bt-csv") if isinstance(e.event, BacktestCompleted)
    ).metrics["trades"]
    assert len(rows) == trades
    assert rows
    assert rows[0]["strategy"] == STRATEGY
    assert rows[0]["exit_reason"]
    attachment(reply, "backtest.png")


async def test_backtests_lists_past_runs_newest_first(service: CommandService) -> None:
    """``/backtests`` lists the guild's runs with their strategy version and data position."""
    await run(service, "bt-1")
    await run(service, "bt-2", capital=50_000)
    reply = await service.execute("backtests", {}, Members().inv(guild=GUILD, command_id="l1"))
    assert reply.ok
    assert reply.title == "Backtests (2)"
    lines = reply.description.splitlines()
    assert len(lines) == 2
    assert all(STRATEGY in line for line in lines)
    other = await service.execute("backtests", {}, Members().inv(guild=GUILD + 1, command_id="l2"))
    assert other.title == "Backtests (0)"


async def test_walk_forward_monte_carlo_and_compare_run_and_record(
    service: CommandService,
) -> None:
    """Each mode answers and records ``backtest_completed`` with its kind (a Monte Carlo with
    its equity cone as a second PNG); compare records one per strategy under one run id."""
    wf = await run(service, "bt-wf", mode="walk-forward", in_sample=60, out_of_sample=30)
    assert wf.ok, wf.description
    mc = await run(service, "bt-mc", mode="monte-carlo", resamples=200, seed=7)
    assert mc.ok, mc.description
    assert any(name.startswith("Monte Carlo") for name, _, _ in mc.fields)
    assert attachment(mc, "cone.png").startswith(b"\x89PNG")  # the equity cone
    cmp = await run(service, "bt-cmp", mode="compare", strategy=f"{STRATEGY},trend_pullback_flow")
    assert cmp.ok, cmp.description
    kinds = {
        cid: [e.event.kind for e in stored(service, cid) if isinstance(e.event, BacktestCompleted)]
        for cid in ("bt-wf", "bt-mc", "bt-cmp")
    }
    assert kinds == {
        "bt-wf": ["walk_forward"],
        "bt-mc": ["monte_carlo"],
        "bt-cmp": ["compare", "compare"],
    }


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"from": "2019-01-02", "to": "2019-03-01"}, "No bars for AAPL"),
        ({"from": "2024-12-10"}, "indicators need 34 bars"),
        ({"strategy": "no_such_strategy"}, "Known strategies: "),
        ({"capital": 0}, "capital must be more than 0"),
        ({"capital": -5}, "capital must be more than 0"),
        ({"from": "2026-13-01"}, "YYYY-MM-DD"),
        ({"from": "2026-06-01", "to": "2026-05-01"}, "is after to"),
        ({"symbols": ",".join(f"S{i}" for i in range(26))}, "ibpicker backtest"),
        ({"mode": "run", "strategy": f"{STRATEGY},trend_pullback_flow"}, "mode:compare"),
        ({"at": 10_000}, "at must be a journal position up to"),
    ],
)
async def test_bad_input_is_refused_clearly_and_appends_only_the_audit(
    service: CommandService, options: dict[str, object], says: str
) -> None:
    """A range without bars, too little history (with the bars needed), an unknown strategy
    (with the known ones), capital <= 0, a bad date, an empty range, more symbols than a chat
    may run (pointing to the CLI), two strategies outside compare, a position beyond the data:
    each is refused with a message saying so, and only ``command_handled`` is appended."""
    head = service.journal.head()
    reply = await run(service, "bad", **options)
    assert not reply.ok
    assert says in reply.description
    assert service.journal.head() == head + 1
    (only,) = stored(service, "bad")
    assert isinstance(only.event, CommandHandled)
    assert only.event.outcome == "rejected"


async def test_too_little_history_names_the_bars_needed(service: CommandService) -> None:
    """The refusal of a range that starts before the indicators can warm up says how many bars
    the strategy needs and the first session that would do."""
    reply = await run(service, "short", **{"from": "2024-12-10"})
    assert "indicators need" in reply.description
    assert "Start on or after 20" in reply.description


async def test_the_chat_symbol_limit_states_the_limit(service: CommandService) -> None:
    """More than 25 symbols in a chat is refused with the limit and the CLI command to use."""
    reply = await run(service, "many", symbols=",".join(f"S{i}" for i in range(26)))
    assert "At most 25 symbols" in reply.description
    assert "ibpicker backtest run --strategy macd_volume_thrust" in reply.description


async def test_a_server_strategy_runs_at_its_exact_version(service: CommandService) -> None:
    """A server's own strategy (from its library) is backtested at the version asked for; the
    event names its key, its version label and the sha256 of that version's text."""
    text = load_strategy(STRATEGY).text
    changed = text.replace("MACD Volume Thrust", "Mine")
    for version, yaml_text in ((1, text), (2, changed)):
        added = strategy_added(GUILD, "mine", yaml_text, version)
        await append(service, [added], f"add-{version}")
    reply = await run(service, "bt-own", strategy="mine", version=1)
    assert reply.ok, reply.description
    (ev,) = [e.event for e in stored(service, "bt-own") if isinstance(e.event, BacktestCompleted)]
    assert (ev.strategy_key, ev.strategy_version) == ("mine", "v1")
    assert ev.strategy_hash == hashlib.sha256(text.encode()).hexdigest()
    assert "version:1" in reply.description
    latest = await run(service, "bt-own-2", strategy="mine")
    assert "Mine" in latest.title


async def test_the_earnings_filter_sees_a_date_only_from_when_it_was_known(
    service: CommandService,
) -> None:
    """The sample's earnings date (2026-10-29) was fetched after the whole range (at the test
    clock's 2026-12-03), so with a lead of 0 days it was never known during the run and
    ``skip_earnings_within:30`` changes no trade; with ``earnings_lead:30`` it counts from
    2026-09-29 and entries in the month before it are skipped. The filter's settings are
    recorded with the run and given in its repeat line."""

    said: dict[str, str] = {}

    async def entries(command_id: str, **options: object) -> list[tuple[str, str]]:
        reply = await run(service, command_id, export="json", **RANGE, **options)
        assert reply.ok, reply.description
        said[command_id] = reply.description
        doc = json.loads(attachment(reply, "backtest.json"))
        items = [*doc["trades"], *doc["open_positions"]]
        return sorted((t["symbol"], t["signal_date"]) for t in items)

    plain = await entries("e-0")
    assert await entries("e-1", skip_earnings_within=30, earnings_lead=0) == plain
    window = [e for e in plain if "2026-09-29" <= e[1] <= "2026-10-29"]
    assert window, plain
    led = await entries("e-2", skip_earnings_within=30, earnings_lead=30)
    assert not [e for e in led if "2026-09-29" <= e[1] <= "2026-10-29"]
    (ev,) = [e.event for e in stored(service, "e-2") if isinstance(e.event, BacktestCompleted)]
    assert ev.parameters.options == {"skip_earnings_within": "30", "earnings_lead": "30"}
    (no_filter,) = [
        e.event for e in stored(service, "e-0") if isinstance(e.event, BacktestCompleted)
    ]
    assert no_filter.parameters.options == {}
    assert "skip_earnings_within:30 earnings_lead:30`" in said["e-2"]


async def test_direction_risk_free_rate_and_ruin_are_used_and_recorded(
    service: CommandService,
) -> None:
    """``direction:short`` trades the entries as shorts, ``risk_free_rate`` lowers Sharpe (the
    excess return is smaller), monte-carlo's ``ruin`` sets the ruin threshold; each is recorded
    in the run's options and repeat line, and a run with the defaults records none of them."""

    async def document(command_id: str, **options: object) -> dict[str, object]:
        reply = await run(service, command_id, export="json", **RANGE, **options)
        assert reply.ok, reply.description
        doc: dict[str, object] = json.loads(attachment(reply, "backtest.json"))
        return {**doc, "description": reply.description}

    def options_of(command_id: str) -> dict[str, str]:
        (ev,) = [e.event for e in stored(service, command_id)
                 if isinstance(e.event, BacktestCompleted)]  # fmt: skip
        return ev.parameters.options

    plain = await document("d-0")
    short = await document("d-1", direction="short")
    trades = short["trades"]
    assert isinstance(trades, list)
    assert trades
    assert {t["direction"] for t in trades} == {"short"}
    assert options_of("d-1") == {"direction": "short"}
    assert "direction:short" in str(short["description"])
    rated = await document("d-2", risk_free_rate=0.04)
    sharpe = [d["metrics"]["sharpe"] for d in (plain, rated)]  # type: ignore[index]
    assert sharpe[1] < sharpe[0]
    assert options_of("d-2") == {"risk_free_rate": "0.04"}
    mc = await document("d-3", mode="monte-carlo", resamples=50, ruin=0.2)
    assert mc["monte_carlo"]["ruin_drawdown"] == 0.2  # type: ignore[index]
    assert options_of("d-3") == {"method": "shuffle", "resamples": "50", "seed": "0",
                                 "ruin": "0.2"}  # fmt: skip
    assert options_of("d-0") == {}


async def test_fixed_fraction_sizing_and_a_position_cap_are_used_and_recorded(
    service: CommandService,
) -> None:
    """``fraction:0.05`` sizes each entry at 5 % of equity (no entry costs more than that of the
    run's highest equity), ``max_positions:1`` never holds two positions at once; both are
    recorded in the run's options."""
    reply = await run(service, "f-1", export="json", fraction=0.05, max_positions=1, **RANGE)
    assert reply.ok, reply.description
    doc = json.loads(attachment(reply, "backtest.json"))
    trades = sorted(doc["trades"], key=lambda t: t["entry_date"])
    assert trades
    top = max(p["value"] for p in doc["equity"])
    assert all(t["shares"] * t["entry_price"] <= 0.05 * top * 1.0001 for t in trades)
    assert all(b["entry_date"] >= a["exit_date"] for a, b in itertools.pairwise(trades))
    (ev,) = [e.event for e in stored(service, "f-1") if isinstance(e.event, BacktestCompleted)]
    assert ev.parameters.options == {"fraction": "0.05", "max_positions": "1"}


async def test_compare_sets_versions_of_one_strategy_side_by_side(service: CommandService) -> None:
    """``strategy:mine@1,mine@2 mode:compare`` runs two versions of a server's own strategy
    over the same data: one event each, with its version label and its text's hash, and the
    repeat line names both versions."""
    text = load_strategy(STRATEGY).text
    changed = text.replace("MACD Volume Thrust", "Mine")
    for version, yaml_text in ((1, text), (2, changed)):
        await append(service, [strategy_added(GUILD, "mine", yaml_text, version)], f"a{version}")
    reply = await run(service, "cmp-v", mode="compare", strategy="mine@1,mine@2")
    assert reply.ok, reply.description
    done = [e.event for e in stored(service, "cmp-v") if isinstance(e.event, BacktestCompleted)]
    assert [(e.strategy_key, e.strategy_version) for e in done] == [("mine", "v1"), ("mine", "v2")]
    assert [e.strategy_hash for e in done] == [
        hashlib.sha256(t.encode()).hexdigest() for t in (text, changed)
    ]
    assert "strategy:mine@1,mine@2 " in reply.description


async def test_the_repeat_line_keeps_every_setting_that_differs_from_its_default(
    service: CommandService,
) -> None:
    """A setting whose value is 0 but whose default is not (``earnings_lead:0``) is in the
    repeat line; the common defaults (capital 100000, no commission or slippage) are not."""
    reply = await run(service, "rl", skip_earnings_within=5, earnings_lead=0, commission=1)
    assert reply.ok, reply.description
    line = reply.description.rsplit("Repeat exactly with ", 1)[1]
    assert "skip_earnings_within:5 earnings_lead:0`" in line
    assert "commission:1" in line
    assert "capital:" not in line
    assert "slippage_bps:" not in line
