"""Journal segments: the immutable, checksummed unit in which the journal is shipped to Blob.

A segment holds a contiguous range of raw records (positions ``first..last``, nothing missing),
compressed with zstd. It starts with a fixed header so that a reader can check it before
decompressing anything::

    magic "IBPSEG" | format version u16 | first u64 | last u64 | count u32 | sha256(body) 32 bytes
    | chained u8 | chain hash before ``first`` 32 bytes | chain hash at ``last`` 32 bytes   (v2, v3)
    | zstd dictionary u32                                                                   (v3)

all big-endian, followed by the compressed body. The body of versions 1 and 2 is one msgpack
array of ``RawRecord`` arrays; version 3's is columnar (``events.segment_columns``: about two
thirds of the bytes) compressed with a zstd dictionary named by its number in the header and
shipped with the code (``events/segment_dictionaries/<n>.zdict``, its SHA-256 pinned in
``DICTIONARIES``), so any reader of this code, a fresh container restoring from Blob included,
decodes every version. Writers write
version 3 only; ``encode_segment(..., version=2)`` is kept for comparison (benchmarks, tests).

The chain hashes (``events.chain``) carry the journal's hash chain across Blob: a restore
recomputes the chain over the records and must reach the header's hash at ``last``, and the last
segment's hash is the head hash the manifest and the lock blob also record. Version 1 segments (no
chain fields) are still read; ``chained`` is 0 in a segment merged from them. Records travel
undecoded (``state`` is the bytes the journal stored; version 3 rebuilds them byte for byte), so a
restored journal is byte-identical to the one that shipped it.

Names sort by position: ``segments/000000000001-000000000250.seg``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

import msgspec
import zstandard

from events.chain import GENESIS, chain_end, record_rows
from events.errors import EventsError
from events.records import RawRecord
from events.segment_columns import ColumnError, count_columns, decode_columns, encode_columns

MAGIC = b"IBPSEG"
FORMAT_VERSION = 3
PREFIX = "segments/"
_HEADER_V1 = struct.Struct(">6sHQQI32s")
_HEADER_V2 = struct.Struct(">6sHQQI32sB32s32s")
_HEADER = struct.Struct(">6sHQQI32sB32s32sI")
HEADER_SIZE = _HEADER.size
# Level 6, measured here on audit events (~120-byte states): ~21 bytes an event against ~24 at the
# default level 3, at ~0.1 ms per 1,000 events more; decompression speed does not depend on it.
ZSTD_LEVEL = 6
DICTIONARY = 1
"""The zstd dictionary new segments are compressed with (trained by
``scripts/train_segment_dictionary.py``; a new one gets the next number, old ones stay)."""
DICTIONARIES = {1: "686acf298276be62de9c77d32ed42ac99a8aed1fea67dbc2ee0523bbae9ae2be"}
"""Every dictionary a segment may name: its number and the SHA-256 of its file."""
_DICTIONARY_DIR = Path(__file__).with_name("segment_dictionaries")
_NAME = re.compile(r"^segments/(\d{12})-(\d{12})\.seg$")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[RawRecord])


class SegmentError(EventsError):
    """A segment is malformed: bad magic or version, bad checksum, truncated, not contiguous."""


class SegmentHeader(msgspec.Struct, frozen=True):
    """The fixed header in front of a segment's compressed body."""

    version: int
    first: int
    last: int
    count: int
    body_sha256: str
    prev_chain: bytes | None = None
    """The journal's chain hash at ``first - 1`` (``None``: not carried, a v1 segment)."""
    last_chain: bytes | None = None
    """The journal's chain hash at ``last``."""
    size: int = HEADER_SIZE
    """Bytes before the compressed body."""
    dictionary: int = 0
    """The zstd dictionary the body is compressed with (0: none; v1 and v2 use none)."""


class Segment(msgspec.Struct, frozen=True):
    """An encoded segment ready to upload: its name, range and bytes."""

    name: str
    first: int
    last: int
    count: int
    data: bytes
    sha256: str  # of ``data``, the whole blob: what the manifest records
    chain: bytes | None = None  # the chain hash at ``last`` (``None``: not carried)

    @property
    def size(self) -> int:
        """Size in bytes of the blob."""
        return len(self.data)


def segment_name(first: int, last: int) -> str:
    """The blob name of the segment holding positions ``first..last``."""
    return f"{PREFIX}{first:012d}-{last:012d}.seg"


