"""The health server over real HTTP: liveness, readiness reasons, Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from events.journal import AsyncJournal
from sync.local_blob import LocalBlobStore
from sync.runtime import SyncConfig, SyncRuntime
from sync.writer_lease import LeaseKeeper, LeaseState
from tests.integration.sync.waits import until
from tests.support.sync_doubles import fill, open_journal_at


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    """An empty journal."""
    aj = AsyncJournal(open_journal_at(tmp_path / "data"))
    yield aj
    await aj.close()


async def get(port: int, path: str) -> tuple[int, str]:
    """GET a path from the health server."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as r,
    ):
        return r.status, await r.text()


def runtime(journal: AsyncJournal, store: LocalBlobStore, connected: list[bool]) -> SyncRuntime:
    """A runtime on port 0 with a short lease retry."""
    rt = SyncRuntime(
        journal,
        store,
        SyncConfig(health_port=0, lease_duration_s=15, segment_max_age_s=0.1),
        discord_connected=lambda: connected[0],
    )
    rt.lease.retry_s = 0.02
    return rt


async def test_ready_only_when_restored_lease_held_and_connected(
    journal: AsyncJournal, tmp_path: Path
) -> None:
    """/readyz says 'waiting for lease…' while another instance holds it, then 200 once all hold."""
    store = LocalBlobStore(tmp_path / "blob")
    other = LeaseKeeper(store, duration_s=15)
    await other.acquire()
    connected = [False]
    rt = runtime(journal, store, connected)
    starting = asyncio.create_task(rt.start())
    await until(
        lambda: rt.health_server is not None and rt.lease.state is LeaseState.WAITING,
        "the health server to serve while the lease is waited for",
    )
    assert rt.health_server is not None
    port = rt.health_server.port
    assert (await get(port, "/healthz"))[0] == 200
    status, body = await get(port, "/readyz")
    assert status == 503
    assert "waiting for lease held by another instance" in body
    await other.release()
    await asyncio.wait_for(starting, 3)
    status, body = await get(port, "/readyz")
    assert status == 503
    assert "Discord not connected" in body
    connected[0] = True
    assert (await get(port, "/readyz"))[0] == 200
    await rt.stop()


async def test_metrics_report_head_shipped_lag_and_lease(
    journal: AsyncJournal, tmp_path: Path
) -> None:
    """/metrics is Prometheus text with journal head, shipped position, lag and lease state."""
    store = LocalBlobStore(tmp_path / "blob")
    rt = runtime(journal, store, [True])
    await rt.start()
    assert rt.health_server is not None
    port = rt.health_server.port
    fill(journal.journal, 7)
    _, text = await get(port, "/metrics")
    assert "ibpicker_journal_head 7.0" in text
    assert 'ibpicker_lease_state{state="held"} 1.0' in text
    await asyncio.wait_for(rt.shipper.wait_shipped(7), 3)
    _, text = await get(port, "/metrics")
    assert "ibpicker_shipped_position 7.0" in text
    assert "ibpicker_shipping_lag_events 0.0" in text
    assert "ibpicker_restore_seconds" in text
    await rt.stop()


async def test_stop_ships_final_segment_releases_lease_and_unreadies(
    journal: AsyncJournal, tmp_path: Path
) -> None:
    """A graceful stop ships what was appended, refuses appends, and frees the lease."""
    store = LocalBlobStore(tmp_path / "blob")
    rt = SyncRuntime(journal, store, SyncConfig(health_port=None, segment_max_age_s=60))
    await rt.start()
    fill(journal.journal, 12)
    assert await rt.stop()
    assert rt.shipper.shipped == 12
    assert await LeaseKeeper(store, duration_s=15).acquire(wait=False)
    from sync.errors import NotWritableError

    with pytest.raises(NotWritableError, match="shutting down"):
        rt.ensure_writable()


def test_config_from_settings_follows_the_environment(tmp_path: Path) -> None:
    """Settings fill the sync config; the health server binds all interfaces only when deployed;
    segment knobs left unset keep the shipper's defaults (500 events, 2 s); set ones pass."""
    from settings import load_settings

    local = SyncConfig.from_settings(load_settings(data_dir=tmp_path, durable_ack=True))
    assert (local.durable_ack, local.health_host) == (True, "127.0.0.1")
    assert (local.segment_max_events, local.segment_max_age_s) == (500, 2.0)
    deployed = SyncConfig.from_settings(load_settings(data_dir=tmp_path, environment="prod"))
    assert deployed.health_host == "0.0.0.0"
    tuned = load_settings(data_dir=tmp_path, segment_max_events=250, segment_max_age_s=0.5)
    config = SyncConfig.from_settings(tuned)
    assert (config.segment_max_events, config.segment_max_age_s) == (250, 0.5)
