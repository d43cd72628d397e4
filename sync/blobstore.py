"""The blob-store port: the few operations segment shipping, restore and the lease need.

Two implementations pass one contract test suite
(tests/integration/sync/test_blobstore_contract.py): Azure Blob Storage (``sync.azure_blob``) and a
local folder (``sync.local_blob``, the embedded default). The semantics are Azure's: create-only
uploads, etag-conditional overwrites, and leases on a lock blob that is separate from data blobs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

from sync.errors import SyncError


class BlobStoreError(SyncError):
    """Root of every blob-store error (itself a ``SyncError``: sync has one root)."""


class BlobExistsError(BlobStoreError):
    """A create-only upload found the blob already there (Azure: 409 BlobAlreadyExists)."""


class BlobNotFoundError(BlobStoreError):
    """The blob does not exist."""


class ConditionFailedError(BlobStoreError):
    """An etag condition did not hold (Azure: 412 ConditionNotMet): someone else wrote first."""


class LeaseHeldError(BlobStoreError):
    """Another holder has the lease (Azure: 409 LeaseAlreadyPresent)."""


class LeaseLostError(BlobStoreError):
    """Our lease expired or was taken: stop writing at once."""


class BlobStoreUnavailableError(BlobStoreError):
    """The store could not be reached (network, timeout, 5xx): retry later, nothing was lost."""


LEASE_MIN_S = 15
LEASE_MAX_S = 60


def check_lease_duration(duration_s: int) -> None:
    """Refuse a lease duration Azure would refuse (it allows 15-60 s), in every backend alike."""
    if not LEASE_MIN_S <= duration_s <= LEASE_MAX_S:
        raise ValueError(f"lease duration must be {LEASE_MIN_S}-{LEASE_MAX_S} s, not {duration_s}")


class BlobInfo(msgspec.Struct, frozen=True):
    """A listed blob."""

    name: str
    size: int
    etag: str


class BlobStore(Protocol):
    """Async blob storage with Azure's concurrency semantics."""

    async def create(self, name: str, data: bytes) -> str:
        """Upload ``data`` only if ``name`` does not exist; return the new etag.

        Raises ``BlobExistsError`` when it exists (so a retried upload never overwrites).
        """
        ...

    async def replace(self, name: str, data: bytes, *, etag: str | None) -> str:
        """Write ``data`` if the blob's etag is still ``etag`` (``None``: only if absent).

        Returns the new etag; raises ``ConditionFailedError`` when the condition fails.
        """
        ...

    async def read(self, name: str) -> tuple[bytes, str]:
        """Return the blob's content and etag; raises ``BlobNotFoundError``."""
        ...

    async def list(self, prefix: str = "") -> list[BlobInfo]:
        """Every blob whose name starts with ``prefix``, sorted by name."""
        ...

    async def delete(self, name: str) -> None:
        """Delete a blob; deleting a missing blob is not an error."""
        ...

    async def acquire_lease(self, name: str, *, duration_s: int, lease_id: str) -> None:
        """Take the lease on lock blob ``name`` (created if missing) for ``duration_s`` (15-60 s).

        Raises ``LeaseHeldError`` when someone else holds it.
        """
        ...

    async def renew_lease(self, name: str, *, lease_id: str) -> None:
        """Renew our lease; raises ``LeaseLostError`` when it is no longer ours."""
        ...

    async def release_lease(self, name: str, *, lease_id: str) -> None:
        """Release our lease (a no-op when it is already gone)."""
        ...

    async def set_metadata(self, name: str, metadata: dict[str, str], *, lease_id: str) -> None:
        """Replace the metadata of lock blob ``name``, which we must hold the lease on.

        Raises ``LeaseLostError`` when the lease is not ours (Azure: 412 LeaseIdMismatch).
        """
        ...

    async def read_metadata(self, name: str) -> dict[str, str]:
        """The metadata of blob ``name`` (empty when the blob or its metadata is missing)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class Sink(Protocol):
    """Where a blob read in pieces goes: ``write`` is called with each piece, in order."""

    def write(self, data: bytes, /) -> object:
        """Take the next piece."""
        ...


@runtime_checkable
class FileTransfers(Protocol):
    """What both backends add to ``BlobStore`` for large blobs (a journal snapshot): transfers
    in pieces, so the blob is never whole in memory."""

    async def create_from_file(self, name: str, source: Path) -> str:
        """``create`` with the content of file ``source``; return the new etag."""
        ...

    async def read_into(self, name: str, sink: Sink) -> str:
        """Give blob ``name`` to ``sink`` in pieces (``sink.write`` runs in a worker thread);
        return its etag (``BlobNotFoundError``)."""
        ...


async def upload_file(store: BlobStore, name: str, source: Path) -> str:
    """Create blob ``name`` from file ``source`` (in pieces where the store can; a wrapper that
    cannot, a test's fault injector, gets the bytes)."""
    if isinstance(store, FileTransfers):
        return await store.create_from_file(name, source)
    return await store.create(name, await asyncio.to_thread(source.read_bytes))


async def download_into(store: BlobStore, name: str, sink: Sink) -> str:
    """Give blob ``name`` to ``sink`` (in pieces where the store can); return its etag."""
    if isinstance(store, FileTransfers):
        return await store.read_into(name, sink)
    data, etag = await store.read(name)
    await asyncio.to_thread(sink.write, data)
    return etag
