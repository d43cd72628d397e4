"""The one value gate (``commands.core.values``): decimals, integers and text, refused or
canonical."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commands.core.values import (
    MAX_AUDIT_OPTIONS,
    MAX_AUDIT_VALUE,
    MAX_DAYS,
    OptionError,
    audit_options,
    clean_text,
    command_name,
    decimal_value,
    int_value,
    text_value,
)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1e-999999999", "more than 8 decimal places"),
        ("100.000000000000000000000000001", "more than 8 decimal places"),
        (Decimal("1E-999999999"), "more than 8 decimal places"),
        ("0.000000001", "more than 8 decimal places"),
        (1e-300, "more than 8 decimal places"),
        ("1E+999999999", "at most 10,000,000,000 (got 1E+999999999)"),
        ("-1E+999999999", "at most 10,000,000,000"),
        pytest.param(10**5000, "at most 10,000,000,000", id="int-of-5001-digits"),
        ("nan", "finite"),
        ("-sNaN", "finite"),
        ("Infinity", "finite"),
        (float("inf"), "finite"),
        ("1,5", "decimal point"),
        ("12abc", "must be a number, not '12abc'"),
        ("9" * 65, "not 65 characters"),
        (True, "must be a number"),
    ],
)
def test_decimals_that_would_need_rounding_or_overflow_are_refused(
    raw: object, message: str
) -> None:
    """Each of these is refused with a message naming the option and the reason; none is
    rounded into something else (``1E-999999999`` used to become 0, the 31-digit one 100)."""
    with pytest.raises(OptionError, match=r"^entry ") as refused:
        decimal_value("entry", raw)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("187.5", "187.5"),
        ("10.0", "10"),
        ("1.500000000000", "1.5"),
        ("0.00000001", "1E-8"),
        ("$1,000.25", "1000.25"),
        (187.5, "187.5"),
        (12, "12"),
        ("1e10", "10000000000"),
        ("-0", "0"),
        ("0E-999999999", "0"),
    ],
)
def test_accepted_decimals_are_exact_and_canonical(raw: object, canonical: str) -> None:
    """An accepted value keeps its exact value, with no more than 8 places and integral values
    without an exponent (``10.0`` is 10, never ``1E+1``)."""
    value = decimal_value("entry", raw)
    assert str(value) == canonical
    assert value == Decimal(canonical)
    assert -value.as_tuple().exponent <= 8  # type: ignore[operator]


def test_a_lower_bound_is_kept() -> None:
    """``low`` refuses a value below it and names it."""
    with pytest.raises(OptionError, match="min_premium must be at least 0"):
        decimal_value("min_premium", "-1", low=Decimal(0))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("10000000000", "days must be between 1 and 36,500 (got 10000000000)"),
        ("99999999999999999999999", "days must be between 1 and 36,500"),
        ("0", "days must be between 1 and 36,500 (got 0)"),
        pytest.param(10**5000, "integer of", id="int-of-5001-digits"),
        ("1" * 5000, "not 5,000 characters"),
        ("1.5", "whole number"),
        (True, "whole number"),
    ],
)
def test_integers_are_bounded_to_what_their_consumers_take(raw: object, message: str) -> None:
    """Days beyond a century, huge or malformed numbers are refused with the bounds named."""
    with pytest.raises(OptionError) as refused:
        int_value("days", raw, low=1, high=MAX_DAYS)
    assert message in str(refused.value)


def test_mentions_are_read_as_ids() -> None:
    """``<#42>`` and ``<@!42>`` (what a console user pastes from Discord) are the id 42."""
    assert int_value("channel", "<#42>", low=1, high=2**63 - 1) == 42
    assert int_value("member", "<@!42>", low=1, high=2**63 - 1) == 42


def test_text_loses_control_characters_surrogates_and_bidi_overrides() -> None:
    """Controls go, line breaks and tabs become spaces, emoji joiners stay."""
    assert clean_text(" a\x00b\tc\u202eX\ud800\n ") == "ab cX"
    assert clean_text("👩\u200d💻 ok") == "👩\u200d💻 ok"
    assert text_value("note", "fine") == "fine"


def test_text_longer_than_its_bound_is_refused() -> None:
    """A note longer than its bound is refused with its length and the bound."""
    with pytest.raises(OptionError, match=r"note is too long \(1,001 characters; at most 1,000\)"):
        text_value("note", "x" * 1001)


def test_audit_keeps_a_bounded_clean_record_of_any_input() -> None:
    """The audit keeps at most 25 options, names and values cut, no control characters, and
    never fails on a value ``str`` refuses (an int of more than 4,300 digits)."""
    raw: dict[str, object] = {f"o{i}": "v\x00" * 500 for i in range(40)}
    raw["o0"] = 10**5000
    kept = audit_options(raw)
    assert len(kept) == MAX_AUDIT_OPTIONS
    assert all(len(v) <= MAX_AUDIT_VALUE + 1 and "\x00" not in v for v in kept.values())
    assert kept["o0"].startswith("an integer of")
    assert command_name("/Trade   OPEN\x00") == "trade open"
