"""Paths and tool lookup for the deployment checks: a missing linter fails, never skips."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# The test venv's bin (hadolint, actionlint, shellcheck come from the dev extra).
VENV_BIN = Path(sys.executable).parent


def tool(name: str, *, where: Path = VENV_BIN) -> Path:
    """Return the path of a linter binary, failing the test (never skipping) when it is missing."""
    path = where / name
    if path.is_file():
        return path
    found = shutil.which(name, path=str(where))
    if found is None:
        pytest.fail(f"{name} is missing from {where}: run scripts/test (it installs the dev extra)")
    return Path(found)
