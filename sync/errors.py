"""Errors of segment shipping, restore, compaction and the writer lease: one root, ``SyncError``.

Blob-store errors (``sync.blobstore.BlobStoreError``, a kind of ``SyncError``) are translated
into these where a decision is made; the CLI and the composition root print ``str(error)``,
which always says what to do.
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of every sync error."""


class RestoreRefusedError(SyncError):
    """Restore found something it will not apply (gap, overlap, corrupt segment): nothing done."""


class SplitBrainError(SyncError):
    """Blob and the local journal (or two writers) disagree about the same positions."""


class NotWritableError(SyncError):
    """This instance does not hold the writer lease (waiting, lost or released): do not append."""
