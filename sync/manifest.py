"""The manifest (``manifest.json``): the segments that make up the shipped journal, how far it goes.

It is a small JSON blob rewritten with an etag condition, so two writers can never both win: a
loser re-reads and re-applies its change (``update_manifest``). Segments themselves are immutable
and uploaded create-only; the manifest only ever points at blobs that already exist (upload first,
then switch the manifest; delete only after the switch), so a crash at any point leaves a
restorable set.

``plan_cover`` chooses the segments a reader uses: the manifest's list, extended by segments
uploaded after its last update (a crash between the upload and the switch); with no manifest at
all, a cover derived from the listing that prefers the largest segment at each position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import msgspec

from events.segments import PREFIX, Segment, parse_segment_name, read_header, sha256_hex
from sync.blobstore import BlobInfo, BlobNotFoundError, BlobStore, ConditionFailedError
from sync.errors import RestoreRefusedError, SyncError

MANIFEST_NAME = "manifest.json"
SNAPSHOT_PREFIX = "snapshots/"
MANIFEST_VERSION = 1


class SegmentEntry(msgspec.Struct, frozen=True):
    """One segment as the manifest lists it (``sha256`` unknown for unlisted blobs)."""

    name: str
    first: int
    last: int
    size: int
    sha256: str | None = None
    chain: str | None = None
    """Hex of the journal's chain hash at ``last`` (``None``: unknown, an older segment)."""

    @property
    def count(self) -> int:
        """Number of events in the segment."""
        return self.last - self.first + 1

    @classmethod
    def of(cls, segment: Segment, data: bytes | None = None) -> SegmentEntry:
        """The entry describing an encoded segment (or ``data``, the blob found in its place)."""
        if data is None:
            return cls(
                segment.name,
                segment.first,
                segment.last,
                segment.size,
                segment.sha256,
                segment.chain.hex() if segment.chain is not None else None,
            )
        return cls.of_blob(segment.name, data)

    @classmethod
    def of_blob(cls, name: str, data: bytes) -> SegmentEntry:
        """The entry describing the segment blob ``data`` named ``name``."""
        header = read_header(data)
        return cls(
            name,
            header.first,
            header.last,
            len(data),
            sha256_hex(data),
            header.last_chain.hex() if header.last_chain is not None else None,
        )


class SnapshotEntry(msgspec.Struct, frozen=True):
    """A shipped DuckDB analytics snapshot and the journal position it has applied."""

    name: str
    position: int
    size: int
    sha256: str


class JournalSnapshotEntry(msgspec.Struct, frozen=True):
    """A shipped copy of the SQLite journal file holding positions ``1..position`` (zstd)."""

    name: str
    position: int
    size: int
    sha256: str
    """Of the compressed blob."""
    chain: str
    """Hex of the journal's chain hash at ``position`` (a shipped segment ends there)."""


class Manifest(msgspec.Struct, frozen=True):
    """The shipped journal: segments in order, the last shipped position, the latest snapshots
    (analytics and journal; manifests written before the journal snapshot have none)."""

    version: int = MANIFEST_VERSION
    shipped: int = 0
    segments: list[SegmentEntry] = []
    snapshot: SnapshotEntry | None = None
    updated_at: str = ""
    head_chain: str | None = None
    """Hex of the chain hash at ``shipped`` (also in the lock blob's metadata and the last
    segment's header): a restore that does not reach it knows the tail is missing."""
    journal_snapshot: JournalSnapshotEntry | None = None

    def with_segments(self, segments: list[SegmentEntry]) -> Manifest:
        """A copy listing ``segments`` (its shipped position and head hash follow the last one)."""
        return msgspec.structs.replace(
            self,
            segments=segments,
            shipped=segments[-1].last if segments else 0,
            head_chain=segments[-1].chain if segments else None,
            updated_at=datetime.now(UTC).isoformat(),
        )


async def read_manifest(store: BlobStore) -> tuple[Manifest | None, str | None]:
    """The manifest and its etag, or ``(None, None)`` when there is none yet."""
    try:
        data, etag = await store.read(MANIFEST_NAME)
    except BlobNotFoundError:
        return None, None
    try:
        return msgspec.json.decode(data, type=Manifest), etag
    except msgspec.DecodeError as exc:
        raise RestoreRefusedError(f"{MANIFEST_NAME} is not a valid manifest: {exc}") from None


class ManifestCache:
    """The manifest as this process last wrote it, with its etag: saves a read per update."""

    def __init__(self) -> None:
        self.manifest: Manifest | None = None
        self.etag: str | None = None


