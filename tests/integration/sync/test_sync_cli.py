"""``ibpicker sync status|push|pull|verify|compact`` on the local folder store and on Azurite."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from events.segments import segment_name
from settings import load_settings
from sync.cli import register
from sync.journal_snapshot import ship_journal_snapshot
from sync.local_blob import LocalBlobStore
from sync.stores import open_blob_store
from sync.writer_lease import LeaseKeeper
from tests.support.azurite import unique_container
from tests.support.sync_doubles import fill, open_journal_at


@pytest.fixture(params=["local", "azurite"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the settings at a shared local blob folder, or at a fresh container in Azurite."""
    for name in (
        "IBPICKER_BLOB_CONNECTION_STRING",
        "IBPICKER_BLOB_ACCOUNT_URL",
        "IBPICKER_BLOB_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    if request.param == "local":
        monkeypatch.setenv("IBPICKER_BLOB_DIR", str(tmp_path / "blob"))
    else:
        azurite = request.getfixturevalue("azurite")
        monkeypatch.setenv("IBPICKER_BLOB_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("IBPICKER_BLOB_CONTAINER", unique_container())
    return str(request.param)


def run(*args: str) -> tuple[int, Any]:
    """Run ``ibpicker sync ARGS --json``; return the exit code and the parsed output (or text)."""
    root = typer.Typer()
    register(root)
    result = CliRunner().invoke(root, ["sync", *args, "--json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, result.output


def test_push_status_pull_round_trip(backend: str, tmp_path: Path) -> None:
    """push ships the local journal; status shows it; pull restores it into an empty folder."""
    journal = open_journal_at(tmp_path / "a")
    fill(journal, 60)
    journal.close()
    code, pushed = run("push", "--data-dir", str(tmp_path / "a"))
    assert (code, pushed["shipped"]) == (0, 60)
    code, status = run("status", "--data-dir", str(tmp_path / "a"))
    assert (status["local_head"], status["blob_shipped"], status["unshipped"]) == (60, 60, 0)
    code, pulled = run("pull", "--data-dir", str(tmp_path / "b"))
    assert (code, pulled["restored_events"], pulled["local_head"]) == (0, 60, 60)
    a, b = open_journal_at(tmp_path / "a"), open_journal_at(tmp_path / "b")
    assert a.read_raw(1, 100) == b.read_raw(1, 100)
    a.close()
    b.close()


def test_verify_passes_then_names_a_corrupt_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify succeeds on a good store and exits 1 naming the segment after a bit flip."""
    monkeypatch.setenv("IBPICKER_BLOB_DIR", str(tmp_path / "blob"))
    journal = open_journal_at(tmp_path / "a")
    fill(journal, 30)
    journal.close()
    run("push", "--data-dir", str(tmp_path / "a"))
    code, report = run("verify", "--data-dir", str(tmp_path / "a"))
    assert (code, report["ok"], report["segments"]) == (0, True, 1)
    name = segment_name(1, 30)
    path = tmp_path / "blob" / "ibpicker-journal" / name
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    store = LocalBlobStore(tmp_path / "blob")
    asyncio.run(store.delete(name))
    asyncio.run(store.create(name, bytes(data)))
    code, output = run("verify", "--data-dir", str(tmp_path / "a"))
    assert code == 1
    assert name in output
    assert "checksum" in output


def test_compact_merges_pushed_segments(backend: str, tmp_path: Path) -> None:
    """Several pushes leave several segments; compact merges all but the newest."""
    journal = open_journal_at(tmp_path / "a")
    for _ in range(4):
        fill(journal, 10)
        run("push", "--data-dir", str(tmp_path / "a"))
    journal.close()
    code, report = run("compact", "--data-dir", str(tmp_path / "a"))
    assert (code, report["segments_before"], report["segments_after"]) == (0, 4, 2)
    code, report = run("verify", "--data-dir", str(tmp_path / "a"))
    assert (code, report["blob_head"]) == (0, 40)


def test_push_refused_while_a_bot_holds_the_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """push does not write while another instance holds the writer lease."""
    monkeypatch.setenv("IBPICKER_BLOB_DIR", str(tmp_path / "blob"))
    journal = open_journal_at(tmp_path / "a")
    fill(journal, 5)
    journal.close()
    bot = LeaseKeeper(LocalBlobStore(tmp_path / "blob"), duration_s=60)

    async def hold() -> None:
        await bot.acquire(wait=False)
        assert bot._task is not None
        bot._task.cancel()  # keep it held, without a renewal loop outliving this event loop

    asyncio.run(hold())
    code, output = run("push", "--data-dir", str(tmp_path / "a"))
    assert code == 1
    assert "holds the writer lease" in output


def test_pull_into_an_empty_folder_starts_from_the_journal_snapshot(
    backend: str, tmp_path: Path
) -> None:
    """status names the journal snapshot's position; pull into an empty folder places it and
    restores only the events shipped after it, to the same journal."""
    journal = open_journal_at(tmp_path / "a")
    fill(journal, 60)
    journal.close()
    assert run("push", "--data-dir", str(tmp_path / "a"))[0] == 0

    async def ship_journal_snapshot_of_a() -> None:
        store = open_blob_store(load_settings(data_dir=tmp_path / "a"))
        try:
            assert await ship_journal_snapshot(store, tmp_path / "a" / "journal.sqlite")
        finally:
            await store.close()

    asyncio.run(ship_journal_snapshot_of_a())
    journal = open_journal_at(tmp_path / "a")
    fill(journal, 30)
    journal.close()
    assert run("push", "--data-dir", str(tmp_path / "a"))[0] == 0

    code, status = run("status", "--data-dir", str(tmp_path / "a"))
    assert (code, status["journal_snapshot_position"]) == (0, 60)
    code, pulled = run("pull", "--data-dir", str(tmp_path / "b"))
    assert (code, pulled["journal_snapshot_position"]) == (0, 60)
    assert (pulled["restored_events"], pulled["local_head"]) == (30, 90)
    a, b = open_journal_at(tmp_path / "a"), open_journal_at(tmp_path / "b")
    assert a.read_raw(1, 100) == b.read_raw(1, 100)
    a.close()
    b.close()
