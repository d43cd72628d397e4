"""Snapshot files to and from Blob in pieces: zstd, SHA-256, the download and the atomic swap,
never a whole file in memory (the journal and analytics snapshots of a 0.5 GiB container).

The plain functions block: call them in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path
from typing import BinaryIO

import zstandard

from sync.blobstore import BlobStore, download_into
from sync.errors import SyncError

PIECE = 2**20
ZSTD_LEVEL = 3
"""Both snapshots' zstd level: 1M events' journal, ~330 MB of SQLite, packs to ~127 MB (level 1
is barely larger, 6 is slower); analytics files compress well already at the fast level."""


class DamagedFileError(SyncError):
    """A downloaded snapshot that is not what the manifest describes (size, checksum, zstd)."""


def compress_file(source: Path, dest: Path, *, level: int) -> tuple[int, str]:
    """zstd-compress ``source`` into ``dest`` in pieces; return the size and SHA-256 of ``dest``."""
    digest = hashlib.sha256()
    size = 0
    stream = zstandard.ZstdCompressor(level=level).compressobj()
    with source.open("rb") as fin, dest.open("wb") as fout:
        while True:
            piece = fin.read(PIECE)
            packed = stream.compress(piece) if piece else stream.flush()
            digest.update(packed)
            size += fout.write(packed)
            if not piece:
                return size, digest.hexdigest()


def pack_copy(copy: Path) -> tuple[Path, int, str]:
    """zstd-compress ``copy`` (``ZSTD_LEVEL``) into ``<copy>.zst`` beside it, then delete the copy;
    return the packed file, its size and its SHA-256 (blocking: call it in a worker thread)."""
    packed = copy.with_name(f"{copy.name}.zst")
    size, sha256 = compress_file(copy, packed, level=ZSTD_LEVEL)
    copy.unlink()
    return packed, size, sha256


async def delete_others(store: BlobStore, prefix: str, keep: str) -> None:
    """Delete every blob under ``prefix`` but ``keep`` (older snapshots, once the manifest names
    the new one)."""
    for blob in await store.list(prefix):
        if blob.name != keep:
            await store.delete(blob.name)


class _Digest:
    """A sink that counts and hashes what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)


class _Unpacking(_Digest):
    """A sink that also decompresses what it is given (one zstd frame) into a file; a zstd
    error is kept, not raised, so that a changed byte is reported by the checksum first."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self.out = out
        self.stream = zstandard.ZstdDecompressor().decompressobj(write_size=PIECE)
        self.error: str | None = None

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.error is not None:
            return
        if self.stream.eof:
            self.error = "data after its zstd frame"
            return
        try:
            self.out.write(self.stream.decompress(data))
        except zstandard.ZstdError as exc:
            self.error = f"does not decompress: {exc}"
            return
        if self.stream.unused_data:  # only ever set past the end of the frame
            self.error = "data after its zstd frame"


async def blob_size_and_sha256(store: BlobStore, name: str) -> tuple[int, str]:
    """The size and SHA-256 of blob ``name``, read in pieces."""
    digest = _Digest()
    await download_into(store, name, digest)
    return digest.size, digest.digest.hexdigest()


async def download_unpacked(
    store: BlobStore, name: str, dest: Path, *, size: int, sha256: str
) -> None:
    """Download blob ``name`` and decompress it into file ``dest`` (synced to disk) as it comes:
    the compressed bytes are never stored. ``DamagedFileError`` unless the blob has ``size``
    bytes and checksum ``sha256`` (as the manifest lists it) and is one whole zstd frame (a cut
    stream decompresses without an error: its frame just never ends); ``dest`` is then not to
    be used."""
    with dest.open("wb") as out:
        sink = _Unpacking(out)
        await download_into(store, name, sink)
        if sink.size != size:
            raise DamagedFileError(f"{name}: {sink.size} bytes where the manifest lists {size}")
        if sink.digest.hexdigest() != sha256:
            raise DamagedFileError(f"{name}: its checksum differs from the manifest's")
        if sink.error is not None or not sink.stream.eof:
            raise DamagedFileError(f"{name}: {sink.error or 'not one whole zstd frame'}")
        await asyncio.to_thread(_sync, out)


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def swap_in(source: Path, target: Path) -> None:
    """Put ``source`` at ``target`` atomically (``os.replace``) and make it durable."""
    os.replace(source, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(*paths: Path) -> None:
    """Delete the files that exist among ``paths``."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
