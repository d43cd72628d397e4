"""The blob-store contract: every backend (Azurite-backed Azure, local folder) passes these tests.

Each test gets a ``Backend``: a store, a ``peer()`` (a second, independent store on the same
container, as another process or machine would have) and ``wait_past(s)``, which lets time pass:
for the local folder by moving its injected clock, for Azurite for real.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync.azure_blob import AzureBlobStore
from sync.blobstore import (
    BlobExistsError,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    ConditionFailedError,
    FileTransfers,
    LeaseHeldError,
    LeaseLostError,
)
from sync.local_blob import LocalBlobStore
from tests.support.azurite import Azurite, unique_container
from tests.support.clocks import FakeClock

LEASE_S = 15
LOCK = "locks/writer"


@dataclass
class Backend:
    """A store under test, a way to open another one on the same container, and a way to wait."""

    store: BlobStore
    open_peer: Callable[[], BlobStore]
    wait_past: Callable[[float], Awaitable[None]]
    opened: list[BlobStore] = field(default_factory=list)

    def peer(self) -> BlobStore:
        """A second store on the same container, closed at the end of the test."""
        store = self.open_peer()
        self.opened.append(store)
        return store


def _local_backend(root: Path) -> Backend:
    clock = FakeClock()
    container = unique_container()

    async def wait_past(seconds: float) -> None:
        clock.advance(seconds)

    def open_store() -> BlobStore:
        return LocalBlobStore(root, container, clock=clock)

    return Backend(open_store(), open_store, wait_past)


def _azurite_backend(azurite: Azurite) -> Backend:
    container = unique_container()

    def open_store() -> BlobStore:
        return AzureBlobStore.from_connection_string(
            azurite.connection_string, container, retry_total=1
        )

    return Backend(open_store(), open_store, asyncio.sleep)


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.azurite)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each contract test runs once per backend."""
    if request.param == "local":
        chosen = _local_backend(tmp_path / "blob")
    else:
        chosen = _azurite_backend(request.getfixturevalue("azurite"))
    yield chosen
    for store in [chosen.store, *chosen.opened]:
        await store.close()


# -- create-only ----------------------------------------------------------------------------------


async def test_create_then_read_returns_the_bytes_and_the_same_etag(backend: Backend) -> None:
    """A created blob reads back byte for byte, with the etag the create returned."""
    etag = await backend.store.create("segments/0001", b"\x00payload\xff")
    data, read_etag = await backend.store.read("segments/0001")
    assert data == b"\x00payload\xff"
    assert read_etag == etag


async def test_create_of_an_existing_blob_is_refused_and_keeps_the_first(
    backend: Backend,
) -> None:
    """A retried create-only upload raises BlobExistsError and never overwrites the first one."""
    etag = await backend.store.create("segments/0001", b"first")
    with pytest.raises(BlobExistsError):
        await backend.store.create("segments/0001", b"second")
    with pytest.raises(BlobExistsError):
        await backend.peer().create("segments/0001", b"third")
    assert await backend.store.read("segments/0001") == (b"first", etag)


async def test_concurrent_creates_of_one_name_have_exactly_one_winner(backend: Backend) -> None:
    """Of simultaneous creates of one name, exactly one succeeds, and its bytes are stored."""
    stores = [backend.store, backend.peer(), backend.peer()]
    results = await asyncio.gather(
        *(store.create("manifest", f"writer {i}".encode()) for i, store in enumerate(stores)),
        return_exceptions=True,
    )
    winners = [i for i, result in enumerate(results) if isinstance(result, str)]
    assert len(winners) == 1
    assert all(isinstance(r, BlobExistsError) for r in results if not isinstance(r, str))
    data, _ = await backend.store.read("manifest")
    assert data == f"writer {winners[0]}".encode()


async def test_empty_blob_round_trips(backend: Backend) -> None:
    """A zero-byte blob can be created, read and listed with size 0."""
    await backend.store.create("empty", b"")
    assert (await backend.store.read("empty"))[0] == b""
    assert [info.size for info in await backend.store.list("empty")] == [0]


# -- etag-conditional replace ---------------------------------------------------------------------


async def test_replace_with_the_current_etag_writes_and_changes_the_etag(backend: Backend) -> None:
    """Replacing with the current etag stores the new bytes under a new etag."""
    first = await backend.store.create("manifest", b"v1")
    second = await backend.store.replace("manifest", b"v2", etag=first)
    assert second != first
    assert await backend.store.read("manifest") == (b"v2", second)


async def test_replace_with_a_stale_etag_fails_and_keeps_the_newer_content(
    backend: Backend,
) -> None:
    """A writer holding an old etag gets ConditionFailedError, even if it writes the same bytes."""
    first = await backend.store.create("manifest", b"v1")
    second = await backend.peer().replace("manifest", b"v2", etag=first)
    with pytest.raises(ConditionFailedError):
        await backend.store.replace("manifest", b"v2", etag=first)
    assert await backend.store.read("manifest") == (b"v2", second)


