"""``logs``: the one logging set-up of every entry point (JSON lines for Log Analytics, text for a
terminal), the context fields it puts on records, and the format switch."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

import logs

log = logging.getLogger("ibpicker.test")


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


@pytest.fixture(autouse=True)
def _undo_configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without IBPICKER_LOG_FORMAT and ends with ``logs.reset()``."""
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    yield
    logs.reset()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    """The JSON objects written to ``stream``, one a line (fails on a line that is not one)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_level_logger_message_utc_timestamp_context_and_extras() -> None:
    """A record becomes one JSON object: ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message`` (arguments applied), the context fields in force and the call's ``extra``."""
    out = io.StringIO()
    logs.configure("service", stream=out, fmt="json", force=True)
    with logs.context(command="trade open", command_id="c-1", guild_id=42):
        logs.bind(first_position=7, last_position=9)
        log.info("appended %d events", 3, extra={"events": 3})
    [line] = lines(out)
    stamp = datetime.fromisoformat(str(line.pop("timestamp")))
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert line == {
        "level": "INFO",
        "logger": "ibpicker.test",
        "message": "appended 3 events",
        "events": 3,
        "command": "trade open",
        "command_id": "c-1",
        "guild_id": 42,
        "first_position": 7,
        "last_position": 9,
    }


def test_an_exception_in_json_is_one_line_with_the_traceback_in_a_field() -> None:
    """``log.exception`` with a multi-line message writes exactly one line; its ``exception``
    field holds the whole traceback (Log Analytics would split raw traceback lines)."""
    out = io.StringIO()
    logs.configure("service", stream=out, fmt="json", force=True)
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("command /x failed\nsecond line")
    assert len(out.getvalue().splitlines()) == 1
    [line] = lines(out)
    assert line["level"] == "ERROR"
    assert line["message"] == "command /x failed\nsecond line"
    exception = str(line["exception"])
    assert exception.startswith("Traceback (most recent call last):")
    assert exception.endswith("ValueError: bad\nvalue")


def test_uncaught_exceptions_and_warnings_are_json_lines_in_json_mode() -> None:
    """In JSON mode an uncaught exception (main thread or another) and a ``warnings`` warning are
    each logged as one JSON object, not printed as text; ``reset`` restores the hooks."""
    out = io.StringIO()
    hooks = (sys.excepthook, threading.excepthook)
    logs.configure("service", stream=out, fmt="json", force=True)
    try:
        raise KeyError("lost")
    except KeyError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    thread = threading.Thread(target=lambda: 1 / 0, name="worker-1")
    thread.start()
    thread.join()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    main, in_thread, warned = lines(out)
    assert main["level"] == "CRITICAL"
    assert main["logger"] == "ibpicker.uncaught"
    assert "KeyError: 'lost'" in str(main["exception"])
    assert "worker-1" in str(in_thread["message"])
    assert "ZeroDivisionError" in str(in_thread["exception"])
    assert warned["logger"] == "py.warnings"
    assert "old API" in str(warned["message"])
    logs.reset()
    assert (sys.excepthook, threading.excepthook) == hooks


