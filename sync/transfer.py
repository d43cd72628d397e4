"""Snapshot files to and from Blob in pieces: zstd, SHA-256, the download and the atomic swap,
never a whole file in memory (the journal and analytics snapshots of a 0.5 GiB container).

All but ``download_checked`` block: call them in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

import zstandard

from sync.blobstore import BlobStore, download_file
from sync.errors import SyncError

PIECE = 2**20


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


def size_and_sha256(path: Path) -> tuple[int, str]:
    """The size and SHA-256 of file ``path``, read in pieces."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


async def download_checked(
    store: BlobStore, name: str, dest: Path, *, size: int, sha256: str
) -> None:
    """Download blob ``name`` to ``dest``; ``DamagedFileError`` unless it has ``size`` bytes
    and checksum ``sha256`` (as the manifest lists it)."""
    await download_file(store, name, dest)
    found_size, found_sha256 = await asyncio.to_thread(size_and_sha256, dest)
    if found_size != size:
        raise DamagedFileError(f"{name}: {found_size} bytes where the manifest lists {size}")
    if found_sha256 != sha256:
        raise DamagedFileError(f"{name}: its checksum differs from the manifest's")


def decompress_file(source: Path, dest: Path) -> None:
    """Decompress ``source`` (one whole zstd frame) into ``dest``, synced to disk.

    ``DamagedFileError`` when it does not decompress or its frame is cut short (a cut stream
    decompresses without an error: its frame just never ends).
    """
    try:
        with source.open("rb") as fin, dest.open("wb") as fout:
            stream = zstandard.ZstdDecompressor().decompressobj(write_size=PIECE)
            while not stream.eof and (piece := fin.read(PIECE)):
                fout.write(stream.decompress(piece))
            if not stream.eof or stream.unused_data or fin.read(1):
                raise DamagedFileError(f"{source.name}: not one whole zstd frame")
            fout.flush()
            os.fsync(fout.fileno())
    except zstandard.ZstdError as exc:
        raise DamagedFileError(f"{source.name} does not decompress: {exc}") from None


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
