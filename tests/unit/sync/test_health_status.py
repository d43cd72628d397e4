"""Readiness reasons: what /readyz tells the platform and the operator."""

from __future__ import annotations

import msgspec

from sync.health import HealthStatus

READY = HealthStatus(
    restored=True,
    caught_up=True,
    lease_state="held",
    discord_connected=True,
    journal_head=10,
    shipped=10,
    segments=1,
    restore_seconds=0.1,
    store_available=True,
)


def test_ready_when_everything_holds() -> None:
    """Restored, caught up, lease held and connected: no reason not to be ready."""
    assert READY.reasons_not_ready() == []


def test_each_missing_condition_is_named() -> None:
    """Every unmet condition is named, the lease wait in the words the operator looks for."""
    status = msgspec.structs.replace(
        READY, restored=False, lease_state="waiting", discord_connected=False, failure="boom"
    )
    assert status.reasons_not_ready() == [
        "restoring the journal from Blob",
        "waiting for lease held by another instance",
        "Discord not connected",
        "shipping stopped: boom",
    ]


def test_lost_lease_and_shutdown_are_not_ready() -> None:
    """A lost lease or a shutdown in progress takes the instance out of rotation."""
    status = msgspec.structs.replace(READY, lease_state="lost", stopping=True, caught_up=False)
    assert status.reasons_not_ready() == [
        "shutting down",
        "projections catching up",
        "writer lease lost",
    ]
