"""The leaves of a columnar segment body (``events.segment_columns``): one column, packed exactly.

A column holds the values found at one place of the stored states (every ``recorded_at``, every
bar's ``close``). ``encode_column`` gives each value a kind and stores the values of each kind in
their cheapest exact form; ``decode_column`` gives back the very same values:

- decimal strings (``"31.40"``) and floats with few decimals (``529.5``) as a scaled integer
  (mantissa and number of decimals), only when turning it back gives the very same string or the
  very same float (``-0.0``, ``"-0"``, ``1e-07`` and such stay as they are);
- other floats as their 8 bytes, regrouped byte plane by byte plane (the sign and exponent bytes of
  nearby values repeat);
- ISO dates as day numbers, datetimes as microseconds, strings ending in a number (``"i-1041"``, a
  Discord snowflake) as a prefix and the number;
- integers as they are, as deltas, or as zigzag byte planes of either, whichever msgpack writes
  shortest; repeated strings once, then as indexes.
"""

from __future__ import annotations

import itertools
import operator
import re
import struct
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

_ENC = msgspec.msgpack.Encoder()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MAX_INT = 2**63 - 1
_DECIMAL = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?\Z")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DIGITS = "0123456789"
_DECIMAL_START = frozenset("-" + _DIGITS)
_MAX_NUMBER_DIGITS = 19  # as many as 2**63 - 1 (a Discord snowflake has 18 or 19)
_MAX_FLOAT_DECIMALS = 6
_FLOAT_TRIES = 8  # a column whose first 8 floats do not scale stops trying (CPU; still exact)

# Leaf kinds inside a column.
_NONE, _FALSE, _TRUE, _INT, _SCALED_FLOAT, _FLOAT, _DECIMAL_STR = 0, 1, 2, 3, 4, 5, 6
_DATE_STR, _NUMBERED_STR, _STR, _DATETIME, _OTHER = 7, 8, 9, 10, 11
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
_VALUELESS = {_NONE: None, _FALSE: False, _TRUE: True}


