"""The strategy file format: loading, defaults, naming of outputs, and errors that say where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from analysis.errors import StrategyError
from analysis.strategy import (
    INDICATOR_TYPES,
    OPERATORS,
    FlowSignal,
    PriceAction,
    list_strategies,
    load_strategy,
    parse_strategy,
    summary_lines,
)

FIXTURES = Path(__file__).parent / "fixtures"
COMPAT = Path(__file__).parents[2] / "fixtures" / "compat_strategies"
"""The old tool's six example strategies, byte for byte (they must run unchanged)."""

MINIMAL = """\
strategy:
  name: "t"
indicators:
  - name: "rsi_14"
    type: "RSI"
    params: {period: 14}
  - name: "m"
    type: "MACD"
  - name: "bb"
    type: "BOLLINGER"
entry:
  conditions:
    - type: "indicator_threshold"
      indicator: "rsi_14"
      operator: "lt"
      value: 30
exit:
  stop_loss:
    type: "atr_multiple"
    multiplier: 2
"""


def _error(text: str, source: str = "mine.yaml") -> StrategyError:
    with pytest.raises(StrategyError) as caught:
        parse_strategy(text.encode(), source)
    return caught.value


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_fixture_loads(path: Path) -> None:
    """Each of our six fixtures (the compat files' feature set) loads and validates."""
    strategy = load_strategy(path)
    assert strategy.spec.entry.conditions
    assert strategy.source == str(path)


def test_the_hash_is_the_sha256_of_the_file_bytes() -> None:
    """A strategy's hash identifies the exact file that produced a signal; its text is kept."""
    path = FIXTURES / "rsi_flow.yaml"
    strategy = load_strategy(path)
    assert strategy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert strategy.text == path.read_text()


def test_packaged_strategies_are_listed_and_loadable_by_key() -> None:
    """The shipped examples are listed sorted by key and load by that key."""
    listed = list_strategies()
    keys = [s.key for s in listed]
    assert keys == sorted(keys)
    assert len(keys) >= 4
    assert load_strategy(keys[0]).sha256 == listed[0].sha256


def test_packaged_strategies_cover_every_type() -> None:
    """Together the shipped examples use every indicator, condition and exit type."""
    listed = list_strategies()
    indicator_types = {i.type for s in listed for i in s.spec.indicators}
    condition_types = {type(c) for s in listed for c in s.spec.entry.conditions}
    exit_types = {
        rule.type
        for s in listed
        for rule in (s.spec.exit.take_profit, s.spec.exit.stop_loss, s.spec.exit.trailing_stop)
        if rule is not None
    }
    logics = {s.spec.entry.logic for s in listed}
    assert indicator_types == set(INDICATOR_TYPES)
    assert len(condition_types) == 3
    assert exit_types == {"percentage", "atr_multiple", "fixed_price", "trailing_stop"}
    assert logics == {"all", "any"}


def test_an_unknown_packaged_name_lists_the_valid_ones() -> None:
    """Asking for a strategy that is not shipped names the ones that are."""
    with pytest.raises(StrategyError, match=r"no such strategy; valid: .*trend_pullback_flow"):
        load_strategy("no_such_thing")


def test_a_missing_file_names_the_file() -> None:
    """A path that does not exist is reported with the path."""
    with pytest.raises(StrategyError, match=r"nowhere\.yaml: cannot read"):
        load_strategy("nowhere.yaml")


def test_defaults_and_profile_apply() -> None:
    """Unstated params take their documented defaults; the profile gives the risk settings."""
    strategy = parse_strategy(MINIMAL.encode(), "mine.yaml")
    macd = strategy.indicators["m"]
    assert macd.resolved_params() == {
        "fast_period": 12,
        "slow_period": 26,
        "signal_period": 9,
        "source": "close",
    }
    assert macd.bars_needed() == 34
    assert strategy.indicators["rsi_14"].bars_needed() == 15
    profile = strategy.risk_profile
    assert (profile.risk_per_trade_pct, profile.min_risk_reward, profile.max_positions) == (
        1.0,
        2.0,
        8,
    )


