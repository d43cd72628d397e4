"""Settings the whole suite shares: the Hypothesis profiles.

The test command (``scripts/test``, through ``addopts`` in ``pyproject.toml``) selects ``suite``:
every property test without its own ``max_examples`` runs ``SUITE_EXAMPLES`` examples, among
them the projection invariant the design rests on; no deadline, because no test may depend on the
machine's speed. ``--hypothesis-profile=quick`` runs a short pass while editing and ``thorough``
a long one before a release.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

SUITE_EXAMPLES = 200
"""Examples per property test (and so per projection for the invariant) in the test command."""

settings.register_profile("suite", max_examples=SUITE_EXAMPLES, deadline=None, print_blob=True)
settings.register_profile("quick", settings.get_profile("suite"), max_examples=20)
settings.register_profile("thorough", settings.get_profile("suite"), max_examples=2000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the tests marked ``slow`` first (otherwise in collection order).

    ``scripts/test`` runs pytest on parallel workers (pytest-xdist), which hand out tests in this
    order: a long test collected last would run alone at the end while the other workers idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