def encode_column(items: list[Any], strings: dict[str, tuple[int, Any]]) -> list[Any]:
    """``[kinds, count, parts]``: one kind byte per value (one int when all agree) and the
    values of each kind in its compact form. ``strings`` remembers how strings were classified
    (they repeat: symbols, sources, names)."""
    count = len(items)
    types = set(map(type, items))
    if types == {int}:  # the common cases first, without a Python step per value
        return [_INT, count, [[_INT, _pack_ints(items)]]]
    if types == {str}:
        for text in set(items).difference(strings):
            strings[text] = _classify_str(text)
        return _by_kind(count, [strings[text] for text in items])
    if types == {float} and all(_scale_float(x) is None for x in items[:_FLOAT_TRIES]):
        return [_FLOAT, count, [[_FLOAT, _pack_part(_FLOAT, items)]]]
    if len(types) == 1 and datetime in types and all(item.tzinfo is UTC for item in items):
        micros = [(item - _EPOCH) // _MICROSECOND for item in items]
        return [_DATETIME, count, [[_DATETIME, _pack_ints(micros)]]]
    kinds = bytearray()
    parts: dict[int, list[Any]] = {}
    scaling = True  # a column of full-precision floats stops trying after a few (CPU)
    misses = 0
    for item in items:
        kind_of = type(item)
        if kind_of is str:
            known = strings.get(item)
            if known is None:
                known = strings[item] = _classify_str(item)
            kind, part = known
        elif kind_of is float:
            scaled = _scale_float(item) if scaling else None
            kind, part = (_FLOAT, item) if scaled is None else (_SCALED_FLOAT, scaled)
            misses += scaled is None
            scaling = scaling and (misses < _FLOAT_TRIES or _SCALED_FLOAT in parts)
        else:
            kind, part = _classify(item)
        kinds.append(kind)
        if part is not None:
            found = parts.get(kind)
            if found is None:
                parts[kind] = [part]
            else:
                found.append(part)
    return _packed(kinds, count, parts)


def _by_kind(count: int, classified: list[tuple[int, Any]]) -> list[Any]:
    """The column of values already classified (``(kind, part)`` each)."""
    kinds = bytearray(map(_FIRST, classified))
    distinct = set(kinds)
    if len(distinct) == 1:
        return _packed(kinds, count, {kinds[0]: list(map(_SECOND, classified))})
    parts = {kind: [part for k, part in classified if k == kind] for kind in distinct}
    return _packed(kinds, count, parts)


def _packed(kinds: bytearray, count: int, parts: dict[int, list[Any]]) -> list[Any]:
    first = kinds[0] if kinds else _NONE
    packed_kinds: int | bytes = first if kinds.count(first) == len(kinds) else bytes(kinds)
    return [packed_kinds, count, [[kind, _pack_part(kind, p)] for kind, p in parts.items()]]


def _classify(item: Any) -> tuple[int, Any]:
    """A leaf's kind and what that kind stores of it (``None`` for value-less kinds)."""
    kind = type(item)
    if kind is int:
        return _INT, item
    if kind is float:
        scaled = _scale_float(item)
        return (_FLOAT, item) if scaled is None else (_SCALED_FLOAT, scaled)
    if item is None:
        return _NONE, None
    if kind is bool:
        return (_TRUE if item else _FALSE), None
    if kind is str:
        return _classify_str(item)
    if kind is datetime and item.tzinfo is UTC:
        return _DATETIME, (item - _EPOCH) // _MICROSECOND  # exact: timedelta arithmetic
    return _OTHER, item


def _classify_str(text: str) -> tuple[int, Any]:
    if not text[-1:].isdigit():
        return _STR, text  # most strings: names, sources, directions
    if len(text) == 10 and _ISO_DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
        if day is not None and day.isoformat() == text:
            return _DATE_STR, day.toordinal()
    if text[0] in _DECIMAL_START:
        scaled = _scale_decimal(text)
        if scaled is not None:
            return _DECIMAL_STR, scaled
    head = text.rstrip(_DIGITS)
    digits = text[len(head) :]
    number = digits.lstrip("0")  # leading zeros stay in the prefix: "C0000001" is "C000000", 1
    if number and (len(number) < _MAX_NUMBER_DIGITS or int(number) <= _MAX_INT):
        return _NUMBERED_STR, (text[: len(text) - len(number)], int(number))
    return _STR, text


def _scale_decimal(text: str) -> tuple[int, int] | None:
    """``(mantissa, decimals)`` of a plain decimal string, ``decimals`` -1 when it has no point;
    ``None`` unless ``_unscale_decimal`` gives exactly ``text`` back."""
    match = _DECIMAL.match(text)
    if match is None or len(text) > 19:
        return None
    sign, whole, fraction = match.groups()
    mantissa = int(whole + (fraction or ""))
    scaled = (-mantissa if sign else mantissa, -1 if fraction is None else len(fraction))
    return scaled if _unscale_decimal(scaled) == text else None


def _unscale_decimal(scaled: Sequence[int]) -> str:
    mantissa, decimals = scaled
    digits = str(abs(mantissa))
    if decimals >= 0:
        digits = digits.rjust(decimals + 1, "0")
        digits = f"{digits[: len(digits) - decimals]}.{digits[len(digits) - decimals :]}"
    return f"-{digits}" if mantissa < 0 else digits


def _scale_float(number: float) -> tuple[int, int] | None:
    """``(mantissa, decimals)`` when ``number`` is exactly ``mantissa / 10**decimals`` as parsed
    (checked: same bits back, so ``-0.0`` and the like stay floats)."""
    text = repr(number)
    if "e" in text or "n" in text:
        return None
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) > _MAX_FLOAT_DECIMALS:
        return None
    scaled = (int(whole + fraction), len(fraction))
    # ``repr`` differs for any two floats that differ in a bit (``0.0`` and ``-0.0`` too).
    return scaled if repr(_unscale_float(scaled)) == text else None


def _unscale_float(scaled: Sequence[int]) -> float:
    mantissa, decimals = scaled
    return float(f"{mantissa}e-{decimals}")


def _pack_part(kind: int, part: list[Any]) -> Any:
    """A kind's values in their compact form (see ``_unpack_part``)."""
    if kind in (_INT, _DATE_STR, _DATETIME):
        return _pack_ints(part)
    if kind in (_SCALED_FLOAT, _DECIMAL_STR):
        return [_pack_ints(list(map(_FIRST, part))), bytes(d + 1 for d in map(_SECOND, part))]
    if kind == _FLOAT:
        raw = struct.pack(f"<{len(part)}d", *part)
        return b"".join(raw[i::8] for i in range(8))  # byte planes: alike bytes side by side
    if kind == _NUMBERED_STR:
        return [_pack_strings(list(map(_FIRST, part))), _pack_ints(list(map(_SECOND, part)))]
    if kind == _STR:
        return _pack_strings(part)
    return part


def _pack_ints(numbers: list[int]) -> list[Any]:
    """The shortest (as msgpack) of ``[0, numbers]``, ``[1, deltas]`` and zigzag byte planes of
    either (``[2 or 3, width, planes]``: the low bytes of every number, then the next ones...).
    Past 64 bits, ``[0, numbers]``."""
    if not numbers or min(numbers) < -_MAX_INT or max(numbers) > _MAX_INT:
        return [0, numbers]
    deltas = [numbers[0], *(b - a for a, b in itertools.pairwise(numbers))]
    options: list[list[Any]] = [[0, numbers], [2, *_planes(numbers)]]
    if min(deltas) >= -_MAX_INT and max(deltas) <= _MAX_INT:
        options += [[1, deltas], [3, *_planes(deltas)]]
    return min(options, key=lambda option: len(_ENC.encode(option)))


