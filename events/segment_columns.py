"""The columnar body of a version 3 segment: records split into columns, rebuilt byte for byte.

A stored state is a msgpack tree (``events.codec``: the envelope array with the payload map
inside). The body keeps, per record, only its *shape* (the tree without its leaf values: array
lengths, map keys) as an index into a table of shapes, and puts each leaf value in the column of
its place in the tree: every ``recorded_at`` in one column, every bar's ``close`` of
``bars_fetched`` in another. Values of one column look alike, so zstd finds far more to share, and
each column is stored in the cheapest exact form for its values (``events.segment_leaves``:
decimals and short floats as scaled integers where that is exact, dates and times as numbers...).
Repeated streams and tags are stored once, then as indexes.

The body is one msgpack array: ``[streams, stream index per record, version step per record,
tags, tag index per record, shape per record (-1: kept whole), shapes (each with the column of
each of its leaves), columns, states kept whole]``.

Positions are implicit (``first`` onwards); a version is stored as the step from the previous
version of its stream in the same body. A state goes into columns only when msgspec writes its
decoded tree back to exactly its bytes, and the template that rebuilds a shape writes exactly what
msgspec writes (checked for each shape when first seen); any other state (not msgpack, or not as
msgspec writes it) travels whole in a side list, so every record round-trips byte for byte.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from events.errors import EventsError
from events.records import RawRecord
from events.segment_leaves import decode_column, encode_column

_ENC = msgspec.msgpack.Encoder()
_ANY = msgspec.msgpack.Decoder()
_CONTAINERS = frozenset((dict, list))
_END = object()  # past a column's last value (a value may be None)
_drain: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend
"""Runs an iterator to its end, keeping nothing."""
# The envelope's schema version, recorded at, command id, guild, user: columns shared by all tags.
_ENVELOPE = frozenset(range(5))

Shape = Any
"""A state's tree without its leaves: ``0`` a leaf, ``(1, kids)`` an array, ``(2, keys, kids)`` a
map (tuples while encoding, lists once decoded from msgpack)."""


class ColumnError(EventsError, ValueError):
    """A columnar body does not decode (its checksum held, so a writer bug or a foreign body);
    ``events.segments`` reports it as a ``SegmentError`` naming the segment."""


# -- encoding ------------------------------------------------------------------------------------


_ShapeEntry = tuple[int, list[int], Callable[[Sequence[Any]], bytes], list[Callable[[Any], None]]]
"""A shape's number, its leaves' columns, its template, and the appends of those columns."""


def encode_columns(records: Sequence[RawRecord]) -> bytes:
    """The uncompressed columnar body of ``records`` (see the module docstring)."""
    streams: dict[str, int] = {}
    tags: dict[str, int] = {}
    last_version: dict[str, int] = {}
    stream_ids, version_steps, tag_ids, shape_ids = [], [], [], []
    shapes: dict[tuple[str, Shape], _ShapeEntry] = {}
    columns: dict[tuple[Any, ...], int] = {}
    values: list[list[Any]] = []
    raw: list[bytes] = []
    for record in records:
        stream_ids.append(streams.setdefault(record.stream, len(streams)))
        version_steps.append(record.version - last_version.get(record.stream, 0))
        last_version[record.stream] = record.version
        tag_ids.append(tags.setdefault(record.tag, len(tags)))
        leaves: list[Any] = []
        entry = None
        try:
            tree = _ANY.decode(record.state)
        except msgspec.DecodeError:
            pass  # not msgpack: kept as it is
        else:
            shape = _walk(tree, leaves)
            entry = shapes.get((record.tag, shape))
            if entry is None:
                paths, template = _known_shape(record.tag, shape, tree, leaves)
                ids = [_column_id(columns, values, record.tag, path) for path in paths]
                appends = [values[column].append for column in ids]
                entry = shapes[(record.tag, shape)] = (len(shapes), ids, template, appends)
            # The template writes a tree exactly as msgspec encodes it (checked once per shape
            # above), so one comparison in C says whether the rebuilt state will be this one.
            if _ENC.encode(tree) != record.state:
                entry = None  # not as msgspec writes it: kept as it is
        if entry is None:
            shape_ids.append(-1)
            raw.append(record.state)
            continue
        shape_ids.append(entry[0])
        # Record order in every column (shape by shape, transposed, measured 1 byte an event
        # more: the deltas of times and command ids jump between shapes).
        _drain(map(operator.call, entry[3], leaves))  # each leaf onto its column, in C
    table = [[shape, ids] for (_, shape), (_, ids, _, _) in shapes.items()]
    strings: dict[str, tuple[int, Any]] = {}
    return _ENC.encode(
        [
            list(streams),
            stream_ids,
            version_steps,
            list(tags),
            tag_ids,
            shape_ids,
            table,
            [encode_column(column, strings) for column in values],
            raw,
        ]
    )


_KNOWN: dict[tuple[str, Shape], tuple[list[tuple[Any, ...]], Callable[[Sequence[Any]], bytes]]]
_KNOWN = {}
_KNOWN_MAX = 512  # a few hundred KiB at most; the benchmark mix has 18 shapes


def _known_shape(
    tag: str, shape: Shape, tree: Any, leaves: list[Any]
) -> tuple[list[tuple[Any, ...]], Callable[[Sequence[Any]], bytes]]:
    """The column paths and template of a shape, remembered across bodies (a small segment,
    as durable acks seal, would otherwise spend most of its encoding building them)."""
    found = _KNOWN.get((tag, shape))
    if found is None:
        paths: list[tuple[Any, ...]] = []
        _paths(tree, (), paths)
        template = _template(shape)
        if template(leaves) != _ENC.encode(tree):  # a bug here, never in the data
            raise AssertionError(f"a shape's template does not write it: {shape!r}")
        if len(_KNOWN) >= _KNOWN_MAX:
            _KNOWN.clear()  # shapes keyed by user data (a map of symbols): start again
        found = _KNOWN[(tag, shape)] = (paths, template)
    return found


def _walk(node: Any, leaves: list[Any]) -> Shape:
    """The shape of ``node``; its leaves appended in tree order (the hot loop: kept lean)."""
    kind = type(node)
    if kind is dict:
        items: Any = node.values()
        keys: tuple[Any, ...] | None = tuple(node)
    elif kind is list:
        items, keys = node, None
    else:
        leaves.append(node)
        return 0
    if _CONTAINERS.isdisjoint(map(type, items)):  # only leaves inside: no step per item
        leaves.extend(items)
        kids: tuple[Shape, ...] = (0,) * len(node)
    else:
        found: list[Shape] = []
        for item in items:  # leaves here directly: a call per item costs more than the item
            if type(item) in _CONTAINERS:
                found.append(_walk(item, leaves))
            else:
                leaves.append(item)
                found.append(0)
        kids = tuple(found)
    return (1, kids) if keys is None else (2, keys, kids)


def _paths(node: Any, path: tuple[Any, ...], out: list[tuple[Any, ...]]) -> None:
    """The column path of each leaf of ``node``, in tree order (once per new shape).

    A list of alike items (bars, symbols) shares its columns; a list of mixed items (the
    envelope, a bar's own fields) is a record laid out as an array: a column per place.
    """
    if type(node) is dict:
        for key, value in node.items():
            _paths(value, (*path, key), out)
    elif type(node) is list:
        kind = type(node[0]) if node else None
        alike = all(type(item) is kind for item in node)
        for i, item in enumerate(node):
            _paths(item, (*path, None if alike else i), out)
    else:
        out.append(path)


def _column_id(
    columns: dict[tuple[Any, ...], int], values: list[list[Any]], tag: str, path: tuple[Any, ...]
) -> int:
    """The column of a leaf: the envelope's fields are shared by all tags, the payload's not."""
    key = path if len(path) == 1 and path[0] in _ENVELOPE else (tag, *path)
    found = columns.get(key)
    if found is None:
        found = columns[key] = len(values)
        values.append([])
    return found


def _template(shape: Shape) -> Callable[[Sequence[Any]], bytes]:
    """A function writing a tree of this shape from its leaves, as msgspec's encoder would."""
    pieces: list[bytes | None] = []  # ``None``: the next leaf
    _fragments(shape, pieces)
    fixed: list[bytes] = []
    current = b""
    for piece in pieces:
        if piece is None:
            fixed.append(current)
            current = b""
        else:
            current += piece
    tail = current
    encode = _ENC.encode

    def write(leaves: Sequence[Any]) -> bytes:
        out = bytearray()
        for prefix, leaf in zip(fixed, leaves, strict=True):
            out += prefix
            out += encode(leaf)
        out += tail
        return bytes(out)

    return write


def _fragments(shape: Shape, out: list[bytes | None]) -> None:
    if shape == 0:
        out.append(None)
        return
    if shape[0] == 1:
        out.append(_container_header(len(shape[1]), 0x90, 0xDC))
        for kid in shape[1]:
            _fragments(kid, out)
        return
    keys, kids = shape[1], shape[2]
    out.append(_container_header(len(keys), 0x80, 0xDE))
    for key, kid in zip(keys, kids, strict=True):
        out.append(_ENC.encode(tuple(key) if type(key) is list else key))
        _fragments(kid, out)


def _container_header(length: int, fix: int, wide: int) -> bytes:
    """A msgpack array (``fix`` 0x90) or map (0x80) header, in the smallest form."""
    if length < 16:
        return bytes([fix | length])
    if length < 1 << 16:
        return bytes([wide]) + length.to_bytes(2, "big")
    return bytes([wide + 1]) + length.to_bytes(4, "big")


# -- decoding ------------------------------------------------------------------------------------


class _Outline(msgspec.Struct, array_like=True):
    """A body with its shapes and columns left undecoded: enough to check its records' lists."""

    streams: list[str]
    stream_ids: list[int]
    steps: list[int]
    tags: list[str]
    tag_ids: list[int]
    shape_ids: list[int]
    table: msgspec.Raw
    columns: msgspec.Raw
    raw: list[bytes]


_OUTLINE = msgspec.msgpack.Decoder(_Outline)


def count_columns(body: bytes) -> int:
    """The number of records of a columnar body, checking its per-record lists agree (cheap:
    no state is rebuilt; ``decode_columns`` checks the rest). Raises ``ColumnError``."""
    try:
        outline = _OUTLINE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ColumnError(f"columnar body does not decode: {exc}") from None
    count = len(outline.stream_ids)
    lists = (outline.steps, outline.tag_ids, outline.shape_ids)
    if any(len(items) != count for items in lists):
        raise ColumnError("columnar body's per-record lists differ in length")
    if (
        any(not 0 <= i < len(outline.streams) for i in outline.stream_ids)
        or any(not 0 <= i < len(outline.tags) for i in outline.tag_ids)
        or outline.shape_ids.count(-1) != len(outline.raw)
    ):
        raise ColumnError("columnar body's per-record lists point outside its tables")
    return count


def decode_columns(body: bytes, first: int) -> list[RawRecord]:
    """The records of a columnar body whose first position is ``first``.

    Raises ``ColumnError`` when the body is not a well-formed columnar body.
    """
    try:
        return _decode(body, first)
    except (msgspec.DecodeError, ValueError, TypeError, IndexError, KeyError, StopIteration) as exc:
        raise ColumnError(f"columnar body does not decode: {exc!r}") from None


def _decode(body: bytes, first: int) -> list[RawRecord]:
    streams, stream_ids, steps, tags, tag_ids, shape_ids, table, columns, raw = _ANY.decode(body)
    cursors = [iter(decode_column(column)) for column in columns]
    writers = [(_template(shape), [cursors[i].__next__ for i in ids]) for shape, ids in table]
    raw_states = iter(raw)
    last_version: dict[str, int] = {}
    records = []
    for offset, (stream_id, step, tag_id, shape_id) in enumerate(
        zip(stream_ids, steps, tag_ids, shape_ids, strict=True)
    ):
        stream = streams[stream_id]
        version = last_version.get(stream, 0) + step
        last_version[stream] = version
        if shape_id < 0:
            state = next(raw_states)
        else:
            write, takes = writers[shape_id]
            state = write([take() for take in takes])
        records.append(RawRecord(first + offset, stream, version, tags[tag_id], state))
    if any(next(cursor, _END) is not _END for cursor in (*cursors, raw_states)):
        raise ValueError("the columns hold more values than its records use")
    return records
