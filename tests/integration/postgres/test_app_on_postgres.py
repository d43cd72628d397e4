"""IBPICKER_JOURNAL_URL switches the application's journal to PostgreSQL: the console writes its
commands there (no journal file in the data folder), and two console runs share it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from events.journal import Journal
from settings import SettingsError, load_settings
from tests.integration.test_console import run_console

pytestmark = pytest.mark.postgres


def test_the_console_appends_to_the_postgres_journal_named_by_the_setting(
    tmp_path: Path, pg_url: str
) -> None:
    """Two console runs on different data folders, both with IBPICKER_JOURNAL_URL: the first
    opens a trade, the second (another folder: another replica's analytics) closes it by id,
    which it can only know from the shared journal; the folders hold no journal.sqlite."""
    env = {"IBPICKER_JOURNAL_URL": pg_url}
    first = run_console(
        tmp_path / "a", "/trade open symbol:AAPL direction:long entry:187.5 size:10", env=env
    )
    assert first.returncode == 0, first.stdout + first.stderr
    (trade_id,) = re.findall(r"Trade ([2-9A-Z]{5}) opened", first.stdout)
    second = run_console(tmp_path / "b", f"/trade close id:{trade_id} exit:190.25", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not (tmp_path / "a" / "journal.sqlite").exists()
    assert not (tmp_path / "b" / "journal.sqlite").exists()
    journal = Journal.open("", url=pg_url)
    try:
        tags = [e.tag for page in journal.read() for e in page]
    finally:
        journal.close()
    assert "trade_opened" in tags
    assert "trade_closed" in tags


def test_a_journal_url_that_is_not_postgres_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """load_settings refuses IBPICKER_JOURNAL_URL unless it is a postgresql:// URL, naming the
    variable and not the value; a good one is kept as a secret (not in the settings' repr)."""
    monkeypatch.setenv("IBPICKER_JOURNAL_URL", "sqlite:///secret-path.db")
    with pytest.raises(SettingsError, match="IBPICKER_JOURNAL_URL") as refused:
        load_settings()
    assert "secret-path" not in str(refused.value)
    monkeypatch.setenv("IBPICKER_JOURNAL_URL", "postgresql://u:hunter2@db:5432/ibpicker")
    settings = load_settings()
    assert settings.journal_database == "postgresql://u:hunter2@db:5432/ibpicker"
    assert "hunter2" not in repr(settings)
    monkeypatch.setenv("IBPICKER_JOURNAL_URL", "")
    assert load_settings().journal_database is None
