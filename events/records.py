"""The raw shape of a stored event, as the journal keeps it and as segments ship it.

Sync and restore move these without decoding payloads: ``state`` is the msgpack-encoded envelope
and payload exactly as stored, so a restored journal is byte-identical to the original.
"""

from __future__ import annotations

import msgspec


class RawRecord(msgspec.Struct, frozen=True, array_like=True):
    """One stored event: global position, stream id and version, tag, and encoded state."""

    position: int
    stream: str
    version: int
    tag: str
    state: bytes