def test_risk_overrides_win_over_the_profile() -> None:
    """risk_per_trade (a fraction of equity, as the old tool read it: 0.0025 = 0.25 %),
    min_risk_reward and max_positions in the file override the profile."""
    text = (
        MINIMAL + "risk:\n  profile: conservative\n  risk_per_trade: 0.0025\n  max_positions: 2\n"
    )
    profile = parse_strategy(text.encode(), "mine.yaml").risk_profile
    assert (profile.risk_per_trade, profile.min_risk_reward, profile.max_positions) == (
        0.0025,
        3.0,
        2,
    )
    assert profile.risk_per_trade_pct == pytest.approx(0.25)


def test_risk_per_trade_is_a_fraction_of_equity_like_the_old_tool() -> None:
    """An old file's ``risk_per_trade: 0.02`` means 2 % of equity (not 0.02 %), and the profile
    table is the old one in fractions: conservative 0.5 %, moderate 1 %, aggressive 2 %."""
    text = MINIMAL + "risk:\n  profile: moderate\n  risk_per_trade: 0.02\n"
    profile = parse_strategy(text.encode(), "mine.yaml").risk_profile
    assert profile.risk_per_trade == 0.02
    assert profile.risk_per_trade_pct == pytest.approx(2.0)
    by_profile = {
        name: parse_strategy(
            (MINIMAL + f"risk:\n  profile: {name}\n").encode(), "mine.yaml"
        ).risk_profile.risk_per_trade
        for name in ("conservative", "moderate", "aggressive")
    }
    assert by_profile == {"conservative": 0.005, "moderate": 0.01, "aggressive": 0.02}


@pytest.mark.parametrize("value", ["0", "-0.01", "1.5", "2", "100", ".nan"])
def test_risk_per_trade_outside_zero_to_one_is_refused_as_a_fraction(value: str) -> None:
    """A risk_per_trade outside (0, 1] is refused, and the message says it is a fraction
    (so a percent written as ``2`` is caught rather than risking 200 %)."""
    text = MINIMAL + f"risk:\n  profile: moderate\n  risk_per_trade: {value}\n"
    error = _error(text)
    assert [p.field for p in error.problems] == ["risk.risk_per_trade"]
    message = str(error)
    assert "fraction of equity" in message
    assert "0.02 = 2 %" in message


def test_a_whole_equity_risk_of_one_is_the_upper_bound_and_accepted() -> None:
    """``risk_per_trade: 1`` (all of equity) is the bound of (0, 1] and loads."""
    text = MINIMAL + "risk:\n  profile: aggressive\n  risk_per_trade: 1\n"
    assert parse_strategy(text.encode(), "mine.yaml").risk_profile.risk_per_trade == 1.0


def test_profile_custom_with_risk_per_trade_is_accepted() -> None:
    """``profile: custom`` (valid in the old format) takes its risk from ``risk_per_trade`` and
    its other limits from the file, else the moderate defaults; the summary says so."""
    text = MINIMAL + "risk:\n  profile: custom\n  risk_per_trade: 0.015\n  min_risk_reward: 2.5\n"
    strategy = parse_strategy(text.encode(), "mine.yaml")
    profile = strategy.risk_profile
    assert (profile.risk_per_trade, profile.min_risk_reward, profile.max_positions) == (
        0.015,
        2.5,
        8,
    )
    assert any(line.startswith("risk: custom, 1.5% of equity") for line in summary_lines(strategy))


def test_profile_custom_without_risk_per_trade_is_refused() -> None:
    """A custom profile has no risk of its own: without risk_per_trade it is refused, naming the
    field."""
    error = _error(MINIMAL + "risk:\n  profile: custom\n")
    assert [p.field for p in error.problems] == ["risk.risk_per_trade"]
    assert "profile custom needs risk_per_trade" in str(error)


