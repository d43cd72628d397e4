"""One root exception per package (STYLE.md, point 8): every public exception class a package
defines derives from that package's root, so an edge can catch "anything this area refused" in
one clause while it still maps each kind to its own message."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import analysis
import commands
import events
import fetchers
import projections
import sync
from analysis.errors import AnalysisError
from commands.core.errors import CommandError
from events.errors import EventsError
from fetchers.errors import FetchError
from projections.analytics import AnalyticsError
from sync.errors import SyncError

ROOTS: dict[ModuleType, type[Exception]] = {
    events: EventsError,
    projections: AnalyticsError,
    commands: CommandError,
    fetchers: FetchError,
    analysis: AnalysisError,
    sync: SyncError,
}


def public_exceptions(package: ModuleType) -> list[type[BaseException]]:
    """The public exception classes defined (not imported) in the package's modules."""
    found = []
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.append(value)
    return found


@pytest.mark.parametrize("package", list(ROOTS), ids=lambda p: p.__name__)
def test_every_public_exception_derives_from_its_package_root(package: ModuleType) -> None:
    """Each public exception class of the package is its root or a subclass of it."""
    root = ROOTS[package]
    exceptions = public_exceptions(package)
    assert root in exceptions
    strays = sorted(e.__qualname__ for e in exceptions if not issubclass(e, root))
    assert strays == []
