"""The ``store`` fixture of the sync integration tests: every test runs on both backends.

``local`` is the local-folder store; ``azurite`` is the Azure store on the session's Azurite (in a
container of the test's own). Import ``store_fixture`` into a test module as ``store``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync.azure_blob import AzureBlobStore
from sync.blobstore import BlobStore
from sync.local_blob import LocalBlobStore
from tests.support.azurite import unique_container


def azure_store(connection_string: str, container: str | None = None) -> AzureBlobStore:
    """An Azure store on Azurite that notices an outage within a second or two."""
    return AzureBlobStore.from_connection_string(
        connection_string, container or unique_container(), timeout_s=2.0, retry_total=0
    )


@pytest.fixture(params=["local", "azurite"])
async def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    """A fresh, empty blob store of each kind."""
    made: BlobStore
    if request.param == "local":
        made = LocalBlobStore(tmp_path / "blob")
    else:
        azurite = request.getfixturevalue("azurite")
        made = azure_store(azurite.connection_string)
    yield made
    await made.close()
