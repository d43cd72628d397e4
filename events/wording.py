"""Counting words for people: the one pluralising helper of the project.

It lives in the lowest package, beside the one clock (``events.clock``), because every layer
writes counts for people: strategy summaries and skip reasons (``analysis``), journal summaries
(``projections``) and replies (``commands``, which re-exports it as ``commands.core.text.plural``).
"""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 pick``, ``2 picks``, ``0 days``: a count with its noun (``many`` when the plural is
    not the noun + s)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"
