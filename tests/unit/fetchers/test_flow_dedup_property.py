"""Property: flow-alert deduplication keeps each new (option chain, created at) exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from events.market import FlowAlert
from fetchers.service import deduplicate_alerts

BASE = datetime(2026, 11, 25, 15, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "SPY")


def _alert(symbol: str, chain: int, minute: int) -> FlowAlert:
    return FlowAlert(
        option_chain=f"{symbol}261218C{chain:08d}",
        ticker=symbol,
        created_at=BASE + timedelta(minutes=minute),
        option_type="call",
        strike=100.0,
        expiry=date(2026, 12, 18),
        total_premium=1000.0,
        ask_side_premium=600.0,
        bid_side_premium=400.0,
        volume=10,
        open_interest=5,
        underlying_price=99.0,
    )


alerts = st.lists(
    st.builds(_alert, st.sampled_from(SYMBOLS), st.integers(0, 3), st.integers(0, 3)),
    max_size=40,
)


@given(answer=alerts, journal=alerts, asked=st.sets(st.sampled_from(SYMBOLS), min_size=1))
def test_dedup_keeps_each_unknown_alert_of_an_asked_symbol_exactly_once(
    answer: list[FlowAlert], journal: list[FlowAlert], asked: set[str]
) -> None:
    """Invariant: the kept keys are unique, none was known, and known ∪ kept equals known ∪
    the answer's keys for the asked symbols; each symbol's list is in time order."""
    known = {s: {(a.option_chain, a.created_at) for a in journal if a.ticker == s} for s in asked}
    before = {s: set(ids) for s, ids in known.items()}
    fresh = deduplicate_alerts(answer, known)
    assert set(fresh) <= asked
    for symbol in asked:
        kept = [(a.option_chain, a.created_at) for a in fresh.get(symbol, [])]
        assert len(kept) == len(set(kept))
        assert set(kept).isdisjoint(before[symbol])
        answered = {(a.option_chain, a.created_at) for a in answer if a.ticker == symbol}
        assert before[symbol] | set(kept) == before[symbol] | answered
        times = [t for _, t in kept]
        assert times == sorted(times)
