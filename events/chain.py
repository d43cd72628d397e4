"""The journal's hash chain: every stored event is linked to the one before it.

``hash(n) = BLAKE2b-256(hash(n-1) || position || version || len(stream) || len(tag) || stream ||
tag || state)`` with ``hash(0)`` = 32 zero bytes. The journal keeps ``hash(n)`` per position in its
``event_chain`` table, written in the same transaction as the event (``events.journal``); segments
carry the hash before their first position and at their last one (``events.segments``); the
manifest and the lock blob's metadata carry the hash at the shipped head (``sync``).

What it catches: a changed byte in a stored event (its own link fails, so the fault is reported at
its position), a reordered or removed event (the links around it fail), and, against a copy of the
head hash kept elsewhere, a missing or replaced tail. It is not a signature: whoever can rewrite
the whole file can recompute the chain; it guards against corruption and mistakes, not forgery.

BLAKE2b rather than SHA-256: measured here on 200k typical events, 2.3 against 2.9 µs an event,
and the chain is computed on every restore of a million events.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

GENESIS = bytes(32)
"""The hash "before" position 1."""
HASH_SIZE = 32
_PREFIX = struct.Struct(">QQII")


def link(prev: bytes, position: int, stream: str, version: int, tag: str, state: bytes) -> bytes:
    """The chain hash at ``position`` given the one before it."""
    s = stream.encode()
    t = tag.encode()
    return hashlib.blake2b(
        prev + _PREFIX.pack(position, version, len(s), len(t)) + s + t + state,
        digest_size=HASH_SIZE,
    ).digest()


RowLike = tuple[int, str, int, str, bytes]
"""(position, stream, version, tag, state): a stored row, or a ``RawRecord`` (same field order)."""


def extend(prev: bytes, rows: Iterable[RowLike]) -> Iterator[tuple[int, bytes]]:
    """``(position, hash)`` for consecutive ``rows`` following the hash ``prev``."""
    blake = hashlib.blake2b
    pack = _PREFIX.pack
    for position, stream, version, tag, state in rows:
        s = stream.encode()
        t = tag.encode()
        prev = blake(
            prev + pack(position, version, len(s), len(t)) + s + t + state, digest_size=HASH_SIZE
        ).digest()
        yield position, prev


def chain_end(prev: bytes, rows: Iterable[RowLike]) -> bytes:
    """The hash reached after ``rows`` following ``prev`` (``prev`` itself for no rows)."""
    end = prev
    for _, digest in extend(prev, rows):
        end = digest
    return end


def record_rows(records: Iterable[Any]) -> list[RowLike]:
    """``RawRecord``-like objects as row tuples (``extend`` unpacks tuples)."""
    return [(r.position, r.stream, r.version, r.tag, r.state) for r in records]


def broken_links(rows: Iterable[RowLike], stored: Mapping[int, bytes]) -> Iterator[int]:
    """Positions among ``rows`` whose stored hash does not follow from the stored one before it.

    Each row is checked against its own stored predecessor (not a running recomputation), so one
    changed event is reported at its own position and the rows after it still check. A row whose
    hash or predecessor hash is missing from ``stored`` is not judged here (see ``unchained``).
    """
    # ``link`` inlined, and each tag encoded once: a journal rebuild checks every row (1M rows:
    # 0.94 -> 0.84 s of CPU), ahead of everything else the process does.
    get = stored.get
    blake = hashlib.blake2b
    pack = _PREFIX.pack
    tags: dict[str, bytes] = {}
    for position, stream, version, tag, state in rows:
        prev = GENESIS if position == 1 else get(position - 1)
        mine = get(position)
        if prev is None or mine is None:
            continue
        s = stream.encode()
        t = tags.get(tag)
        if t is None:
            t = tags[tag] = tag.encode()
        digest = blake(prev, digest_size=HASH_SIZE)
        digest.update(pack(position, version, len(s), len(t)))
        digest.update(s)
        digest.update(t)
        digest.update(state)
        if digest.digest() != mine:
            yield position
