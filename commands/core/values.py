"""The one gate every option value passes (DESIGN.md, "Values enter through one gate").

Discord's slash commands and "Log trade" form, the console and the CLI all hand their option values
to ``commands.core.spec.coerce_options``, which parses each through the functions here; the trade
handlers check their amounts through the same ``decimal_value`` (so a handler called directly, as
tests and replays do, holds to the same bounds). A value that passes is one every projection can
load and every rebuild reproduces:

- **decimals** are parsed exactly and checked under ``GATE_CONTEXT`` (the trades table's
  ``DECIMAL(38, 8)``: 38 digits, 8 places, every decimal signal trapped). A value that would need
  rounding is refused, never rounded: ``1E-999999999`` has more than 8 places (the default context's
  ``normalize()`` used to make it 0, which crashed pyarrow), ``100.000000000000000000000000001`` too
  (28-digit rounding used to show it as 100 and make the analytics batch fail).
- **integers** are bounded to what their consumers take (``timedelta`` days, Discord snowflakes as
  the journal's and DuckDB's signed 64-bit integers).
- **text** is bounded in length, stripped of control characters, lone surrogates (which no UTF-8
  encoder takes) and bidirectional overrides (which make a note display as something else).

Every refusal is an ``OptionError`` whose message names the option and what it takes.
"""

from __future__ import annotations

import decimal
import itertools
import math
import re
import unicodedata
from collections.abc import Mapping
from decimal import Context, Decimal, Inexact, InvalidOperation

from commands.core.errors import CommandError
from commands.core.models import Upload
from projections.trading import PRICE_SCALE

DECIMAL_DIGITS = 38
"""Significant digits of the trades table's decimals (pyarrow ``decimal128(38, 8)``)."""
DECIMAL_PLACES = PRICE_SCALE
"""Places a decimal may have (more would have to be rounded to fit ``DECIMAL(38, 8)``)."""
MAX_AMOUNT = Decimal(10_000_000_000)
"""Largest magnitude of a decimal option: prices and sizes up to ten billion keep their P&L within
the trades table's exact ``DECIMAL(38, 16)`` column (22 integer digits), so no typo can make a
projection overflow."""
MAX_NUMBER_TEXT = 64
"""Characters of a number as typed; anything longer is not a price anyone means."""
MAX_TEXT = 1000
"""Characters of a free-text option (a note, tags, a list of symbols)."""
MAX_NAME = 100
"""Characters of a name-like option (a symbol, a trade id, a strategy, a time)."""
MAX_SNOWFLAKE = 2**63 - 1
"""Discord ids are positive and stored as signed 64-bit integers (msgspec, SQLite, DuckDB)."""
MAX_DAYS = 36_500
"""A look-back window of a hundred years: more than any journal holds, well inside ``timedelta``."""
MAX_EARNINGS_DAYS = 365
"""The longest earnings window a scan may skip (``skip_earnings_within``)."""
MAX_UPLOAD = 64 * 1024
"""Bytes of the largest file a member may send (a strategy's YAML): front ends do not download a
larger one, and the command refuses it by its declared size."""
TEXT_TYPES = ("text/", "application/yaml", "application/x-yaml", "application/octet-stream")
"""Content types a sent text file may declare (Discord guesses one from the extension; none is
fine too): front ends download nothing else, and the command refuses anything else."""
MAX_AUDIT_VALUE = 200
"""Characters of one option value as the audit event keeps it (refused values included)."""
MAX_AUDIT_OPTIONS = 25
"""Options one audit event keeps (a slash command has at most 25)."""

GATE_CONTEXT = Context(
    prec=DECIMAL_DIGITS,
    Emax=DECIMAL_DIGITS - DECIMAL_PLACES - 1,
    Emin=-DECIMAL_PLACES,
    traps=[
        decimal.Clamped,
        decimal.DivisionByZero,
        decimal.FloatOperation,
        Inexact,
        InvalidOperation,
        decimal.Overflow,
        decimal.Subnormal,
        decimal.Underflow,
    ],
)
"""The explicit context of every check: the digits and exponents ``DECIMAL(38, 8)`` holds, and
every signal that means a changed value trapped, so an operation that would round or overflow
raises instead. ``Rounded`` alone is not trapped: dropping trailing zeros (``1.500000000`` to 8
places) changes no value."""
_PLACES = Decimal(1).scaleb(-DECIMAL_PLACES)
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_SPACE_LIKE = {"\t", "\n", "\r", "\v", "\f", "\u2028", "\u2029", "\x85"}
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class OptionError(CommandError, ValueError):
    """An option value that does not fit its spec (unknown, missing, ill-typed or out of bounds);
    the message names the option and is meant for the member."""


def shown(value: object, limit: int = 40) -> str:
    """A refused value as a message quotes it: sanitised, cut and quoted, so a refusal stays
    short and plain."""
    text = _cut(clean_text(_plain(value)), limit)
    return repr(text)


