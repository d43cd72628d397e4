"""``journal verify`` and ``journal rebuild`` in a bounded memory: ``--memory-limit``, and a scan
whose Python memory does not grow with the number of commands and streams."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from events.codec import EventCodec
from events.journal import Journal
from events.records import RawRecord
from projections.analytics import Analytics
from projections.cli import register
from projections.rebuild import limit_memory, memory_limit_bytes, page_size_for
from projections.registry import all_analytics_projections
from projections.verify import verify
from tests.unit.projections.conftest import AT, add_commands

MIB = 1024**2


def run(*args: str) -> tuple[int, str, str]:
    """Invoke the journal group; return exit code, stdout and stderr."""
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["journal", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("text", "size"),
    [("300MB", 300_000_000), ("512MiB", 512 * MIB), ("1.5GB", 1_500_000_000), ("64mb", 64e6)],
)
def test_memory_limits_are_read_in_duckdbs_units(text: str, size: int) -> None:
    """Decimal and binary units, any case, fractions: the bytes DuckDB would take."""
    assert memory_limit_bytes(text) == size


@pytest.mark.parametrize("text", ["300", "3x", "MB", "-5MB", "1e9MB ", "5MB"])
def test_a_bad_memory_limit_is_refused_with_what_is_accepted(text: str) -> None:
    """No unit, an unknown unit, no number, a sign, an exponent, or below 16 MiB: refused."""
    with pytest.raises(ValueError, match="--memory-limit") as info:
        memory_limit_bytes(text)
    assert "MB" in str(info.value) or "16 MiB" in str(info.value)


def test_pages_shrink_with_the_memory_limit() -> None:
    """Without a limit the default page; a small limit gives smaller pages, never below 2,000;
    a large one never above the default."""
    assert page_size_for(None, 25_000) == 25_000
    assert page_size_for("40MB", 25_000) == 40_000_000 // 4096
    assert page_size_for("16MiB", 25_000) == 4096
    assert page_size_for("16MiB", 3_000) == 3_000
    assert page_size_for("2GB", 25_000) == 25_000


def test_duckdb_gets_the_memory_limit(tmp_path: Path) -> None:
    """The fresh file's DuckDB connection runs under the limit given (default 100MB)."""
    fresh = Analytics(tmp_path / "fresh.duckdb")
    try:
        limit_memory(fresh, "64MiB")
        row = fresh.connection.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row == ("64.0 MiB",)
        limit_memory(fresh)
        row = fresh.connection.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row == ("95.3 MiB",)  # 100MB, DuckDB shows binary units
    finally:
        fresh.close()


def test_cli_takes_memory_limit_and_refuses_a_bad_one(tmp_path: Path) -> None:
    """rebuild and verify run with --memory-limit (sound, exit 0); a bad value exits 2 naming
    the option and builds nothing."""
    journal = Journal.open(tmp_path / "journal.sqlite")
    add_commands(journal, 12)
    journal.close()
    folder = str(tmp_path)
    code, _, err = run("rebuild", "--data-dir", folder, "--memory-limit", "lots")
    assert code == 2
    assert "--memory-limit 'lots' is not a size" in err
    assert not (tmp_path / "analytics.duckdb").exists()
    code, out, _ = run("rebuild", "--data-dir", folder, "--memory-limit", "32MB", "--json")
    assert code == 0
    assert json.loads(out)["events_read"] == 12 * 2 + 4
    code, out, _ = run("verify", "--data-dir", folder, "--memory-limit", "32MB", "--json")
    assert code == 0
    assert json.loads(out)["sound"]
    code, _, err = run("verify", "--data-dir", folder, "--memory-limit", "1")
    assert code == 2
    assert "--memory-limit '1' is not a size" in err


def _journal_of_commands(path: Path, commands: int) -> None:
    """``commands`` one-event commands, each on a stream of its own, written in bulk."""
    from events.audit import CommandHandled
    from events.base import Actor

    codec = EventCodec()
    journal = Journal.open(path)
    try:
        event = CommandHandled(name="status", latency_ms=1.0)
        state = [
            codec.encode(event, recorded_at=AT, command_id=f"c{n}", actor=Actor.system())
            for n in range(commands)
        ]
        journal.append_raw(
            [RawRecord(n + 1, f"s{n}", 1, event.event_tag(), state[n]) for n in range(commands)]
        )
    finally:
        journal.close()


def _verify_heap_peak(tmp_path: Path, commands: int) -> tuple[int, int]:
    """(traced Python heap peak of a verify, commands it counted) on a journal of ``commands``."""
    folder = tmp_path / str(commands)
    folder.mkdir()
    _journal_of_commands(folder / "journal.sqlite", commands)
    tracemalloc.start()
    try:
        report = verify(
            folder / "journal.sqlite",
            folder / "analytics.duckdb",  # missing: the journal alone is checked
            all_analytics_projections(),
            page_size=1000,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.sound
    return peak, report.commands


def test_verify_memory_does_not_grow_with_commands_and_streams(tmp_path: Path) -> None:
    """Ten times the commands and streams (4,000 -> 40,000, pages of 1,000) leave verify's
    Python heap peak within 1 MiB: the spans, command ids and stream versions are kept by SQLite
    on disk, not in dicts and sets (which grew by several MiB over the same range)."""
    small, small_commands = _verify_heap_peak(tmp_path, 4_000)
    large, large_commands = _verify_heap_peak(tmp_path, 40_000)
    assert (small_commands, large_commands) == (4_000, 40_000)
    assert large - small < 1 * MIB
