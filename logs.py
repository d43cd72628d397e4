"""Logging for every entry point: one JSON object a line for the machines that collect the bot's
output (Azure Log Analytics), readable text for a person at a terminal, and the context of the
work in hand (command id, guild, event positions, daily run id) on every record.

``configure`` is the one place that installs the handler, called by each entry point with its
role: the bot (``service``: INFO and up on stdout, JSON when stdout is not a terminal) or a
command a person runs (``command``: on stderr, stdout holds its results; text, WARNING and up
unless ``--debug``, unless asked for JSON, then INFO and up). ``IBPICKER_LOG_FORMAT=json|text``
forces either format.

A JSON line holds ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the context
fields that apply, any ``extra=`` fields of the call, and for a failure ``exception`` (the whole
traceback as one string, so it stays one line). The encoding is python-json-logger's formatter
over msgspec.

``context(...)`` sets fields for a block (the command service's handling of one command, a daily
run); ``bind(...)`` adds one to the block in hand (the positions a journal append took). Both
use a ``ContextVar``: each asyncio task and each ``contextvars.copy_context().run`` sees its own.

A leaf: it imports nothing of ours, so any package may import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from typing import IO, Any, Final, Literal

from pythonjsonlogger.msgspec import MsgspecFormatter

FORMAT_ENV: Final = "IBPICKER_LOG_FORMAT"
"""``json`` or ``text`` forces the format; unset (or ``auto``) chooses by the role and terminal."""
FORMATS: Final = ("json", "text")

Role = Literal["service", "command"]
"""``service``: the bot, whose output is collected; ``command``: a command a person runs."""

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS: Final = ("levelname", "name", "message")
JSON_RENAMES: Final = {
    "levelname": "level",
    "name": "logger",
    "exc_info": "exception",
    "stack_info": "stack",
}

QUIETER: Final = {"azure.core.pipeline.policies.http_logging_policy": logging.WARNING}
"""Loggers kept at a higher level unless ``debug``: Azure's SDK logs every blob
request and response (headers redacted) at INFO, several lines per shipped segment."""

_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "ibpicker_log_context", default=types.MappingProxyType({})
)


class LogFormatError(ValueError):
    """``IBPICKER_LOG_FORMAT`` holds something other than ``json``, ``text`` or ``auto``."""


# -- context ----------------------------------------------------------------------------------


@contextlib.contextmanager
def context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (e.g. ``command_id=``, ``guild_id=``) to every record logged in the block,
    and to what ``bind`` adds inside it; the fields before the block are back after it."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: object) -> None:
    """Add ``fields`` to the current context until the enclosing ``context`` block ends (or, in
    a copied context such as a worker call, until that call returns)."""
    _context.set({**_context.get(), **fields})


def current() -> Mapping[str, object]:
    """The context fields records logged here would get."""
    return _context.get()


_CONTEXT_ATTR: Final = "_ibpicker_context"
"""Where ``ContextFilter`` notes which fields it added (a leading ``_`` keeps it out of JSON)."""


class ContextFilter(logging.Filter):
    """Puts the current context fields on each record (a field the call passed in ``extra``
    wins), so every formatter and handler sees them as record attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context; never drops a record."""
        fields = _context.get()
        for key, value in fields.items():
            if key not in record.__dict__:
                setattr(record, key, value)
        setattr(record, _CONTEXT_ATTR, tuple(fields))
        return True


def context_of(record: logging.LogRecord) -> dict[str, object]:
    """The context fields on ``record`` (set by ``ContextFilter``), in the context's order."""
    keys: tuple[str, ...] = getattr(record, _CONTEXT_ATTR, ())
    return {key: record.__dict__[key] for key in keys if key in record.__dict__}


# -- formatters -------------------------------------------------------------------------------


