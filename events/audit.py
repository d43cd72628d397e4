"""Audit events: every command handled, read-only ones included."""

from __future__ import annotations

from events.base import Event


class CommandHandled(Event, frozen=True, kw_only=True, tag="command_handled"):
    """A command was handled: its name, options, outcome and how long it took.

    ``outcome`` is ``ok``, ``rejected`` (bad input; ``message`` says why) or ``error``.
    Options are stored as strings, exactly as typed, so the audit trail shows what users sent.
    ``reply`` is the reply the member saw, as compact JSON (bounded, no attachments), so a retry
    of the same command after a restart answers the same; empty in events written before it.
    """

    name: str
    options: dict[str, str] = {}
    outcome: str = "ok"
    message: str = ""
    latency_ms: float = 0.0
    reply: str = ""
