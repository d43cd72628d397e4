"""Readiness reasons: what /readyz tells the platform and the operator."""

from __future__ import annotations

from pathlib import Path

import msgspec

from events.journal import AsyncJournal, Journal
from sync.health import NO_LEASE, HealthStatus
from sync.local_blob import LocalBlobStore
from sync.runtime import SyncRuntime

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


REPLICA = msgspec.structs.replace(
    READY,
    lease_state=NO_LEASE,
    applied_position=10,
    max_lag_events=100,
    max_lag_seconds=30.0,
    shards=[0, 2],
    shard_count=4,
)


def test_a_replica_needs_no_lease_and_is_ready_within_its_lag_bounds() -> None:
    """A replica on the shared journal holds no lease: it is ready while its lag is within both
    bounds (at a bound counts as within)."""
    at_bounds = msgspec.structs.replace(REPLICA, lag_events=100, lag_seconds=30.0)
    assert REPLICA.reasons_not_ready() == []
    assert at_bounds.reasons_not_ready() == []


def test_a_replica_beyond_either_lag_bound_is_not_ready_saying_how_far_behind() -> None:
    """Beyond the events bound or the seconds bound, the reason names both figures and bounds."""
    events = msgspec.structs.replace(REPLICA, lag_events=101, lag_seconds=1.0)
    seconds = msgspec.structs.replace(REPLICA, lag_events=2, lag_seconds=30.5)
    assert events.reasons_not_ready() == [
        "projections 101 events (1.0 s) behind the journal head (bound 100 events, 30.0 s)"
    ]
    assert seconds.reasons_not_ready() == [
        "projections 2 events (30.5 s) behind the journal head (bound 100 events, 30.0 s)"
    ]


def test_the_sqlite_runtime_reports_its_shards(tmp_path: Path) -> None:
    """A sharded bot on the SQLite journal (one replica) reports its shards in its health too."""
    journal = AsyncJournal(Journal.open(tmp_path / "journal.sqlite"))
    runtime = SyncRuntime(journal, LocalBlobStore(tmp_path / "blob"), shards=[0, 1], shard_count=2)
    try:
        status = runtime.health()
    finally:
        journal.journal.close()
    assert (status.shards, status.shard_count) == ([0, 1], 2)
