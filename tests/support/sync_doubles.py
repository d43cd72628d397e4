"""Test helpers for sync: a fault-injecting blob-store wrapper and journals filled with events.

``FlakyStore`` wraps any real ``BlobStore`` (local folder or Azurite) and injects the failures the
shipper and restore must survive: the store being down, and an upload that succeeded but whose
reply was lost (a timeout after the write).
"""

from __future__ import annotations

from pathlib import Path

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import AsyncJournal, Journal
from sync.blobstore import BlobInfo, BlobStore, BlobStoreUnavailableError
from sync.shipper import Shipper


class FlakyStore:
    """A ``BlobStore`` that forwards to ``inner`` unless told to fail."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.down = False
        self.lose_create_replies = 0  # creates that succeed but report a timeout
        self.creates = 0

    def _check(self) -> None:
        if self.down:
            raise BlobStoreUnavailableError("injected: store down")

    async def create(self, name: str, data: bytes) -> str:
        """Create, or fail as told."""
        self._check()
        etag = await self.inner.create(name, data)
        self.creates += 1
        if self.lose_create_replies > 0:
            self.lose_create_replies -= 1
            raise BlobStoreUnavailableError("injected: reply lost after the upload")
        return etag

    async def replace(self, name: str, data: bytes, *, etag: str | None) -> str:
        """Replace, or fail as told."""
        self._check()
        return await self.inner.replace(name, data, etag=etag)

    async def read(self, name: str) -> tuple[bytes, str]:
        """Read, or fail as told."""
        self._check()
        return await self.inner.read(name)

    async def list(self, prefix: str = "") -> list[BlobInfo]:
        """List, or fail as told."""
        self._check()
        return await self.inner.list(prefix)

    async def delete(self, name: str) -> None:
        """Delete, or fail as told."""
        self._check()
        await self.inner.delete(name)

    async def acquire_lease(self, name: str, *, duration_s: int, lease_id: str) -> None:
        """Acquire, or fail as told."""
        self._check()
        await self.inner.acquire_lease(name, duration_s=duration_s, lease_id=lease_id)

    async def renew_lease(self, name: str, *, lease_id: str) -> None:
        """Renew, or fail as told."""
        self._check()
        await self.inner.renew_lease(name, lease_id=lease_id)

    async def release_lease(self, name: str, *, lease_id: str) -> None:
        """Release, or fail as told."""
        self._check()
        await self.inner.release_lease(name, lease_id=lease_id)

    async def set_metadata(self, name: str, metadata: dict[str, str], *, lease_id: str) -> None:
        """Set metadata, or fail as told."""
        self._check()
        await self.inner.set_metadata(name, metadata, lease_id=lease_id)

    async def read_metadata(self, name: str) -> dict[str, str]:
        """Read metadata, or fail as told."""
        self._check()
        return await self.inner.read_metadata(name)

    async def close(self) -> None:
        """Close the inner store."""
        await self.inner.close()


def audit_events(count: int, *, start: int = 0) -> list[NewEvent]:
    """``count`` distinct ``command_handled`` events (numbered from ``start``)."""
    return [
        NewEvent(
            f"guild:{(start + i) % 3}",
            CommandHandled(name="ping", options={"n": str(start + i)}, latency_ms=1.5),
        )
        for i in range(count)
    ]


def fill(journal: Journal, count: int, *, per_command: int = 50, tag: str = "cmd") -> None:
    """Append ``count`` events, ``per_command`` per command id, continuing the journal."""
    done = 0
    while done < count:
        n = min(per_command, count - done)
        head = journal.head()
        journal.append(
            audit_events(n, start=head), command_id=f"{tag}-{head + 1}", actor=Actor.system()
        )
        done += n


def open_journal_at(folder: Path) -> Journal:
    """A journal in ``folder`` (created when missing)."""
    return Journal.open(folder / "journal.sqlite")


async def ship_journal_of(store: BlobStore, folder: Path, count: int) -> None:
    """Fill a journal in ``folder`` with ``count`` events, ship them all to ``store``, close it."""
    source = AsyncJournal(open_journal_at(folder))
    try:
        fill(source.journal, count)
        await Shipper(source, store).ship_now()
    finally:
        await source.close()