def _planes(numbers: list[int]) -> tuple[int, bytes]:
    """``(width, planes)`` of ``numbers`` (within 64 bits) zigzagged."""
    width = _width(numbers)
    raw = struct.pack(f"<{len(numbers)}Q", *[(n << 1) ^ (n >> 63) for n in numbers])
    return width, b"".join(raw[i::8] for i in range(width))


def _width(numbers: list[int]) -> int:
    """Bytes a zigzagged plane needs for ``numbers`` (9: more than 64 bits)."""
    widest = max(2 * max(numbers), -2 * min(numbers) - 1)
    return max(1, (widest.bit_length() + 7) // 8)


def _unplane(width: int, planes: bytes) -> list[int]:
    count, extra = divmod(len(planes), width)
    if extra or not 1 <= width <= 8:
        raise ValueError(f"{len(planes)} bytes of planes do not split into width {width}")
    raw = bytearray(count * 8)
    for plane in range(width):
        raw[plane::8] = planes[plane * count : (plane + 1) * count]
    return [(z >> 1) ^ -(z & 1) for z in struct.unpack(f"<{count}Q", raw)]


def _pack_strings(texts: list[str]) -> list[Any]:
    """``[distinct, indexes]`` when strings repeat, else ``texts`` as they are (``[list]``)."""
    distinct = dict.fromkeys(texts)
    if len(distinct) * 2 > len(texts):
        return [texts]
    index = {text: i for i, text in enumerate(distinct)}
    return [list(distinct), list(map(index.__getitem__, texts))]


def decode_column(column: list[Any]) -> list[Any]:
    """The values of a column ``encode_column`` packed (raises ``ValueError`` and the like on a
    malformed one)."""
    kinds, count, parts = column
    unpacked = {kind: _unpack_part(kind, part) for kind, part in parts}
    if isinstance(kinds, int):
        if kinds in _VALUELESS:
            return [_VALUELESS[kinds]] * count
        values = list(unpacked[kinds]) if len(unpacked) == 1 else []
        if len(values) != count:
            raise ValueError(f"a column of {count} values of kind {kinds} holds {len(values)}")
        return values
    if len(kinds) != count:
        raise ValueError(f"a column lists {len(kinds)} kinds for {count} values")
    return [_value(kind, unpacked) for kind in kinds]


def _value(kind: int, unpacked: dict[int, Iterator[Any]]) -> Any:
    if kind == _NONE:
        return None
    if kind in (_FALSE, _TRUE):
        return kind == _TRUE
    return next(unpacked[kind])


def _unpack_part(kind: int, part: Any) -> Iterator[Any]:
    if kind == _INT:
        return iter(_unpack_ints(part))
    if kind == _DATE_STR:
        return (date.fromordinal(n).isoformat() for n in _unpack_ints(part))
    if kind == _DATETIME:
        return (_EPOCH + timedelta(microseconds=n) for n in _unpack_ints(part))
    if kind in (_SCALED_FLOAT, _DECIMAL_STR):
        pairs = zip(_unpack_ints(part[0]), (d - 1 for d in part[1]), strict=True)
        unscale = _unscale_float if kind == _SCALED_FLOAT else _unscale_decimal
        return (unscale(pair) for pair in pairs)
    if kind == _FLOAT:
        count = len(part) // 8
        raw = bytearray(len(part))
        for plane in range(8):
            raw[plane::8] = part[plane * count : (plane + 1) * count]
        return iter(struct.unpack(f"<{count}d", raw))
    if kind == _NUMBERED_STR:
        prefixes = _unpack_strings(part[0])
        return (f"{p}{n}" for p, n in zip(prefixes, _unpack_ints(part[1]), strict=True))
    if kind == _STR:
        return iter(_unpack_strings(part))
    if kind == _OTHER:
        return iter(part)
    raise ValueError(f"unknown leaf kind {kind}")


def _unpack_ints(packed: list[Any]) -> list[int]:
    mode = packed[0]
    numbers = _unplane(packed[1], packed[2]) if mode in (2, 3) else list(packed[1])
    if mode in (0, 2):
        return numbers
    out, total = [], 0
    for delta in numbers:
        total += delta
        out.append(total)
    return out


def _unpack_strings(packed: list[Any]) -> list[str]:
    if len(packed) == 1:
        return list(packed[0])
    distinct, indexes = packed
    return [distinct[i] for i in indexes]
