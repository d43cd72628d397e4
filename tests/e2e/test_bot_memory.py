"""The long-running bot keeps pandas (and the other heavy libraries) out of its process.

pandas alone is ~43 MiB of the bot's RSS in the container's 0.5 GiB; the NYSE calendar, which
needs it, is computed in a child process (``fetchers.calendar_table``) and the charts are drawn
in a worker. The bot is run in a fresh process (``tests/e2e/bot_modules_probe.py``) because this
test process imports pandas for other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_bot_holds_no_pandas_after_startup_and_a_days_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After startup, the daily run (whose schedule reads the NYSE calendar, computed here from
    an empty cache), ``/trade open``, ``/metrics`` with its chart and ``/trades``, neither pandas,
    ``exchange_calendars`` nor matplotlib is in the bot process's ``sys.modules``, and no
    projection stopped on the refused import (DuckDB and pyarrow take pandas as absent)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.bot_modules_probe", str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "loaded": [],
        "projection_faults": [],
    }
    assert list((tmp_path / "cache" / "ibpicker" / "calendars").glob("xnys-*.msgpack"))


ENTRY_PROBE = """
import asyncio, sys
import bot
from settings import load_settings
code = asyncio.run(bot.main(load_settings(data_dir=sys.argv[1])))
try:
    import pandas
except ModuleNotFoundError:
    print(code, "refused")
else:
    print(code, "imported")
"""


def test_the_bot_entry_keeps_pandas_out_of_its_process(tmp_path: Path) -> None:
    """``ibpicker bot``'s entry (``bot.main``) makes pandas unimportable in its process before
    anything else (here it then stops at once: no Discord token, exit 2), while a process that
    never ran it (this test's) imports pandas as usual."""
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_PROBE, str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2", "refused"]
    import pandas  # noqa: F401 (imports fine where bot.main never ran)
