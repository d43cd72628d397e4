"""The "Log trade" button and form: stateless custom ids and the /trade open options they yield."""

from __future__ import annotations

from commands.discord import views

BUTTON = "ibpicker:logtrade:scan-ab12:NFLX"


def test_form_id_and_button_id_round_trip() -> None:
    """The modal's custom id leads back to the button's, with no state kept anywhere."""
    assert views.button_id(views.form_id(BUTTON)) == BUTTON
    assert views.button_id("someone-else:modal") is None
    assert views.is_log_trade(BUTTON)


def test_form_is_prefilled_from_the_pick() -> None:
    """The form shows the pick's values and at most five inputs (Discord's limit)."""
    prefill = {"symbol": "NFLX", "direction": "long", "entry": "466.08", "stop": "449.77"}
    title, custom_id, inputs = views.log_trade_form(BUTTON, prefill)
    values = {i.component.custom_id: i.component.value for i in inputs}  # type: ignore[union-attr]
    assert title == "Log trade: NFLX"
    assert custom_id == views.form_id(BUTTON)
    assert len(inputs) <= 5
    assert values["entry"] == "466.08"
    assert values["size"] is None


def test_typed_values_win_over_the_pick_and_blanks_are_dropped() -> None:
    """What the member typed replaces the pick's value; empty inputs are left out."""
    prefill = {"symbol": "NFLX", "signal": "scan-ab12:NFLX", "entry": "466.08", "strategy": "X"}
    options = views.trade_options(
        BUTTON, prefill, {"entry": "465", "size": "3", "direction": "long", "stop": " "}
    )
    assert options == {
        "symbol": "NFLX",
        "signal": "scan-ab12:NFLX",
        "entry": "465",
        "size": "3",
        "direction": "long",
    }


def test_a_gone_pick_still_names_its_symbol() -> None:
    """When the pick is no longer stored, the symbol comes from the button itself."""
    assert views.trade_options(BUTTON, {}, {"size": "1"})["symbol"] == "NFLX"
