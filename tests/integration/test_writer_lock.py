"""One writer per data folder, for every writer: a second one is refused, naming the holder.

Reproduction 3 of issue 10: ``ibpicker sync pull --data-dir E`` running, and a console started on
``E`` meanwhile, mixed two histories in one journal. The pull and the console (and the bot,
``journal rebuild``) take the same OS lock on ``E/writer.lock``: the second is refused with exit 1
and a message naming the process id and command of the first, and changes nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from events.journal import Journal, WriterBusyError
from settings import ENV_PREFIX, SECRET_ENV
from tests.support.sync_doubles import fill, open_journal_at

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-12-03T21:30:00Z"


def _env(blob_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(ENV_PREFIX) and k not in SECRET_ENV.values()
    }
    env.update(COLUMNS="200", IBPICKER_NOW=NOW, IBPICKER_BLOB_DIR=str(blob_dir))
    return env


def _ibpicker(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    child: subprocess.Popen[str] = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", *args],
        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip
    return child


def _wait_until_held_by(folder: Path, words: str, child: subprocess.Popen[str]) -> None:
    """Wait until ``child`` holds the folder's writer lock (its file names ``words``)."""
    lock = folder / "writer.lock"
    while child.poll() is None:
        if (
            lock.exists()
            and words in lock.read_text()
            and f"process {child.pid} " in lock.read_text()
        ):
            return
    pytest.fail(f"{words!r} ended before it held the lock: {child.communicate()}")


def _shipped_source(tmp_path: Path, events: int) -> dict[str, str]:
    """A journal of ``events`` events pushed to a local blob folder; the env pointing at it."""
    env = _env(tmp_path / "blob")
    journal = open_journal_at(tmp_path / "source")
    fill(journal, events, per_command=500)
    journal.close()
    push = _ibpicker("sync", "push", "--data-dir", str(tmp_path / "source"), env=env)
    push.communicate(timeout=120)
    assert push.returncode == 0
    return env


def test_a_console_started_while_sync_pull_runs_is_refused(tmp_path: Path) -> None:
    """Reproduction 3: a console started on E while ``sync pull`` restores into E exits 1 naming
    the pull (process id, command) and appends nothing; the pull then completes, and E holds
    exactly the shipped journal (one history, every chain link sound)."""
    env = _shipped_source(tmp_path, 20_000)
    target = tmp_path / "E"
    pull = _ibpicker("sync", "pull", "--data-dir", str(target), env=env)
    _wait_until_held_by(target, "sync pull", pull)
    os.kill(pull.pid, signal.SIGSTOP)  # the pull holds the lock for as long as the test needs
    try:
        console = subprocess.run(
            [sys.executable, "-c", "from cli import main; main()", "console",
             "--data-dir", str(target)],
            input="/trade open symbol:AAPL direction:long entry:187.5 size:10\n",
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.kill(pull.pid, signal.SIGCONT)
    assert console.returncode == 1
    said = console.stdout + console.stderr
    assert f"process {pull.pid} (" in said
    assert "sync pull" in said
    _, err = pull.communicate(timeout=120)
    assert pull.returncode == 0, err
    source = open_journal_at(tmp_path / "source")
    restored = open_journal_at(target)
    assert restored.read_raw(1, 30_000) == source.read_raw(1, 30_000)
    assert [len(page.rows) for page in restored.row_pages()]  # every link checked on read
    source.close()
    restored.close()


def test_sync_pull_while_a_console_runs_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """The other order: while a console runs on E, ``sync pull`` onto E exits 1 naming the
    console's process, and E's journal is exactly as the console left it."""
    env = _shipped_source(tmp_path, 1_000)
    target = tmp_path / "E"
    console = _ibpicker("console", "--data-dir", str(target), env=env, stdin=subprocess.PIPE)
    _wait_until_held_by(target, "console", console)
    pull = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "sync", "pull",
         "--data-dir", str(target)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert pull.returncode == 1
    assert f"process {console.pid} (" in pull.stderr
    assert "console" in pull.stderr
    console.communicate(timeout=120)  # closes its stdin: the session ends
    assert console.returncode == 0
    journal = open_journal_at(target)
    assert journal.head() == 0
    journal.close()


def test_one_process_shares_the_lock_and_a_killed_holder_leaves_none(tmp_path: Path) -> None:
    """Two journals of one process share the folder's lock; another process is refused while
    the holder lives, and the OS frees the lock when the holder is killed (``kill -9``)."""
    first = Journal.open(tmp_path / "journal.sqlite")
    second = Journal.open(tmp_path / "journal.sqlite")
    second.close()
    first.close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from events.journal import Journal; "
         f"j = Journal.open({str(tmp_path / 'journal.sqlite')!r}, command='holder test'); "
         "print('held', flush=True); sys.stdin.read()"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WriterBusyError, match=f"process {holder.pid} \\(holder test\\)"):
        Journal.open(tmp_path / "journal.sqlite")
    holder.kill()
    holder.communicate()
    Journal.open(tmp_path / "journal.sqlite").close()
