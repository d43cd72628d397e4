"""The blob-store port on a local folder: the embedded default, with Azure's semantics.

Layout under ``root`` (``IBPICKER_BLOB_DIR``)::

    <container>/<blob name>          the blobs, one file each ("/" in a name is a sub-folder)
    .ibpicker-meta/<container>/tmp/  files being written (same file system, so link/rename work)
    .ibpicker-meta/<container>/locks/ one lock file per blob name (cross-process, via ``filelock``)
    .ibpicker-meta/<container>/leases/ lease state per lock blob (id, duration, expiry)

How each guarantee holds, also between two processes on the same machine:

1. A blob file is written whole to ``tmp/``, flushed to disk, then put in place with ``os.link``
   (create-only: fails when the name exists) or ``os.replace`` (overwrite); readers therefore see
   the old or the new content, never a torn one, and a file is never changed after it is in place.
2. The etag is the file's identity: inode, modification time in ns (set explicitly to a fresh
   timestamp when written) and size. It is taken from the temporary file before it is put in
   place, so the etag returned by a write is always the one of that write.
3. Conditional writes, deletes and lease operations on one name run under that name's file lock,
   so "check the etag, then replace" is atomic for every process using this folder.
4. A lease is a small state file beside the lock blob; whether it is still valid is decided with
   ``clock`` (wall time, shared by the processes of a machine; injectable so tests need not wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from stat import S_ISREG
from typing import TypeVar

import filelock
import msgspec

from sync.blobstore import (
    BlobExistsError,
    BlobInfo,
    BlobNotFoundError,
    BlobStoreError,
    BlobStoreUnavailableError,
    ConditionFailedError,
    LeaseHeldError,
    LeaseLostError,
    Sink,
    check_lease_duration,
)

_META_DIR = ".ibpicker-meta"
# Azure's container-name rule; keeping it here means a name that works locally works in Azure.
_CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_MAX_NAME_LENGTH = 1024
_LOCK_TIMEOUT_S = 10.0
_ABANDONED_AFTER_S = 3600.0
_COPY_CHUNK = 4 * 2**20

T = TypeVar("T")


class _LeaseState(msgspec.Struct, frozen=True):
    lease_id: str
    duration_s: int
    expires_at: float


_lease_decoder = msgspec.json.Decoder(_LeaseState)


def _check_blob_name(name: str) -> None:
    """Refuse names that cannot map safely onto a file path (or that Azure would refuse)."""
    parts = name.split("/")
    if (
        not name
        or len(name) > _MAX_NAME_LENGTH
        or "\\" in name
        or "\0" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise BlobStoreError(f"invalid blob name {name!r}")


def _etag(stat: os.stat_result) -> str:
    return f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """``BlobStore`` on a folder; safe for several stores and processes sharing the folder."""

    def __init__(
        self,
        root: Path,
        container: str = "ibpicker-journal",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Use ``root/<container>`` (created if missing); ``clock`` tells lease expiry."""
        if not _CONTAINER_NAME.match(container):
            raise BlobStoreError(
                f"invalid container name {container!r}: 3-63 lowercase letters, digits, hyphens"
            )
        self._blobs = root / container
        meta = root / _META_DIR / container
        self._tmp = meta / "tmp"
        self._locks = meta / "locks"
        self._leases = meta / "leases"
        self._clock = clock
        for folder in (self._blobs, self._tmp, self._locks, self._leases):
            folder.mkdir(parents=True, exist_ok=True)
        self._remove_abandoned_temporaries()

    def _remove_abandoned_temporaries(self) -> None:
        """Delete what a crashed writer left in tmp/ (old enough that no live writer owns it)."""
        cutoff = time.time() - _ABANDONED_AFTER_S
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self._blobs)!r})"

    # -- helpers (run in a worker thread) ------------------------------------------------------

    async def _run(self, func: Callable[[], T]) -> T:
        """Run blocking file work off the event loop; an OS error means the folder is unusable."""
        try:
            return await asyncio.to_thread(func)
        except BlobStoreError:
            raise
        except OSError as exc:
            raise BlobStoreUnavailableError(f"local blob folder {self._blobs}: {exc}") from exc

    def _path(self, name: str) -> Path:
        _check_blob_name(name)
        return self._blobs.joinpath(*name.split("/"))

    def _key(self, name: str) -> str:
        # One flat file per name: "/" would need folders, and long names would exceed NAME_MAX.
        return uuid.uuid5(uuid.NAMESPACE_URL, name).hex

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        lock = filelock.FileLock(self._locks / f"{self._key(name)}.lock")
        try:
            lock.acquire(timeout=_LOCK_TIMEOUT_S, poll_interval=0.002)
        except filelock.Timeout as exc:
            raise BlobStoreUnavailableError(f"blob {name!r} stayed locked") from exc
        try:
            yield
        finally:
            lock.release()

    def _stage(self, data: bytes | Path) -> tuple[Path, str]:
        """Write ``data`` (bytes, or a file's content copied in pieces) durably to a new
        temporary file; return it and its etag."""
        tmp = self._tmp / uuid.uuid4().hex
        with tmp.open("xb") as file:
            if isinstance(data, Path):
                with data.open("rb") as source:
                    shutil.copyfileobj(source, file, _COPY_CHUNK)
            else:
                file.write(data)
            file.flush()
            # A fresh ns timestamp (not the file system's coarse clock) keeps etags distinct;
            # set before the fsync so that the etag survives a crash too.
            now = time.time_ns()
            os.utime(file.fileno(), ns=(now, now))
            os.fsync(file.fileno())
            return tmp, _etag(os.fstat(file.fileno()))

    def _place(self, data: bytes | Path, target: Path, *, overwrite: bool) -> str:
        """Put ``data`` at ``target``: link (``FileExistsError`` if present) or atomic replace."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._clash(target) from None
        if target.is_dir():
            raise self._clash(target)
        tmp, etag = self._stage(data)
        try:
            if overwrite:
                os.replace(tmp, target)
            else:
                os.link(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return etag

    def _clash(self, target: Path) -> BlobStoreError:
        # Azure has no folders, so "a" and "a/b" may both exist there; on a disk they cannot.
        name = target.relative_to(self._blobs).as_posix()
        return BlobStoreError(f"blob name {name!r} clashes with a blob folder or file")

    def _current_etag(self, target: Path) -> str | None:
        try:
            stat = target.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _etag(stat) if S_ISREG(stat.st_mode) else None

    # -- the port ---------------------------------------------------------------------------------

    async def create(self, name: str, data: bytes) -> str:
        """Upload ``data`` only if ``name`` does not exist; return the new etag."""
        return await self._create(name, data)

    async def create_from_file(self, name: str, source: Path) -> str:
        """``create`` with the content of file ``source``, copied in pieces (never whole in
        memory); return the new etag."""
        return await self._create(name, source)

    async def _create(self, name: str, data: bytes | Path) -> str:
        target = self._path(name)

        def work() -> str:
            try:
                return self._place(data, target, overwrite=False)
            except FileExistsError:
                raise BlobExistsError(name) from None

        return await self._run(work)

    async def read_into(self, name: str, sink: Sink) -> str:
        """Give the blob's content to ``sink`` in pieces; return its etag."""
        target = self._path(name)

        def work() -> str:
            try:
                file = target.open("rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise BlobNotFoundError(name) from None
            with file:
                while piece := file.read(_COPY_CHUNK):
                    sink.write(piece)
                return _etag(os.fstat(file.fileno()))

        return await self._run(work)

    async def replace(self, name: str, data: bytes, *, etag: str | None) -> str:
        """Write ``data`` if the blob's etag is still ``etag`` (``None``: only if absent)."""
        target = self._path(name)

        def work() -> str:
            with self._locked(name):
                if self._current_etag(target) != etag:
                    raise ConditionFailedError(name)
                try:
                    return self._place(data, target, overwrite=etag is not None)
                except FileExistsError:  # a plain create() got there first
                    raise ConditionFailedError(name) from None

        return await self._run(work)

    async def read(self, name: str) -> tuple[bytes, str]:
        """Return the blob's content and etag; raises ``BlobNotFoundError``."""
        target = self._path(name)

        def work() -> tuple[bytes, str]:
            try:
                with target.open("rb") as file:
                    # The open file is immutable (writers replace, never modify), so the etag
                    # of this descriptor is the etag of exactly these bytes.
                    return file.read(), _etag(os.fstat(file.fileno()))
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise BlobNotFoundError(name) from None

        return await self._run(work)

    async def list(self, prefix: str = "") -> list[BlobInfo]:
        """Every blob whose name starts with ``prefix``, sorted by name."""

        def work() -> list[BlobInfo]:
            # Walk only the folder the prefix pins down, not the whole container.
            folder, _, _ = prefix.rpartition("/")
            start = self._blobs.joinpath(*folder.split("/")) if folder else self._blobs
            found: list[BlobInfo] = []
            for dirpath, _dirs, files in os.walk(start):
                relative = Path(dirpath).relative_to(self._blobs).as_posix()
                for file in files:
                    name = file if relative == "." else f"{relative}/{file}"
                    if not name.startswith(prefix):
                        continue
                    try:
                        stat = os.stat(os.path.join(dirpath, file))
                    except FileNotFoundError:  # deleted while we walked
                        continue
                    found.append(BlobInfo(name=name, size=stat.st_size, etag=_etag(stat)))
            found.sort(key=lambda info: info.name)
            return found

        return await self._run(work)

    async def delete(self, name: str) -> None:
        """Delete a blob; deleting a missing blob is not an error."""
        target = self._path(name)

        def work() -> None:
            with self._locked(name), contextlib.suppress(FileNotFoundError, IsADirectoryError):
                target.unlink()
            _fsync_dir(target.parent)

        await self._run(work)

    # -- leases -----------------------------------------------------------------------------------

    def _lease_path(self, name: str) -> Path:
        return self._leases / f"{self._key(name)}.json"

    def _load_lease(self, name: str) -> _LeaseState | None:
        try:
            return _lease_decoder.decode(self._lease_path(name).read_bytes())
        except FileNotFoundError:
            return None

    def _store_lease(self, name: str, lease_id: str, duration_s: int) -> None:
        state = _LeaseState(
            lease_id=lease_id, duration_s=duration_s, expires_at=self._clock() + duration_s
        )
        tmp, _ = self._stage(msgspec.json.encode(state))
        os.replace(tmp, self._lease_path(name))

    async def acquire_lease(self, name: str, *, duration_s: int, lease_id: str) -> None:
        """Take the lease on lock blob ``name`` (created if missing) for ``duration_s``."""
        check_lease_duration(duration_s)
        target = self._path(name)

        def work() -> None:
            with self._locked(name):
                with contextlib.suppress(FileExistsError):
                    self._place(b"", target, overwrite=False)
                state = self._load_lease(name)
                if (
                    state is not None
                    and state.lease_id != lease_id
                    and state.expires_at > self._clock()
                ):
                    raise LeaseHeldError(name)
                self._store_lease(name, lease_id, duration_s)

        await self._run(work)

    async def renew_lease(self, name: str, *, lease_id: str) -> None:
        """Renew our lease; raises ``LeaseLostError`` when it is no longer ours.

        As in Azure, an expired lease can still be renewed while nobody else has taken it.
        """
        self._path(name)

        def work() -> None:
            with self._locked(name):
                state = self._own_lease(name, lease_id)
                # The duration is the one the lease was taken with, as in Azure.
                self._store_lease(name, lease_id, state.duration_s)

        await self._run(work)

    def _own_lease(self, name: str, lease_id: str) -> _LeaseState:
        """Our lease on ``name`` (call under its lock); ``LeaseLostError`` when it is not ours."""
        state = self._load_lease(name)
        if state is None or state.lease_id != lease_id:
            raise LeaseLostError(name)
        return state

    async def release_lease(self, name: str, *, lease_id: str) -> None:
        """Release our lease (a no-op when it is already gone or someone else's)."""
        self._path(name)

        def work() -> None:
            with self._locked(name):
                state = self._load_lease(name)
                if state is not None and state.lease_id == lease_id:
                    self._lease_path(name).unlink()

        await self._run(work)

    def _metadata_path(self, name: str) -> Path:
        return self._leases / f"{self._key(name)}.metadata.json"

    async def set_metadata(self, name: str, metadata: dict[str, str], *, lease_id: str) -> None:
        """Replace the metadata of lock blob ``name`` under our lease (kept beside its lease)."""
        self._path(name)

        def work() -> None:
            with self._locked(name):
                self._own_lease(name, lease_id)
                tmp, _ = self._stage(msgspec.json.encode(metadata))
                os.replace(tmp, self._metadata_path(name))

        await self._run(work)

    async def read_metadata(self, name: str) -> dict[str, str]:
        """The metadata of blob ``name`` (empty when it or its metadata is missing)."""
        self._path(name)

        def work() -> dict[str, str]:
            if not self._path(name).exists():
                return {}
            try:
                data = self._metadata_path(name).read_bytes()
            except FileNotFoundError:
                return {}
            return msgspec.json.decode(data, type=dict[str, str])

        return await self._run(work)

    async def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""