async def test_concurrent_replaces_with_one_etag_have_exactly_one_winner(
    backend: Backend,
) -> None:
    """Two writers replacing from one etag at once: one wins, the other's condition fails."""
    etag = await backend.store.create("manifest", b"v1")
    results = await asyncio.gather(
        backend.store.replace("manifest", b"from a", etag=etag),
        backend.peer().replace("manifest", b"from b", etag=etag),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ConditionFailedError", "str"]
    winner = b"from a" if isinstance(results[0], str) else b"from b"
    assert (await backend.store.read("manifest"))[0] == winner


async def test_replace_without_etag_writes_only_when_absent(backend: Backend) -> None:
    """``etag=None`` creates the blob once; a second such write fails its condition."""
    etag = await backend.store.replace("manifest", b"v1", etag=None)
    with pytest.raises(ConditionFailedError):
        await backend.store.replace("manifest", b"v2", etag=None)
    assert await backend.store.read("manifest") == (b"v1", etag)


async def test_replace_of_a_deleted_blob_with_its_old_etag_fails(backend: Backend) -> None:
    """An etag of a blob deleted since does not match anything: the replace fails."""
    etag = await backend.store.create("manifest", b"v1")
    await backend.store.delete("manifest")
    with pytest.raises(ConditionFailedError):
        await backend.store.replace("manifest", b"v2", etag=etag)
    with pytest.raises(BlobNotFoundError):
        await backend.store.read("manifest")


# -- read, list, delete ---------------------------------------------------------------------------


async def test_read_of_a_missing_blob_raises_not_found(backend: Backend) -> None:
    """Reading a name that was never written raises BlobNotFoundError."""
    with pytest.raises(BlobNotFoundError):
        await backend.store.read("segments/nope")


async def test_list_returns_the_prefix_matches_sorted_by_name(backend: Backend) -> None:
    """``list(prefix)`` returns exactly the names starting with it, sorted, with size and etag."""
    etags = {}
    for name in ["segments/0003", "manifest", "segments/0001", "segments-old/x", "segments/0002/a"]:
        etags[name] = await backend.store.create(name, name.encode())
    listed = await backend.store.list("segments/")
    assert listed == [
        BlobInfo(name=n, size=len(n), etag=etags[n])
        for n in ["segments/0001", "segments/0002/a", "segments/0003"]
    ]
    assert [info.name for info in await backend.store.list("segments")] == [
        "segments-old/x",
        "segments/0001",
        "segments/0002/a",
        "segments/0003",
    ]
    assert [info.name for info in await backend.store.list()] == sorted(etags)
    assert await backend.store.list("nothing/") == []


async def test_delete_removes_the_blob_and_is_idempotent(backend: Backend) -> None:
    """Deleting twice, or deleting what never existed, is not an error; the blob is gone."""
    await backend.store.create("segments/0001", b"x")
    await backend.store.delete("segments/0001")
    await backend.store.delete("segments/0001")
    await backend.store.delete("never/was")
    assert await backend.store.list() == []
    await backend.store.create("segments/0001", b"again")
    assert (await backend.store.read("segments/0001"))[0] == b"again"


# -- leases ---------------------------------------------------------------------------------------


async def test_second_acquirer_is_refused_while_the_lease_is_held(backend: Backend) -> None:
    """While A holds the lease (created with its lock blob), B's acquire raises LeaseHeldError,
    and A still holds it afterwards."""
    lease_a = "aaaaaaaa-0000-4000-8000-000000000001"
    await backend.store.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_a)
    assert [info.name for info in await backend.store.list("locks/")] == [LOCK]
    with pytest.raises(LeaseHeldError):
        await backend.peer().acquire_lease(
            LOCK, duration_s=LEASE_S, lease_id="bbbbbbbb-0000-4000-8000-000000000002"
        )
    await assert_held_by(backend, lease_a)


async def test_the_holder_may_acquire_again_and_renew(backend: Backend) -> None:
    """The holder re-acquiring with its own id, and renewing, both succeed, and the lease is
    still the holder's after each (another id is refused, the holder's lease id writes)."""
    lease_a = "aaaaaaaa-0000-4000-8000-000000000001"
    await backend.store.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_a)
    await backend.store.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_a)
    await assert_held_by(backend, lease_a)
    await backend.store.renew_lease(LOCK, lease_id=lease_a)
    await assert_held_by(backend, lease_a)


