"""Segment encoding: round trip, names, and every kind of damage refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.records import RawRecord
from events.segments import (
    HEADER_SIZE,
    SegmentError,
    decode_segment,
    encode_segment,
    parse_segment_name,
    read_header,
    segment_name,
    verify_segment,
)


def records(first: int, count: int) -> list[RawRecord]:
    """Contiguous raw records from ``first``."""
    return [
        RawRecord(p, f"s:{p % 3}", p, "command_handled", b"\x81\xa1n" + str(p).encode())
        for p in range(first, first + count)
    ]


def test_round_trip_is_byte_identical() -> None:
    """Decoding an encoded segment gives back exactly the records, states byte for byte."""
    recs = records(7, 300)
    segment = encode_segment(recs)
    assert segment.name == "segments/000000000007-000000000306.seg"
    assert (segment.first, segment.last, segment.count) == (7, 306, 300)
    assert decode_segment(segment.data, name=segment.name, sha256=segment.sha256) == recs


@settings(max_examples=30, deadline=None)
@given(
    first=st.integers(1, 10**9),
    states=st.lists(st.binary(max_size=64), min_size=1, max_size=40),
)
def test_round_trip_any_records(first: int, states: list[bytes]) -> None:
    """Invariant: for any contiguous records, decode(encode(records)) == records."""
    recs = [RawRecord(first + i, "s", i + 1, "t", s) for i, s in enumerate(states)]
    assert decode_segment(encode_segment(recs).data) == recs


def test_names_sort_by_position() -> None:
    """Zero-padded names sort in position order and parse back to their range."""
    names = [segment_name(1, 9), segment_name(10, 250), segment_name(251, 100_000)]
    assert sorted(names) == names
    assert parse_segment_name(names[1]) == (10, 250)
    assert parse_segment_name("segments/x.seg") is None


def test_non_contiguous_records_are_refused() -> None:
    """A segment cannot be sealed from records with a hole in their positions."""
    recs = records(1, 5)
    with pytest.raises(SegmentError, match=r"not contiguous|expected"):
        encode_segment([*recs[:2], *recs[3:]])


def test_truncated_segment_is_refused() -> None:
    """A segment cut short fails its body checksum (or its header when cut inside it)."""
    data = encode_segment(records(1, 100)).data
    with pytest.raises(SegmentError, match="checksum"):
        verify_segment(data[:-10])
    with pytest.raises(SegmentError, match="truncated"):
        verify_segment(data[: HEADER_SIZE - 1])


@pytest.mark.parametrize("where", ["body", "header-range", "magic"])
def test_bit_flip_is_refused(where: str) -> None:
    """One flipped bit in the body, the header's range or the magic is detected."""
    data = bytearray(encode_segment(records(1, 100)).data)
    index = {"body": len(data) - 5, "header-range": 15, "magic": 0}[where]
    data[index] ^= 0x04
    with pytest.raises(SegmentError):
        decode_segment(bytes(data), name=segment_name(1, 100))


def test_name_must_match_header() -> None:
    """A segment stored under another range's name is refused."""
    segment = encode_segment(records(1, 10))
    with pytest.raises(SegmentError, match="name"):
        verify_segment(segment.data, name=segment_name(1, 11))


def test_manifest_checksum_must_match() -> None:
    """A segment whose bytes differ from the manifest's SHA-256 is refused."""
    segment = encode_segment(records(1, 10))
    with pytest.raises(SegmentError, match="manifest"):
        verify_segment(segment.data, sha256="0" * 64)


def test_header_reports_range_and_count() -> None:
    """The header carries version, first and last position, count and the zstd dictionary."""
    header = read_header(encode_segment(records(5, 3)).data)
    assert (header.version, header.first, header.last, header.count) == (3, 5, 7, 3)
    assert header.dictionary == 1


def test_check_refuses_a_well_checksummed_body_with_wrong_positions() -> None:
    """A body whose checksum is right but whose positions skip (a writer bug) is refused."""
    import hashlib

    import msgspec
    import zstandard

    from events.segments import _HEADER_V2, MAGIC, check_segment

    recs = records(1, 3)
    body = zstandard.ZstdCompressor().compress(msgspec.msgpack.encode([recs[0], recs[2]]))
    header = _HEADER_V2.pack(MAGIC, 2, 1, 2, 2, hashlib.sha256(body).digest(), 0, *[bytes(32)] * 2)
    with pytest.raises(SegmentError, match="expected"):
        check_segment(header + body)
    assert check_segment(encode_segment(recs).data).count == 3


def test_a_segment_carries_the_chain_and_version_1_segments_still_read() -> None:
    """A v2 header holds the chain hash before ``first`` and at ``last`` (computed over the
    records); a version 1 segment (no chain fields) still decodes, with no chain."""
    import hashlib

    import msgspec
    import zstandard

    from events.chain import GENESIS, chain_end, record_rows
    from events.segments import _HEADER_V1, MAGIC, decode_segment

    recs = records(1, 4)
    header = read_header(encode_segment(recs).data)
    assert header.prev_chain == GENESIS
    assert header.last_chain == chain_end(GENESIS, record_rows(recs))
    middle = chain_end(GENESIS, record_rows(recs[:2]))
    later = read_header(encode_segment(recs[2:], prev_chain=middle).data)
    assert (later.prev_chain, later.last_chain) == (middle, header.last_chain)
    body = zstandard.ZstdCompressor().compress(msgspec.msgpack.encode(recs))
    old = _HEADER_V1.pack(MAGIC, 1, 1, 4, 4, hashlib.sha256(body).digest()) + body
    assert read_header(old).last_chain is None
    assert decode_segment(old) == recs