@pytest.mark.parametrize(
    ("role", "stream", "env", "expected"),
    [
        ("service", io.StringIO(), None, "json"),
        ("service", Terminal(), None, "text"),
        ("service", io.StringIO(), "auto", "json"),
        ("command", io.StringIO(), None, "text"),
        ("command", Terminal(), None, "text"),
        ("service", io.StringIO(), "text", "text"),
        ("service", Terminal(), "json", "json"),
        ("command", Terminal(), "JSON", "json"),
    ],
)
def test_the_format_follows_the_role_the_terminal_and_ibpicker_log_format(
    role: logs.Role,
    stream: io.StringIO,
    env: str | None,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bot logs JSON when its output is not a terminal, text on one; a command logs text;
    ``IBPICKER_LOG_FORMAT`` forces either for both."""
    if env is not None:
        monkeypatch.setenv(logs.FORMAT_ENV, env)
    logs.configure(role, stream=stream, force=True)
    assert logs.json_enabled() is (expected == "json")
    log.warning("one")
    written = stream.getvalue()
    assert written.startswith("{") is (expected == "json")


def test_a_bad_ibpicker_log_format_is_refused_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``IBPICKER_LOG_FORMAT=xml`` raises a message naming the variable and the accepted values;
    the root logger's handlers and level stay as they were."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    monkeypatch.setenv(logs.FORMAT_ENV, "xml")
    with pytest.raises(logs.LogFormatError, match=r"IBPICKER_LOG_FORMAT must be json, text"):
        logs.configure("service", stream=io.StringIO(), force=True)
    assert (list(root.handlers), root.level) == before


def test_a_command_reads_warning_message_and_debug_adds_time_context_and_traceback() -> None:
    """A command's text log: ``warning: message`` alone, INFO hidden; under ``debug`` INFO shows,
    with time, level, logger, the context in brackets and the traceback below."""
    out = io.StringIO()
    logs.configure("command", stream=out, force=True)
    log.info("hidden")
    with logs.context(command_id="c-2"):
        log.warning("disk %s", "slow")
    assert out.getvalue() == "warning: disk slow\n"

    out = io.StringIO()
    logs.configure("command", stream=out, debug=True, force=True)
    with logs.context(command_id="c-2", guild_id=5):
        log.info("shown")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    shown, failed, *traceback = out.getvalue().splitlines()
    assert shown.endswith(" INFO ibpicker.test: shown [command_id=c-2 guild_id=5]")
    assert failed.endswith(" ERROR ibpicker.test: failed [command_id=c-2 guild_id=5]")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "RuntimeError: boom"


def test_configure_replaces_its_own_handler_and_leaves_a_hosts_alone() -> None:
    """Called twice, ``configure`` keeps one handler of its own; where the host (here pytest)
    already set up the root logger, it changes nothing unless forced."""
    root = logging.getLogger()
    assert root.handlers, "pytest's capture handlers are on the root logger"
    before = list(root.handlers)
    assert logs.configure("service", stream=io.StringIO()) is None
    assert root.handlers == before
    first = logs.configure("service", stream=io.StringIO(), force=True)
    second = logs.configure("command", stream=io.StringIO(), force=True)
    assert first not in root.handlers
    assert root.handlers == [*before, second]
    logs.reset()
    assert root.handlers == before


async def test_context_is_per_task_and_ends_with_its_block() -> None:
    """Two concurrent commands each log their own command id; ``bind`` inside a worker call's
    copied context does not leak out; after a block the fields before it are back."""
    out = io.StringIO()
    logs.configure("service", stream=out, fmt="json", force=True)

    def on_worker() -> None:
        logs.bind(first_position=1, last_position=2)
        log.info("appended")

    async def command(command_id: str, pause: float) -> None:
        with logs.context(command_id=command_id):
            await asyncio.sleep(pause)
            await asyncio.get_running_loop().run_in_executor(
                None, contextvars.copy_context().run, on_worker
            )
            log.info("done")

    with logs.context(guild_id=1):
        await asyncio.gather(command("a", 0.02), command("b", 0))
        log.info("after")
    log.info("outside")
    seen = [
        (line["message"], line.get("command_id"), line.get("first_position")) for line in lines(out)
    ]
    assert sorted(seen[:4], key=str) == sorted(
        [("appended", "a", 1), ("done", "a", None), ("appended", "b", 1), ("done", "b", None)],
        key=str,
    )
    assert seen[4:] == [("after", None, None), ("outside", None, None)]
    assert [line.get("guild_id") for line in lines(out)] == [1, 1, 1, 1, 1, None]
    assert logs.current() == {}


def test_levels_follow_the_role_debug_and_format_and_azure_requests_show_only_under_debug() -> None:
    """The service and a JSON command log INFO; a text command WARNING (INFO under ``debug``).
    Azure's per-request INFO lines are dropped unless ``debug``; ``reset`` restores the levels."""
    root = logging.getLogger()
    azure = logging.getLogger(next(iter(logs.QUIETER)))
    before = (root.level, azure.level)
    cases: list[tuple[logs.Role, str, bool, int]] = [
        ("service", "json", False, logging.INFO),
        ("service", "text", False, logging.INFO),
        ("command", "json", False, logging.INFO),
        ("command", "text", False, logging.WARNING),
        ("command", "text", True, logging.INFO),
        ("service", "json", True, logging.INFO),
    ]
    for role, fmt, debug, level in cases:
        out = io.StringIO()
        logs.configure(role, stream=out, fmt=fmt, debug=debug, force=True)
        assert root.level == level, (role, fmt, debug)
        azure.info("Request URL: 'http://127.0.0.1/x'")
        assert ("Request URL" in out.getvalue()) is debug, (role, fmt, debug)
    logs.reset()
    assert (root.level, azure.level) == before
