"""Counting words for people: the one pluralising helper of the project.

It lives here, in the lowest package that writes text for people (strategy summaries, skip
reasons), so that ``analysis`` and ``commands`` (which re-exports it as ``commands.text.plural``)
share it.
"""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 pick``, ``2 picks``, ``0 days``: a count with its noun (``many`` when the plural is
    not the noun + s)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"
