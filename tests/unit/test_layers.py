"""The walls of DESIGN.md as import-linter contracts (``[tool.importlinter]`` in pyproject.toml):
the project keeps them, and each kind of wrong import breaks them. The wrong imports are written
into a scratch copy of the packages, never into the tree."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "projections", "commands", "fetchers", "analysis", "sync")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PROBE = "walls_probe"
OURS = {*PACKAGES, "bot", "cli", "settings", "cli_options", "logs"}
# The top-level modules that are leaves, and what of ours each may import. grimp analyses only
# packages, so the contracts see these modules only as what the packages import.
LEAVES = {"settings.py": {"events"}, "cli_options.py": {"settings", "logs"}, "logs.py": set()}


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the packages found first on the path at ``where``, with its config."""
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(where / "pyproject.toml")],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the six packages and pyproject.toml, for wrong imports to be written into."""
    where = tmp_path_factory.mktemp("walls")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, where / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


@pytest.fixture
def probe(scratch: Path) -> Iterator[Path]:
    """Where a test writes its wrong import; removed afterwards, so each test sees only its own."""
    yield scratch
    for path in scratch.rglob(f"{PROBE}.py"):
        path.unlink()


def test_the_project_keeps_every_contract() -> None:
    """lint-imports on the real tree: every contract kept, none broken."""
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_scratch_copy_keeps_every_contract_before_a_wrong_import(scratch: Path) -> None:
    """The copy passes as it is, so a failure below comes from the import each test adds."""
    result = lint_imports(scratch)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("room", "wrong_import", "broken"),
    [
        ("events", "import sync.errors", "Layers"),
        ("events", "import logs", "events imports nothing of ours"),
        ("projections", "import commands.core.models", "Layers"),
        ("analysis", "import fetchers.errors", "Layers"),
        ("projections", "import settings", "do not read the settings"),
        ("sync", "import fetchers.errors", "sync imports only events and projections"),
        ("commands/core", "import sync.errors", "Layers"),
        ("commands/picks", "import bot", "Nothing imports bot.py"),
        ("sync", "import cli", "Nothing imports bot.py"),
        ("commands/journal", "import disnake", "Only commands.discord imports disnake"),
        ("commands/general", "import sqlite3", "commands never imports sqlite3"),
        ("commands/market", "import commands.picks.handlers", "commands: front ends over"),
        ("commands/core", "import commands.discord.render", "commands: front ends over"),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    probe: Path, room: str, wrong_import: str, broken: str
) -> None:
    """A module that imports across a wall makes lint-imports fail, naming the broken contract
    and the offending import."""
    module = f"{room.replace('/', '.')}.{PROBE}"
    (probe / room / f"{PROBE}.py").write_text(
        f'"""A wrong import for the layers test."""\n\n{wrong_import}\n'
    )
    result = lint_imports(probe)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{module} -> " in result.stdout
    broken_section = result.stdout.split("Broken contracts", 1)[1]
    assert broken in broken_section


@pytest.mark.parametrize(("leaf", "allowed"), sorted(LEAVES.items()))
def test_a_top_level_leaf_imports_only_what_it_may(leaf: str, allowed: set[str]) -> None:
    """settings.py (typed configuration), cli_options.py and logs.py stay leaves: of our modules
    they import only the events base (settings: the clock) and each other, so every layer above
    events may read them without a cycle."""
    tree = ast.parse((ROOT / leaf).read_text())
    imported = {
        alias.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for alias in n.names
    }
    imported |= {
        n.module.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module
    }
    assert imported & OURS <= allowed