async def assert_held_by(backend: Backend, lease_id: str) -> None:
    """The lock blob's lease is ``lease_id``'s: another acquirer is refused, a write with
    another lease id is refused, and the holder's write under its lease id succeeds."""
    intruder = "cccccccc-0000-4000-8000-000000000003"
    with pytest.raises(LeaseHeldError):
        await backend.peer().acquire_lease(LOCK, duration_s=LEASE_S, lease_id=intruder)
    with pytest.raises(LeaseLostError):
        await backend.peer().set_metadata(LOCK, {"probe": "intruder"}, lease_id=intruder)
    await backend.store.set_metadata(LOCK, {"probe": "holder"}, lease_id=lease_id)
    assert (await backend.store.read_metadata(LOCK))["probe"] == "holder"


async def test_renew_by_someone_else_is_lease_lost(backend: Backend) -> None:
    """Renewing a lease one does not hold (another's, or never taken) raises LeaseLostError."""
    await backend.store.acquire_lease(
        LOCK, duration_s=LEASE_S, lease_id="aaaaaaaa-0000-4000-8000-000000000001"
    )
    with pytest.raises(LeaseLostError):
        await backend.peer().renew_lease(LOCK, lease_id="bbbbbbbb-0000-4000-8000-000000000002")
    with pytest.raises(LeaseLostError):
        await backend.store.renew_lease(
            "locks/other", lease_id="aaaaaaaa-0000-4000-8000-000000000001"
        )


async def test_release_lets_the_next_holder_in_and_the_old_one_lose(backend: Backend) -> None:
    """After A releases, B acquires at once; A's renew then fails, A's second release is a no-op."""
    lease_a = "aaaaaaaa-0000-4000-8000-000000000001"
    lease_b = "bbbbbbbb-0000-4000-8000-000000000002"
    other = backend.peer()
    await backend.store.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_a)
    await backend.store.release_lease(LOCK, lease_id=lease_a)
    await other.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_b)
    with pytest.raises(LeaseLostError):
        await backend.store.renew_lease(LOCK, lease_id=lease_a)
    await backend.store.release_lease(LOCK, lease_id=lease_a)  # not ours: no effect
    with pytest.raises(LeaseHeldError):
        await backend.store.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_a)
    await other.renew_lease(LOCK, lease_id=lease_b)


@pytest.mark.parametrize("duration_s", [14, 61, 0])
async def test_lease_durations_outside_15_to_60_s_are_refused(
    backend: Backend, duration_s: int
) -> None:
    """Both backends refuse what Azure refuses: a lease shorter than 15 s or longer than 60 s."""
    with pytest.raises(ValueError, match="15-60"):
        await backend.store.acquire_lease(
            LOCK, duration_s=duration_s, lease_id="aaaaaaaa-0000-4000-8000-000000000001"
        )


@pytest.mark.slow
async def test_an_expired_lease_is_taken_over_within_one_lease_period(backend: Backend) -> None:
    """A holder that stops renewing loses the lease after its period: B takes it, A's renew fails.

    (On Azurite this waits the real 15 s; the local folder moves its injected clock.)
    """
    lease_a = "aaaaaaaa-0000-4000-8000-000000000001"
    lease_b = "bbbbbbbb-0000-4000-8000-000000000002"
    other = backend.peer()
    await backend.store.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_a)
    await backend.wait_past(LEASE_S - 1)
    with pytest.raises(LeaseHeldError):
        await other.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_b)
    await backend.wait_past(1)
    for _ in range(12):  # Azurite expires a 15 s lease after ~15.3 s
        try:
            await other.acquire_lease(LOCK, duration_s=LEASE_S, lease_id=lease_b)
            break
        except LeaseHeldError:
            await backend.wait_past(0.25)
    else:
        pytest.fail("the expired lease was not taken over within 18 s")
    with pytest.raises(LeaseLostError):
        await backend.store.renew_lease(LOCK, lease_id=lease_a)


async def test_a_file_round_trips_in_pieces_create_only(backend: Backend, tmp_path: Path) -> None:
    """A file larger than one request (a journal snapshot) goes up and comes down whole, with
    the etag a read gives; a second upload of the name is refused and keeps the first."""
    assert isinstance(backend.store, FileTransfers)
    source = tmp_path / "big"
    content = os.urandom(9 * 2**20 + 12345)  # over 8 MiB: blocks on Azure, not one request
    source.write_bytes(content)
    etag = await backend.store.create_from_file("snapshots/big", source)
    other = tmp_path / "other"
    other.write_bytes(b"other")
    with pytest.raises(BlobExistsError):
        await backend.store.create_from_file("snapshots/big", other)
    down = io.BytesIO()
    assert await backend.store.read_into("snapshots/big", down) == etag
    assert down.getvalue() == content
    with pytest.raises(BlobNotFoundError):
        await backend.store.read_into("snapshots/missing", io.BytesIO())