def parse_segment_name(name: str) -> tuple[int, int] | None:
    """``(first, last)`` from a segment's blob name, or ``None`` if it is not a segment name."""
    match = _NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def encode_segment(
    records: Sequence[RawRecord],
    *,
    level: int = ZSTD_LEVEL,
    prev_chain: bytes | None = None,
    version: int = FORMAT_VERSION,
) -> Segment:
    """Seal ``records`` (contiguous positions, at least one) into a segment.

    ``prev_chain`` is the journal's chain hash before the first record (``GENESIS`` from
    position 1); the segment's hash at its last record is computed from it over the records.
    Without it (merging version 1 segments past position 1) the segment carries no chain.
    ``version`` 2 writes the previous format (for comparisons); anything written is version 3.
    """
    if not records:
        raise SegmentError("a segment needs at least one record")
    if version not in (2, FORMAT_VERSION):
        raise SegmentError(f"cannot write segment format version {version}")
    first, last = records[0].position, records[-1].position
    _check_contiguous(records, first, last)
    if prev_chain is None and first == 1:
        prev_chain = GENESIS
    last_chain = chain_end(prev_chain, record_rows(records)) if prev_chain is not None else None
    chain_fields = (int(last_chain is not None), prev_chain or bytes(32), last_chain or bytes(32))
    if version == 2:
        body = zstandard.ZstdCompressor(level=level).compress(_ENCODER.encode(records))
        fields = (MAGIC, 2, first, last, len(records), hashlib.sha256(body).digest())
        header = _HEADER_V2.pack(*fields, *chain_fields)
    else:
        body = _compressor(level).compress(encode_columns(records))
        fields = (MAGIC, version, first, last, len(records), hashlib.sha256(body).digest())
        header = _HEADER.pack(*fields, *chain_fields, DICTIONARY)
    data = header + body
    return Segment(
        name=segment_name(first, last),
        first=first,
        last=last,
        count=len(records),
        data=data,
        sha256=sha256_hex(data),
        chain=last_chain,
    )


def read_header(data: bytes) -> SegmentHeader:
    """Parse and check the header: magic, version, a sane range and count."""
    if len(data) < _HEADER_V1.size:
        raise SegmentError(f"truncated: {len(data)} bytes, a header alone is {HEADER_SIZE}")
    magic, version, first, last, count, digest = _HEADER_V1.unpack_from(data)
    if magic != MAGIC:
        raise SegmentError(f"not a journal segment (magic {magic!r})")
    prev_chain = last_chain = None
    layout = {1: _HEADER_V1, 2: _HEADER_V2, 3: _HEADER}.get(version)
    if layout is None:
        raise SegmentError(
            f"unsupported segment format version {version} (this code reads 1 to "
            f"{FORMAT_VERSION}: a newer writer? update the code that reads it)"
        )
    if len(data) < layout.size:
        raise SegmentError(f"truncated: {len(data)} bytes, a v{version} header is {layout.size}")
    fields = layout.unpack_from(data)
    if version >= 2:
        chained, prev, at_last = fields[6:9]
        if chained:
            prev_chain, last_chain = prev, at_last
    dictionary = fields[9] if version >= 3 else 0
    if first < 1 or last < first or count != last - first + 1:
        raise SegmentError(f"inconsistent header: positions {first}..{last}, count {count}")
    return SegmentHeader(
        version, first, last, count, digest.hex(), prev_chain, last_chain, layout.size, dictionary
    )


def verify_segment(
    data: bytes, *, name: str | None = None, sha256: str | None = None
) -> SegmentHeader:
    """Check a segment without decompressing it: header, body checksum, name and manifest hash.

    ``name`` (its blob name) must match the header's range; ``sha256`` (from the manifest), when
    given, must match the whole blob.
    """
    where = f"segment {name}" if name else "segment"
    try:
        header = read_header(data)
    except SegmentError as exc:
        raise SegmentError(f"{where}: {exc}") from None
    if name is not None and parse_segment_name(name) != (header.first, header.last):
        raise SegmentError(
            f"{where}: its header says positions {header.first}..{header.last}, its name does not"
        )
    if sha256 is not None and sha256_hex(data) != sha256:
        raise SegmentError(f"{where}: checksum differs from the manifest (corrupt or replaced)")
    if hashlib.sha256(data[header.size :]).hexdigest() != header.body_sha256:
        raise SegmentError(f"{where}: body checksum mismatch (truncated or bit-flipped)")
    return header


class _HasPosition(Protocol):
    @property
    def position(self) -> int: ...


class _Position(msgspec.Struct, array_like=True):
    """Only the position of a record: decoding skips (never allocates) the other fields."""

    position: int


_POSITIONS = msgspec.msgpack.Decoder(list[_Position])


def check_segment(
    data: bytes, *, name: str | None = None, sha256: str | None = None
) -> SegmentHeader:
    """Verify a segment without keeping its records.

    Checks the checksums, header and name, and that the body decodes to exactly the header's
    contiguous positions (v1, v2) or record count (v3: positions are implicit; its states are
    rebuilt, and checked by the hash chain, only by ``decode_segment``). Memory stays at one
    decompressed body plus a small object per record, so a restore can check every segment
    before appending anything.
    """
    try:
        columnar = read_header(data).version >= 3
    except SegmentError:
        columnar = False  # refused below, with the segment's name
    if not columnar:
        return _decode_checked(data, name, sha256, records=False)[0]
    header = verify_segment(data, name=name, sha256=sha256)
    where = f"segment {name}" if name else "segment"
    try:
        count = count_columns(_decompress(data, header, where))
    except (zstandard.ZstdError, ColumnError) as exc:
        raise SegmentError(f"{where}: body does not decode: {exc}") from None
    if count != header.count:
        raise SegmentError(f"{where}: header says {header.count} records, body has {count}")
    return header


