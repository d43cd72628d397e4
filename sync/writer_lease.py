"""One writer: keep the lease on the lock blob, and stop writing the moment it cannot be renewed.

``LeaseKeeper.acquire`` waits (retrying every ``retry_s``) while another instance holds the lease,
in state ``waiting`` so that logs and ``/readyz`` say so. Once held, a task renews it every
``renew_s`` (a third of the lease by default, so two renewals can fail before it could expire).
The first renewal that fails for any reason makes the instance unwritable at once (``writable`` is
false and ``ensure_writable`` raises). A transient store failure is retried until the lease would
expire; a renewal the store refuses (``LeaseLostError``) or an expiry means the lease is lost for
good: ``on_lost`` callbacks run and the process should stop (its journal may be behind now).

A takeover after the holder dies happens within one lease period: its lease expires at most
``duration_s`` after its last renewal, and a waiting instance retries every ``retry_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable

import msgspec

from sync.blobstore import (
    BlobStore,
    BlobStoreUnavailableError,
    LeaseHeldError,
    LeaseLostError,
)
from sync.errors import NotWritableError

log = logging.getLogger(__name__)

LOCK_BLOB = "locks/writer.lock"
DEFAULT_DURATION_S = 30
_SHIPPED_KEY = "shipped"
_CHAIN_KEY = "head_chain"


class HeadRecord(msgspec.Struct, frozen=True):
    """The shipped head as the lock blob's metadata records it (one of its three copies)."""

    shipped: int = 0
    head_chain: str | None = None


async def read_head_record(store: BlobStore, name: str = LOCK_BLOB) -> HeadRecord:
    """The head recorded on the lock blob (``shipped`` 0 when none was recorded)."""
    metadata = await store.read_metadata(name)
    try:
        shipped = int(metadata.get(_SHIPPED_KEY, "0"))
    except ValueError:
        shipped = 0
    return HeadRecord(shipped, metadata.get(_CHAIN_KEY))


class LeaseState(enum.Enum):
    """Where the keeper stands."""

    IDLE = "idle"
    WAITING = "waiting"  # another instance holds the lease
    HELD = "held"
    SUSPENDED = "suspended"  # a renewal failed transiently: not writing, still trying
    LOST = "lost"
    RELEASED = "released"


class LeaseKeeper:
    """Acquires, renews and releases the writer lease on one lock blob."""

    def __init__(
        self,
        store: BlobStore,
        *,
        name: str = LOCK_BLOB,
        duration_s: int = DEFAULT_DURATION_S,
        renew_s: float | None = None,
        retry_s: float | None = None,
        lease_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.name = name
        self.duration_s = duration_s
        self.renew_s = renew_s if renew_s is not None else duration_s / 3
        self.retry_s = retry_s if retry_s is not None else min(2.0, duration_s / 10)
        self.lease_id = lease_id or str(uuid.uuid4())
        self.clock = clock
        self.state = LeaseState.IDLE
        self.held_since: float | None = None
        self._last_renewed = 0.0
        self._on_lost: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def writable(self) -> bool:
        """Whether this instance may append and ship right now."""
        return self.state is LeaseState.HELD

    def ensure_writable(self) -> None:
        """Raise ``NotWritableError`` unless the lease is held."""
        if not self.writable:
            raise NotWritableError(f"not the writer: lease {self.state.value}")

    async def record_head(self, shipped: int, head_chain: str) -> None:
        """Write the shipped head and its chain hash into the lock blob's metadata.

        The manifest and the last segment's header hold them too; a copy on the lock blob lets a
        restore notice a missing tail even when the manifest is gone with the last segment.
        """
        await self.store.set_metadata(
            self.name, {_SHIPPED_KEY: str(shipped), _CHAIN_KEY: head_chain}, lease_id=self.lease_id
        )

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the lease is lost for good."""
        self._on_lost.append(callback)

    async def acquire(self, *, wait: bool = True) -> bool:
        """Take the lease, waiting while another instance holds it; then keep it renewed.

        Returns ``False`` only when ``wait`` is false and the lease is held elsewhere.
        """
        announced = False
        while True:
            try:
                await self.store.acquire_lease(
                    self.name, duration_s=self.duration_s, lease_id=self.lease_id
                )
                break
            except LeaseHeldError:
                if not wait:
                    return False
                if not announced:
                    log.warning("waiting for lease held by another instance (%s)", self.name)
                    announced = True
                self.state = LeaseState.WAITING
            except BlobStoreUnavailableError as exc:
                if not wait:
                    raise
                log.warning("blob store unavailable while acquiring the lease: %s", exc)
                self.state = LeaseState.WAITING
            await asyncio.sleep(self.retry_s)
        self._last_renewed = self.clock()
        self.held_since = self._last_renewed
        self.state = LeaseState.HELD
        log.info("writer lease acquired (%s)", self.name)
        self._task = asyncio.create_task(self._renew_loop(), name="writer-lease")
        return True

    async def release(self) -> None:
        """Stop renewing and release the lease (another instance can take over at once)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.state in (LeaseState.HELD, LeaseState.SUSPENDED):
            self.state = LeaseState.RELEASED
            with contextlib.suppress(BlobStoreUnavailableError, LeaseLostError):
                await self.store.release_lease(self.name, lease_id=self.lease_id)
            log.info("writer lease released (%s)", self.name)

    async def _renew_loop(self) -> None:
        while True:
            wait = self.renew_s if self.state is LeaseState.HELD else self.retry_s
            await asyncio.sleep(wait)
            try:
                await self.store.renew_lease(self.name, lease_id=self.lease_id)
            except LeaseLostError as exc:
                self._lose(f"renewal refused: {exc}")
                return
            except BlobStoreUnavailableError as exc:
                if self.clock() - self._last_renewed >= self.duration_s:
                    self._lose(f"could not renew before expiry: {exc}")
                    return
                if self.state is LeaseState.HELD:
                    log.warning("lease renewal failed, writes stopped until it succeeds: %s", exc)
                self.state = LeaseState.SUSPENDED
                continue
            self._last_renewed = self.clock()
            if self.state is LeaseState.SUSPENDED:
                log.info("lease renewed again; writes resume")
            self.state = LeaseState.HELD

    def _lose(self, why: str) -> None:
        self.state = LeaseState.LOST
        log.error("writer lease lost, writes stopped: %s", why)
        for callback in self._on_lost:
            callback()
