"""The events package's one root error: ``EventsError``.

Its kinds live beside what raises them: ``events.codec.EventCodecError`` (an event that cannot be
encoded or decoded), ``events.journal.JournalError`` (the journal refusing or finding a fault),
``events.segments.SegmentError`` (a segment that is not what it claims). The edges (the CLI's
``explain``, the sync commands) translate them into messages.
"""

from __future__ import annotations


class EventsError(Exception):
    """Root of every error the events package raises on purpose."""
