"""Running ``ibpicker`` as a separate process in tests: the environment it gets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from commands.wiring import JOURNAL_FILE
from events.base import Envelope
from events.journal import Journal
from settings import ENV_PREFIX, SECRET_ENV


def cli_env(now: str) -> dict[str, str]:
    """This process's environment without any ibpicker setting or provider key (so no network
    and the offline sample data), wide output, and the clock pinned at ``now``
    (``IBPICKER_NOW``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(ENV_PREFIX) and k not in SECRET_ENV.values()
    }
    env["COLUMNS"] = "200"
    env["IBPICKER_NOW"] = now
    return env


def offline(monkeypatch: pytest.MonkeyPatch, now: str) -> None:
    """The in-process command line's environment for a test: ``cli_env``'s (no ibpicker
    setting, provider key or Key Vault, wide output, the clock pinned at ``now``)."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in SECRET_ENV.values() or name == "KEY_VAULT_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("IBPICKER_NOW", now)


def journal(data_dir: Path) -> list[Envelope]:
    """Every event of the data folder's journal, in order."""
    j = Journal.open(data_dir / JOURNAL_FILE)
    try:
        return [env for page in j.read(1) for env in page]
    finally:
        j.close()