class JsonFormatter(MsgspecFormatter):
    """One JSON object a line: ``timestamp``, ``level``, ``logger``, ``message``, the context and
    ``extra`` fields, and ``exception`` (the traceback, newlines escaped) for a failure."""

    def __init__(self) -> None:
        """The field set of the module docstring."""
        super().__init__(list(JSON_FIELDS), rename_fields=dict(JSON_RENAMES), timestamp=True)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """The timestamp first, for a person reading the raw lines."""
        return {"timestamp": log_data.pop("timestamp"), **log_data}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [key=value ...]`` with the traceback below a failure, or,
    with ``message_only``, ``level: message`` alone (what a person at the console reads)."""

    def __init__(self, *, message_only: bool = False) -> None:
        """Timestamped lines with context, or ``level: message`` when ``message_only``."""
        super().__init__(TEXT_FORMAT)
        self.message_only = message_only

    def format(self, record: logging.LogRecord) -> str:
        """The record as text (see the class docstring)."""
        if self.message_only:
            return f"{record.levelname.lower()}: {record.getMessage()}"
        text = super().format(record)
        fields = context_of(record)
        if not fields:
            return text
        suffix = " ".join(f"{k}={v}" for k, v in fields.items())
        first, newline, rest = text.partition("\n")
        return f"{first} [{suffix}]{newline}{rest}"


# -- configuration ----------------------------------------------------------------------------


class _Installed:
    """What ``configure`` put in place: a second call replaces it, ``reset`` undoes it."""

    handler: logging.Handler | None = None
    previous_level: int | None = None
    previous_levels: dict[str, int] | None = None
    excepthooks: tuple[Any, Any] | None = None


def chosen_format(role: Role, stream: IO[str], value: str | None = None) -> str:
    """``json`` or ``text``: ``value`` (else ``IBPICKER_LOG_FORMAT``) when it names one; otherwise
    JSON for the service when ``stream`` is not a terminal, text for a command."""
    raw = (os.environ.get(FORMAT_ENV, "") if value is None else value).strip().lower()
    if raw in FORMATS:
        return raw
    if raw not in ("", "auto"):
        raise LogFormatError(
            f"{FORMAT_ENV} must be json, text or auto (unset: JSON for the bot when its output is "
            f"not a terminal, text otherwise), not {raw!r}"
        )
    if role == "service" and not _is_terminal(stream):
        return "json"
    return "text"


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False


def configure(
    role: Role,
    *,
    debug: bool = False,
    stream: IO[str] | None = None,
    fmt: str | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """Install the one handler on the root logger for ``role``; returns it (``None`` when skipped).

    The service logs INFO and up to stdout. A command logs to stderr (stdout holds its results):
    as text, WARNING and up reading ``warning: message``, or under ``debug`` INFO and up with
    timestamps, context and tracebacks; as JSON, INFO and up. Azure's per-request lines
    (``QUIETER``) show only under ``debug``. ``fmt`` (else ``IBPICKER_LOG_FORMAT``) forces
    ``json`` or ``text``; a bad value raises ``LogFormatError`` and changes nothing. Called
    again, it replaces its own handler. A host that set up logging itself (root handlers not
    ours, e.g. pytest) is left alone unless ``force``. In JSON mode uncaught exceptions and
    ``warnings`` are logged too, so a traceback is one JSON object rather than lines of text.
    """
    out = stream or (sys.stdout if role == "service" else sys.stderr)
    chosen = chosen_format(role, out, fmt)
    root = logging.getLogger()
    foreign = [h for h in root.handlers if h is not _Installed.handler]
    if foreign and not force:
        return None
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(message_only=role == "command" and not debug))
    reset()
    _Installed.previous_level = root.level
    root.addHandler(handler)
    verbose = role == "service" or debug or chosen == "json"
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    _Installed.handler = handler
    if not debug:
        _Installed.previous_levels = {name: logging.getLogger(name).level for name in QUIETER}
        for name, level in QUIETER.items():
            logging.getLogger(name).setLevel(level)
    logging.captureWarnings(chosen == "json")
    if chosen == "json":
        _Installed.excepthooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    return handler


def reset() -> None:
    """Remove what ``configure`` installed (its handler, level, exception hooks)."""
    root = logging.getLogger()
    if _Installed.handler is not None:
        root.removeHandler(_Installed.handler)
        _Installed.handler = None
    if _Installed.previous_level is not None:
        root.setLevel(_Installed.previous_level)
        _Installed.previous_level = None
    for name, level in (_Installed.previous_levels or {}).items():
        logging.getLogger(name).setLevel(level)
    _Installed.previous_levels = None
    if _Installed.excepthooks is not None:
        sys.excepthook, threading.excepthook = _Installed.excepthooks
        _Installed.excepthooks = None
        logging.captureWarnings(False)


def json_enabled() -> bool:
    """Whether ``configure`` installed JSON output (a failure is then logged, not printed)."""
    handler = _Installed.handler
    return handler is not None and isinstance(handler.formatter, JsonFormatter)


_uncaught = logging.getLogger("ibpicker.uncaught")


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: types.TracebackType | None
) -> None:
    _uncaught.critical("uncaught %s: %s", kind.__name__, value, exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    _uncaught.critical(
        "uncaught %s in thread %s: %s",
        args.exc_type.__name__,
        name,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