async def update_manifest(
    store: BlobStore,
    change: Callable[[Manifest], Manifest | None],
    *,
    cache: ManifestCache | None = None,
) -> Manifest:
    """Apply ``change`` to the current manifest and write it if nobody wrote in between.

    ``change`` gets the current manifest (an empty one when absent) and returns the new one, or
    ``None`` when nothing needs writing. On an etag conflict it runs again on a fresh read, so it
    must be a pure function of its argument. With a ``cache`` the first attempt trusts the
    manifest this process wrote last (the etag condition catches anyone who wrote since).
    """
    trust_cache = cache is not None and cache.manifest is not None
    while True:
        cached = trust_cache
        trust_cache = False
        if cached and cache is not None:
            current, etag = cache.manifest, cache.etag
        else:
            current, etag = await read_manifest(store)
        try:
            new = change(current or Manifest())
        except SyncError:
            if cached:
                continue  # judged on our stale copy: judge again on the real one
            raise
        if new is None:
            return current or Manifest()
        try:
            new_etag = await store.replace(MANIFEST_NAME, msgspec.json.encode(new), etag=etag)
        except ConditionFailedError:
            continue  # someone else wrote first: re-read and re-apply
        if cache is not None:
            cache.manifest, cache.etag = new, new_etag
        return new


def listed_segments(blobs: Iterable[BlobInfo]) -> list[SegmentEntry]:
    """The segment blobs among ``blobs``, by position (checksums unknown)."""
    entries = []
    for blob in blobs:
        span = parse_segment_name(blob.name)
        if span is not None:
            entries.append(SegmentEntry(blob.name, span[0], span[1], blob.size))
    entries.sort(key=lambda e: (e.first, -e.last))
    return entries


async def list_segments(store: BlobStore) -> list[SegmentEntry]:
    """Every segment blob in the store."""
    return listed_segments(await store.list(PREFIX))


def plan_cover(manifest: Manifest | None, listed: Sequence[SegmentEntry]) -> list[SegmentEntry]:
    """The segments that make up the shipped journal, from position 1, contiguous.

    The manifest decides; segments uploaded after its last update extend it. Without a manifest,
    the largest segment at each position is taken, so compaction leftovers are ignored. Raises
    ``RestoreRefusedError`` naming the gap, the overlap or the missing blob.
    """
    by_name = {e.name: e for e in listed}
    chain: list[SegmentEntry] = []
    if manifest is not None:
        for entry in manifest.segments:
            if entry.name not in by_name:
                raise RestoreRefusedError(
                    f"{MANIFEST_NAME} lists {entry.name} but that blob is missing"
                )
            chain.append(entry)
        check_chain(chain)
        if manifest.shipped != (chain[-1].last if chain else 0):
            raise RestoreRefusedError(
                f"{MANIFEST_NAME} says shipped {manifest.shipped} but its segments end at "
                f"{chain[-1].last if chain else 0}"
            )
    position = chain[-1].last + 1 if chain else 1
    starting: dict[int, SegmentEntry] = {}
    for entry in listed:  # sorted by first, then largest last first
        starting.setdefault(entry.first, entry)
    while position in starting:
        entry = starting[position]
        chain.append(entry)
        position = entry.last + 1
    unreached = [e for e in listed if e.last >= position]
    if unreached:
        stray = unreached[0]
        if stray.first > position:
            raise RestoreRefusedError(
                f"gap: no segment holds position {position}, yet {stray.name} starts at "
                f"{stray.first}"
            )
        raise RestoreRefusedError(
            f"overlap: {stray.name} ({stray.first}..{stray.last}) straddles the end of the "
            f"chain at position {position - 1}"
        )
    return chain


def check_chain(chain: Sequence[SegmentEntry]) -> None:
    """Raise ``RestoreRefusedError`` unless ``chain`` covers ``1..last`` with no gap or overlap."""
    expected = 1
    previous: SegmentEntry | None = None
    for entry in chain:
        if entry.first > expected:
            raise RestoreRefusedError(
                f"gap: positions {expected}..{entry.first - 1} are in no segment "
                f"(next is {entry.name})"
            )
        if entry.first < expected:
            raise RestoreRefusedError(
                f"overlap: {entry.name} starts at {entry.first}, but positions up to "
                f"{expected - 1} are already in {previous.name if previous else 'an earlier one'}"
            )
        expected = entry.last + 1
        previous = entry