def _plain(value: object) -> str:
    """``str(value)``, except that an int too long for ``str`` (Python refuses beyond 4,300
    digits) is described by its size."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length():,} bits"
    return str(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def decimal_value(
    name: str,
    value: object,
    *,
    low: Decimal | None = None,
    high: Decimal | None = None,
) -> Decimal:
    """``value`` (text, an int or a float from Discord's JSON) as an exact decimal within
    ``[low, high]`` (``high`` defaults to ``MAX_AMOUNT``; the magnitude is at most ``high``
    whatever ``low``) with at most
    ``DECIMAL_PLACES`` places, in canonical form (``10.0`` -> ``10``, ``1.500000000`` -> ``1.5``).

    Raises ``OptionError`` for anything else; nothing is ever rounded.
    """
    if isinstance(value, bool):
        raise OptionError(f"{name} must be a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise OptionError(f"{name} must be a finite number")
        # repr of a float is the shortest text that round-trips: what the member typed.
        value = repr(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        text = str(value).strip().lstrip("$")
        if len(text) > MAX_NUMBER_TEXT:
            raise OptionError(f"{name} must be a number, not {len(text):,} characters")
        if "," in text:
            # Only as a thousands separator: "1,5" is a decimal comma, which we would misread.
            if not _THOUSANDS.fullmatch(text):
                raise OptionError(
                    f"{name} must be a number with a decimal point, not {shown(text)}"
                )
            text = text.replace(",", "")
        try:
            number = Decimal(text)  # exact: the constructor never rounds
        except InvalidOperation:
            raise OptionError(f"{name} must be a number, not {shown(text)}") from None
    if not number.is_finite():
        raise OptionError(f"{name} must be a finite number")
    if low is not None and number < low:
        raise OptionError(f"{name} must be at least {low:,} (got {_number(number)})")
    high = MAX_AMOUNT if high is None else high
    if number.copy_abs() > high:  # copy_abs: no context, so no overflow at any exponent
        raise OptionError(f"{name} must be at most {high:,} (got {_number(number)})")
    if number.is_zero():
        return Decimal(0)
    try:
        # With the magnitude bounded, quantizing to 8 places can only signal Inexact when
        # digits would be lost; the trap turns that into a refusal.
        exact = number.quantize(_PLACES, context=GATE_CONTEXT)
    except Inexact:
        raise OptionError(f"{name} has more than {DECIMAL_PLACES} decimal places") from None
    if exact == exact.to_integral_value(context=GATE_CONTEXT):
        return exact.quantize(Decimal(1), context=GATE_CONTEXT)
    return exact.normalize(GATE_CONTEXT)


def _number(number: Decimal) -> str:
    """A refused decimal as a message shows it: short whatever its exponent."""
    text = str(number)
    return text if len(text) <= 30 else f"{number:.3E}"


def int_value(name: str, value: object, *, low: int, high: int) -> int:
    """``value`` (an int, or text such as ``42``, ``<#42>`` or ``<@!42>``) as an int within
    ``[low, high]``; raises ``OptionError`` otherwise."""
    if isinstance(value, bool):
        raise OptionError(f"{name} must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        raw = str(value)
        text = raw.strip().lstrip("<@#!&").rstrip(">")
        if len(text) > MAX_NUMBER_TEXT:
            raise OptionError(f"{name} must be a whole number, not {len(text):,} characters")
        try:
            number = int(text)
        except ValueError:
            raise OptionError(f"{name} must be a whole number, not {shown(raw)}") from None
    if not low <= number <= high:
        raise OptionError(
            f"{name} must be between {low:,} and {high:,} (got {_cut(_plain(number), 30)})"
        )
    return number


def clean_text(value: str) -> str:
    """``value`` with control characters, lone surrogates and bidirectional overrides removed
    (line breaks and tabs become spaces), stripped."""
    if value.isprintable() and value == value.strip():
        return value  # the common case, without a pass per character
    out = []
    for char in value:
        if char in _SPACE_LIKE:
            out.append(" ")
        elif char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs"):
            continue
        else:
            out.append(char)
    return "".join(out).strip()


def text_value(name: str, value: object, *, max_length: int = MAX_TEXT) -> str:
    """``value`` as clean text (``clean_text``) of at most ``max_length`` characters; raises
    ``OptionError`` when longer."""
    text = clean_text(_plain(value))
    if len(text) > max_length:
        raise OptionError(f"{name} is too long ({len(text):,} characters; at most {max_length:,})")
    return text


def upload_value(name: str, value: object) -> Upload:
    """A file option: what a front end read (``Upload``); anything else, such as text typed where
    a file belongs, is refused naming the option."""
    if isinstance(value, Upload):
        return value
    raise OptionError(f"{name} must be an attached file")


def audit_value(value: object, limit: int = MAX_AUDIT_VALUE) -> str:
    """An option value as the ``command_handled`` audit keeps it, refused or not: clean text, cut
    to ``limit`` characters, so no input can make the audit unencodable or large."""
    return _cut(clean_text(_plain(value)), limit)


def audit_options(raw: Mapping[str, object]) -> dict[str, str]:
    """Options as the audit keeps them (``audit_value``): at most ``MAX_AUDIT_OPTIONS`` of them
    (Discord's own limit), names of at most ``MAX_NAME`` characters."""
    return {
        audit_value(k, MAX_NAME): audit_value(v)
        for k, v in itertools.islice(raw.items(), MAX_AUDIT_OPTIONS)
    }


def command_name(raw: str) -> str:
    """A command name as typed (``/Trade  open``) in the registry's form (``trade open``), clean
    and at most ``MAX_NAME`` characters: an unknown name is refused by name, and audited."""
    return " ".join(clean_text(raw).lower().lstrip("/").split())[:MAX_NAME]
