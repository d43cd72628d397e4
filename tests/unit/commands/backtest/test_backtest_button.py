"""A strategy's "Backtest" button: the custom id any room builds, and the command a click runs."""

from __future__ import annotations

from commands.core.models import backtest_button
from commands.discord.views import backtest_action, draft_action


def test_a_shipped_strategys_button_runs_backtest_of_it() -> None:
    """The button of a shipped strategy runs /backtest (slow: deferred) with its key only."""
    button = backtest_button("macd_volume_thrust")
    assert button.label == "Backtest"
    assert backtest_action(button.custom_id) == (
        "backtest",
        {"strategy": "macd_volume_thrust"},
        True,
    )


def test_a_server_versions_button_names_that_version() -> None:
    """The button of a server's strategy at version 3 runs /backtest of version 3."""
    custom_id = backtest_button("mine", 3).custom_id
    assert backtest_action(custom_id) == ("backtest", {"strategy": "mine", "version": 3}, True)


def test_other_ids_are_not_backtest_buttons() -> None:
    """Another button's id, or the bare prefix, is no backtest action (nor a draft's)."""
    assert backtest_action("ibpicker:logtrade:scan-1:AAPL") is None
    assert backtest_action("ibpicker:backtest:") is None
    assert draft_action(backtest_button("x").custom_id) is None
