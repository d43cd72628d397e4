"""Persistent components: the "Log trade" button under each pick and the modal it opens, and a
strategy draft's "Save" and "Try it" buttons.

A pick's button has the namespaced custom id ``ibpicker:logtrade:<scan_id>:<symbol>`` (built by the
handlers). Nothing about it lives in memory: any bot instance, including one started after the
message was posted, recognises the prefix, asks the command service for the pick's values and opens
a modal prefilled with them. The modal's custom id carries the same scan and symbol
(``ibpicker:logtrade-form:<scan_id>:<symbol>``), so its submission is equally stateless: it runs
``/trade open`` with what the member typed over the pick's values.

A draft's buttons (``ibpicker:draft-save:<command id>``, ``ibpicker:draft-try:<command id>``, built
by ``commands.strategies.draft``) name the command that drafted it; a click runs ``/strategy save``
or ``/strategy try`` with that draft, which the service reads back from the journal. They too
work on a message posted by an earlier run of the bot. So does a strategy's "Backtest" button
(``ibpicker:backtest:<key>[:<version>]``, ``commands.core.models.backtest_button``): ``/backtest``
of that strategy over the watchlist; a draft's (``ibpicker:backtest:draft:<command id>``) runs
``/backtest strategy:draft:<command id>``, the draft's text read back from the journal.
"""

from __future__ import annotations

from collections.abc import Mapping

import disnake

from commands.core.models import BACKTEST_PREFIX
from commands.strategies.draft import DRAFT_REF, SAVE_PREFIX, TRY_PREFIX

LOG_TRADE_PREFIX = "ibpicker:logtrade:"
FORM_PREFIX = "ibpicker:logtrade-form:"
MODAL_TITLE_MAX = 45
# Discord allows five inputs in a modal: the ones a member adjusts. Symbol and signal come from
# the pick itself; the strategy follows from the signal (the prefill's "strategy" is the pick's
# display name, which /trade open's strategy option would not accept).
FORM_FIELDS = (
    ("direction", "Direction (long or short)", True),
    ("entry", "Entry price", True),
    ("size", "Size (shares or contracts)", True),
    ("stop", "Stop-loss price", False),
    ("target", "Target price", False),
)
FROM_PICK = ("symbol", "signal")


DRAFT_ACTIONS = {SAVE_PREFIX: ("strategy save", False), TRY_PREFIX: ("strategy try", True)}
"""A draft button's prefix → the command it runs and whether that command is slow (a scan)."""


def draft_action(custom_id: str) -> tuple[str, dict[str, object], bool] | None:
    """The command a draft's button runs (name, options, slow), or ``None`` for another id."""
    for prefix, (command, slow) in DRAFT_ACTIONS.items():
        if custom_id.startswith(prefix) and len(custom_id) > len(prefix):
            return command, {"draft": custom_id.removeprefix(prefix)}, slow
    return None


def backtest_action(custom_id: str) -> tuple[str, dict[str, object], bool] | None:
    """``/backtest`` of the strategy a "Backtest" button names (``BACKTEST_PREFIX``: its key,
    and a server's version number; or a draft's reference), or ``None`` for another id."""
    if not custom_id.startswith(BACKTEST_PREFIX):
        return None
    rest = custom_id.removeprefix(BACKTEST_PREFIX)
    if rest.startswith(DRAFT_REF):  # a draft's: the whole reference (an id may hold digits only)
        return ("backtest", {"strategy": rest}, True) if len(rest) > len(DRAFT_REF) else None
    key, _, version = rest.partition(":")
    if not key:
        return None
    options: dict[str, object] = {"strategy": key}
    if version.isdigit():
        options["version"] = int(version)
    return "backtest", options, True


def is_log_trade(custom_id: str) -> bool:
    """Whether a button is a pick's "Log trade" button."""
    return custom_id.startswith(LOG_TRADE_PREFIX)


def form_id(button_id: str) -> str:
    """The modal's custom id for a "Log trade" button's id."""
    return FORM_PREFIX + button_id.removeprefix(LOG_TRADE_PREFIX)


def button_id(form_custom_id: str) -> str | None:
    """The button id a modal came from, or ``None`` when it is not a "Log trade" form."""
    if not form_custom_id.startswith(FORM_PREFIX):
        return None
    return LOG_TRADE_PREFIX + form_custom_id.removeprefix(FORM_PREFIX)


def symbol_of(button: str) -> str:
    """The symbol at the end of a "Log trade" custom id."""
    return button.rsplit(":", 1)[-1]


def log_trade_form(
    button: str, prefill: Mapping[str, str]
) -> tuple[str, str, list[disnake.ui.Label]]:
    """Title, custom id and inputs of the modal a "Log trade" button opens."""
    symbol = prefill.get("symbol") or symbol_of(button)
    title = f"Log trade: {symbol}"[:MODAL_TITLE_MAX]
    inputs = [
        disnake.ui.Label(
            label,
            disnake.ui.TextInput(
                custom_id=name,
                value=prefill.get(name) or None,
                required=required,
                max_length=40,
            ),
        )
        for name, label, required in FORM_FIELDS
    ]
    return title, form_id(button), inputs


def trade_options(
    button: str, prefill: Mapping[str, str], typed: Mapping[str, str]
) -> dict[str, object]:
    """``/trade open`` options from a submitted form: what was typed over the pick's values."""
    options: dict[str, object] = {k: prefill[k] for k in FROM_PICK if prefill.get(k)}
    options.setdefault("symbol", symbol_of(button))
    for name, _, _ in FORM_FIELDS:
        value = typed.get(name, "").strip()
        if value:
            options[name] = value
    return options