@pytest.mark.parametrize("path", sorted(COMPAT.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_old_tool_file_loads_unchanged_with_its_profile_risk(path: Path) -> None:
    """The six example files of the old tool (copied byte for byte) load as they are, and their
    risk per trade is their profile's fraction."""
    strategy = load_strategy(path)
    expected = {"conservative": 0.005, "moderate": 0.01, "aggressive": 0.02}
    assert strategy.risk_profile.risk_per_trade == expected[strategy.spec.risk.profile]


def test_shipped_strategies_risk_at_most_two_percent() -> None:
    """Every shipped strategy risks a sane fraction per trade (0.5 %-2 %), read as a fraction."""
    risks = {s.key: s.risk_profile.risk_per_trade for s in list_strategies()}
    assert all(0.005 <= r <= 0.02 for r in risks.values()), risks
    assert risks["fixed_levels"] == 0.0075


@pytest.mark.parametrize(
    ("ref", "indicator", "output"),
    [
        ("m", "m", "line"),
        ("m.line", "m", "line"),
        ("m.signal", "m", "signal"),
        ("m.histogram", "m", "histogram"),
        ("bb", "bb", "middle"),
        ("bb.upper", "bb", "upper"),
        ("bb.lower", "bb", "lower"),
        ("rsi_14", "rsi_14", "value"),
        ("close", None, "close"),
    ],
)
def test_multi_output_indicators_are_addressable(
    ref: str, indicator: str | None, output: str
) -> None:
    """``name`` is the main line and ``name.output`` each other output; price fields too."""
    resolved = parse_strategy(MINIMAL.encode(), "mine.yaml").resolve(ref)
    assert (resolved.indicator, resolved.output) == (indicator, output)


def test_unknown_operator_names_file_field_and_valid_operators() -> None:
    """An unknown operator is rejected with the file, the field path and every valid operator."""
    error = _error(MINIMAL.replace('operator: "lt"', 'operator: "gte"'))
    message = str(error)
    assert message.startswith("mine.yaml: entry.conditions[0].operator: unknown operator 'gte'")
    assert all(op in message for op in OPERATORS)


def test_unknown_indicator_type_lists_valid_types() -> None:
    """An unknown indicator type is rejected listing the eight valid ones."""
    message = str(_error(MINIMAL.replace('type: "RSI"', 'type: "STOCH"')))
    assert "mine.yaml: indicators[0].type: unknown indicator type 'STOCH'" in message
    assert all(kind in message for kind in INDICATOR_TYPES)
    assert "entry.conditions" not in message  # no follow-on errors about the reference


def test_a_condition_on_an_undeclared_indicator_is_rejected() -> None:
    """Referring to an indicator that is not declared names it and the valid references."""
    message = str(_error(MINIMAL.replace('indicator: "rsi_14"', 'indicator: "rsi_21"')))
    assert "entry.conditions[0].indicator: unknown indicator 'rsi_21'" in message
    assert "m.signal" in message
    assert "bb.upper" in message


def test_an_unknown_output_lists_the_outputs() -> None:
    """``macd.sig`` is rejected and the valid MACD outputs are listed."""
    message = str(_error(MINIMAL.replace("value: 30", 'value: "m.sig"')))
    assert "entry.conditions[0].value: MACD indicator 'm' has no output 'sig'" in message
    assert "m.histogram" in message


def test_an_unknown_field_is_a_typo_listing_the_valid_fields() -> None:
    """A misspelt key is rejected (not ignored) with the section's valid fields."""
    message = str(_error(MINIMAL.replace("multiplier: 2", "multipler: 2")))
    assert (
        message
        == "mine.yaml: exit.stop_loss.multipler: unknown field; valid: type, value, multiplier, atr"
    )


def test_an_unknown_condition_type_lists_the_valid_ones() -> None:
    """An unknown condition type is rejected with the three valid types."""
    message = str(_error(MINIMAL.replace('type: "indicator_threshold"', 'type: "volume_spike"')))
    assert "entry.conditions[0].type: unknown condition type 'volume_spike'" in message
    assert "indicator_threshold, flow_signal, price_action" in message


def test_wrong_value_types_name_the_field() -> None:
    """A list where a number or name is expected is reported at its field path."""
    message = str(_error(MINIMAL.replace("value: 30", "value: [30]")))
    assert message.startswith("mine.yaml: entry.conditions[0].value: expected `float | str`")


def test_an_invalid_parameter_is_reported() -> None:
    """A fractional period and an unknown parameter are both reported, with the valid names."""
    text = MINIMAL.replace("params: {period: 14}", "params: {period: 14.5, lenght: 3}")
    error = _error(text)
    fields = [p.field for p in error.problems]
    assert fields == ["indicators[0].params.period", "indicators[0].params.lenght"]
    assert "valid: period, source" in str(error)


def test_price_action_needs_a_price_field() -> None:
    """price_action on something other than open/high/low/close/volume is rejected."""
    text = MINIMAL.replace(
        'type: "indicator_threshold"\n      indicator: "rsi_14"',
        'type: "price_action"\n      indicator: "rsi_14"',
    )
    message = str(_error(text))
    assert "entry.conditions[0].indicator: unknown price field 'rsi_14'" in message


def test_ambiguous_atr_multiple_is_rejected() -> None:
    """An ATR exit with different value and multiplier is ambiguous and refused."""
    message = str(_error(MINIMAL.replace("multiplier: 2", "multiplier: 2\n    value: 3")))
    assert "exit.stop_loss: atr_multiple has value 3.0 and multiplier 2.0" in message


def test_a_trailing_take_profit_is_rejected() -> None:
    """take_profit cannot be of type trailing_stop; the valid types are listed."""
    text = MINIMAL + "  take_profit:\n    type: trailing_stop\n    value: 3\n"
    message = str(_error(text))
    assert "exit.take_profit.type: unknown take_profit type 'trailing_stop'" in message
    assert "percentage, atr_multiple, fixed_price" in message


def test_yaml_syntax_errors_name_the_line() -> None:
    """Broken YAML is reported with its line and column."""
    message = str(_error("strategy:\n  name: [unclosed\n"))
    assert message.startswith("mine.yaml: line ")
    assert "invalid YAML" in message


def test_missing_sections_are_named() -> None:
    """A file without entry is rejected naming the missing field."""
    assert str(_error('strategy:\n  name: "x"\n')) == ("mine.yaml: missing required field `entry`")


def test_flow_and_price_conditions_parse_into_their_types() -> None:
    """Condition types map to their own records, with flow defaults filled in."""
    text = MINIMAL.replace(
        "      value: 30\n",
        "      value: 30\n"
        '    - type: "flow_signal"\n      direction: "bearish"\n'
        '    - type: "price_action"\n      indicator: "close"\n'
        '      operator: "cross_above"\n      value: "bb.upper"\n',
    )
    conditions = parse_strategy(text.encode(), "mine.yaml").spec.entry.conditions
    flow, price = conditions[1], conditions[2]
    assert isinstance(flow, FlowSignal)
    assert (flow.direction, flow.min_premium, flow.recency_minutes, flow.min_alerts) == (
        "bearish",
        0.0,
        60.0,
        1,
    )
    assert isinstance(price, PriceAction)
    assert price.value == "bb.upper"


def test_flow_numbers_must_be_usable() -> None:
    """A NaN or absurd recency window and a negative premium floor are rejected at load time."""
    text = MINIMAL.replace(
        "      value: 30\n",
        "      value: 30\n"
        "    - {type: flow_signal, recency_minutes: .nan, min_premium: -5}\n"
        "    - {type: flow_signal, recency_minutes: 1000000000}\n",
    )
    problems = {p.field: p.problem for p in _error(text).problems}
    assert problems == {
        "entry.conditions[1].recency_minutes": "must be more than 0 and at most 527,040 (a year)",
        "entry.conditions[1].min_premium": "must be a number ≥ 0",
        "entry.conditions[2].recency_minutes": "must be more than 0 and at most 527,040 (a year)",
    }


def test_the_summary_counts_one_position_and_one_bar_in_the_singular() -> None:
    """``max_positions: 1`` reads "at most 1 position"; a volume lookback of 1 "1-bar"."""
    text = MINIMAL + "risk:\n  profile: moderate\n  max_positions: 1\n"
    lines = summary_lines(parse_strategy(text.encode(), "mine.yaml"))
    assert any(line.endswith("at most 1 position") for line in lines), lines