def decode_segment(
    data: bytes, *, name: str | None = None, sha256: str | None = None
) -> list[RawRecord]:
    """Verify a segment (see ``verify_segment``) and return its records, checked contiguous."""
    # With ``records`` every format decodes to ``RawRecord``s.
    return cast(list[RawRecord], _decode_checked(data, name, sha256, records=True)[1])


def _decode_checked(
    data: bytes, name: str | None, sha256: str | None, *, records: bool
) -> tuple[SegmentHeader, Sequence[_HasPosition]]:
    """Verify, decompress and decode; check the count and the contiguity of the positions.

    Without ``records``, a v1/v2 body is decoded to positions only (nothing else allocated); a
    v3 body has no positions to skip to (they are implicit), so it is rebuilt whole.
    """
    header = verify_segment(data, name=name, sha256=sha256)
    where = f"segment {name}" if name else "segment"
    decoder = _DECODER if records else _POSITIONS
    items: Sequence[_HasPosition]
    try:
        if header.version >= 3:
            items = decode_columns(_decompress(data, header, where), header.first)
        else:
            raw = zstandard.ZstdDecompressor().decompress(data[header.size :])
            items = decoder.decode(raw)
    except (zstandard.ZstdError, msgspec.DecodeError, ColumnError) as exc:
        raise SegmentError(f"{where}: body does not decode: {exc}") from None
    if len(items) != header.count:
        raise SegmentError(f"{where}: header says {header.count} records, body has {len(items)}")
    try:
        _check_contiguous(items, header.first, header.last)
    except SegmentError as exc:
        raise SegmentError(f"{where}: {exc}") from None
    return header, items


def _decompress(data: bytes, header: SegmentHeader, where: str) -> bytes:
    """The body of a v3 segment, decompressed with the dictionary its header names."""
    dictionary = _dictionary(header.dictionary, where)
    return _decompressor(header.dictionary, dictionary).decompress(data[header.size :])


_PER_THREAD = threading.local()
"""Each thread's zstd contexts: building one with a dictionary costs more than compressing a
small segment (0.2 ms, and its allocation up to 12 ms at p99, measured), and they are not
thread-safe (the shipper and restore use worker threads)."""


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] = _PER_THREAD.__dict__.setdefault("compressors", {})
    found = cache.get(level)
    if found is None:
        found = cache[level] = zstandard.ZstdCompressor(
            level=level, dict_data=_dictionary(DICTIONARY)
        )
    return found


def _decompressor(
    number: int, dictionary: zstandard.ZstdCompressionDict
) -> zstandard.ZstdDecompressor:
    cache: dict[int, zstandard.ZstdDecompressor] = _PER_THREAD.__dict__.setdefault(
        "decompressors", {}
    )
    found = cache.get(number)
    if found is None:
        found = cache[number] = zstandard.ZstdDecompressor(dict_data=dictionary)
    return found


def _dictionary_bytes(number: int) -> bytes:
    expected = DICTIONARIES.get(number)
    path = _DICTIONARY_DIR / f"{number}.zdict"
    if expected is None or not path.exists():
        raise SegmentError(
            f"compressed with zstd dictionary {number}, which this code does not have (it has "
            f"{sorted(DICTIONARIES)}): a newer writer? update the code that reads it"
        )
    data = path.read_bytes()
    if sha256_hex(data) != expected:
        raise SegmentError(f"zstd dictionary {number} ({path}) is not the one pinned: damaged")
    return data


@functools.cache
def _loaded(number: int) -> zstandard.ZstdCompressionDict:
    loaded = zstandard.ZstdCompressionDict(_dictionary_bytes(number))
    # Digested once for the writers' level (each compressor would otherwise redo it: ~1 ms).
    loaded.precompute_compress(level=ZSTD_LEVEL)
    return loaded


def _dictionary(number: int, where: str = "segment") -> zstandard.ZstdCompressionDict:
    """Zstd dictionary ``number``, checked against its pinned SHA-256 (loaded once)."""
    try:
        return _loaded(number)
    except SegmentError as exc:
        raise SegmentError(f"{where}: {exc}") from None


def _check_contiguous(records: Sequence[_HasPosition], first: int, last: int) -> None:
    if len(records) != last - first + 1:
        raise SegmentError(f"positions {first}..{last} are not contiguous")
    for offset, record in enumerate(records):
        if record.position != first + offset:
            raise SegmentError(
                f"position {record.position} found where {first + offset} was expected"
            )
