"""Segment format versions: v1/v2 segments written by the old code still read; v3 damage refused.

The fixtures in ``tests/fixtures/segments`` were written by the code before format 3 (commit
2d6e767): 1,200 events of ``benchmarks/journal.py``'s mix (seed 11) in two v2 segments, 1-700 and
701-1200, chained from genesis; and a v1 segment (no chain fields) of the first 50.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import msgspec
import pytest
import zstandard

from events.chain import GENESIS, chain_end, record_rows
from events.records import RawRecord
from events.segments import (
    _HEADER,
    MAGIC,
    SegmentError,
    check_segment,
    decode_segment,
    encode_segment,
    read_header,
    segment_name,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "segments"
V2_FIRST = FIXTURES / "000000000001-000000000700.seg"
V2_SECOND = FIXTURES / "000000000701-000000001200.seg"
V1 = FIXTURES / "v1-000000000001-000000000050.seg"
# Printed by the old code when it wrote the fixtures: sha256 of msgpack(records), chain at 1200.
ALL_SHA256 = "04f8b417d154b84127554baff20c67d4a16893c9f7a72f7d3e2bea056425ff4b"
FIRST_50_SHA256 = "92aa876f657e05d4d58bc6570ad0b53806405beb162167be5d3cdb45184f1623"
CHAIN_AT_1200 = "b92f4bfb4ccf85697a3d963a1d990b7645fd83af43a87f6048df19bb6d94d7d9"


def old_records() -> list[RawRecord]:
    """The 1,200 records of the v2 fixtures, decoded by this code."""
    first = decode_segment(V2_FIRST.read_bytes(), name="segments/" + V2_FIRST.name)
    second = decode_segment(V2_SECOND.read_bytes(), name="segments/" + V2_SECOND.name)
    return first + second


def test_v2_segments_of_the_old_code_decode_unchanged() -> None:
    """The old code's v2 segments decode to the very records it wrote (same msgpack hash), their
    headers still carry the chain, and the chain recomputed over them reaches its head hash."""
    recs = old_records()
    assert [r.position for r in recs] == list(range(1, 1201))
    assert hashlib.sha256(msgspec.msgpack.encode(recs)).hexdigest() == ALL_SHA256
    first, second = read_header(V2_FIRST.read_bytes()), read_header(V2_SECOND.read_bytes())
    assert (first.version, second.version) == (2, 2)
    assert (first.prev_chain, second.last_chain) == (GENESIS, bytes.fromhex(CHAIN_AT_1200))
    assert chain_end(GENESIS, record_rows(recs)).hex() == CHAIN_AT_1200
    assert check_segment(V2_SECOND.read_bytes()).count == 500


def test_v1_segment_of_the_old_code_decodes() -> None:
    """A version 1 segment (no chain fields) still decodes to its records, with no chain."""
    data = V1.read_bytes()
    recs = decode_segment(data)
    assert hashlib.sha256(msgspec.msgpack.encode(recs)).hexdigest() == FIRST_50_SHA256
    assert read_header(data).last_chain is None


def test_v3_round_trips_the_old_records_in_fewer_bytes() -> None:
    """The same records written as v3 decode byte for byte, keep the same chain, and take at
    most 70 % of the v2 bytes (40 % fewer measured: 38 against 57 bytes an event)."""
    recs = old_records()
    v3 = encode_segment(recs)
    assert read_header(v3.data).version == 3
    assert decode_segment(v3.data, name=v3.name, sha256=v3.sha256) == recs
    assert v3.chain == bytes.fromhex(CHAIN_AT_1200)
    v2_size = V2_FIRST.stat().st_size + V2_SECOND.stat().st_size
    assert v3.size <= 0.7 * v2_size
    assert encode_segment(recs, version=2).data[6:8] == (2).to_bytes(2, "big")


def _reheadered(data: bytes, **changes: int) -> bytes:
    """``data`` with header fields replaced (and nothing else)."""
    fields = list(_HEADER.unpack_from(data))
    index = {"version": 1, "dictionary": 9}
    for field, value in changes.items():
        fields[index[field]] = value
    return _HEADER.pack(*fields) + data[_HEADER.size :]


def _with_body(data: bytes, body: bytes) -> bytes:
    """A v3 segment whose compressed body is ``body``, its checksum made to match (a writer bug,
    not damage in transit)."""
    fields = list(_HEADER.unpack_from(data))
    fields[5] = hashlib.sha256(body).digest()
    return _HEADER.pack(*fields) + body


@pytest.mark.parametrize("offset", [0, 6, 40, 300, -1])
def test_a_flipped_byte_in_a_v3_segment_is_refused(offset: int) -> None:
    """A byte flipped in the magic, version, body checksum, or the body is refused with a message
    saying what is wrong; the input bytes are untouched (nothing to change)."""
    data = encode_segment(old_records()[:300]).data
    damaged = bytearray(data)
    damaged[offset] ^= 0x10
    with pytest.raises(SegmentError, match=r"magic|version|checksum|inconsistent"):
        decode_segment(bytes(damaged), name=segment_name(1, 300))
    assert bytes(damaged)[:offset] == data[:offset]


def test_a_v3_body_that_does_not_decode_is_refused_clearly() -> None:
    """A v3 body whose checksum holds but that is not a columnar body (not zstd, or zstd of
    something else) is refused as 'does not decode', by check and decode alike."""
    data = encode_segment(old_records()[:10]).data
    for body in (b"not zstd at all", zstandard.ZstdCompressor().compress(b"\x93\x01\x02\x03")):
        bad = _with_body(data, body)
        with pytest.raises(SegmentError, match="does not decode"):
            decode_segment(bad)
        with pytest.raises(SegmentError, match="does not decode"):
            check_segment(bad)


def test_unknown_dictionary_and_version_are_refused_by_name() -> None:
    """A segment naming a zstd dictionary this code lacks, or a format newer than it reads, is
    refused saying which (a newer writer), never decoded with a guess."""
    data = encode_segment(old_records()[:10]).data
    with pytest.raises(SegmentError, match="dictionary 7, which this code does not have"):
        decode_segment(_reheadered(data, dictionary=7))
    with pytest.raises(SegmentError, match="unsupported segment format version 4"):
        decode_segment(_reheadered(data, version=4))


def test_a_truncated_v3_header_is_refused() -> None:
    """A v3 segment cut inside its (longer) header says it is truncated."""
    data = encode_segment(old_records()[:10]).data
    with pytest.raises(SegmentError, match="truncated"):
        read_header(data[: _HEADER.size - 2])
    assert data[:6] == MAGIC
    assert struct.unpack(">H", data[6:8]) == (3,)
