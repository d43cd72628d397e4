"""The Azure store beyond the shared contract: the production-shaped OAuth path and outages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.identity.aio import ManagedIdentityCredential

from sync.azure_blob import AzureBlobStore
from sync.blobstore import BlobStoreError, BlobStoreUnavailableError, LeaseHeldError
from tests.support import azurite as azurite_support
from tests.support.azurite import AzuriteFactory, unique_container
from tests.support.certs import make_self_signed_cert
from tests.support.identity import CLIENT_ID, IdentityEndpoint

pytestmark = pytest.mark.azurite


async def test_managed_identity_over_https_creates_reads_and_leases(
    azurite_factory: AzuriteFactory, identity_endpoint: IdentityEndpoint, tmp_path: Path
) -> None:
    """Account URL + the real ManagedIdentityCredential + self-signed TLS: create, read, lease."""
    cert, key = make_self_signed_cert(tmp_path / "tls")
    azurite = azurite_factory(tls=(cert, key))
    store = AzureBlobStore.from_account_url(
        azurite.account_url,
        ManagedIdentityCredential(client_id=CLIENT_ID),
        unique_container(),
        connection_verify=str(cert),
    )
    try:
        etag = await store.create("segments/0001", b"over https")
        assert await store.read("segments/0001") == (b"over https", etag)
        await store.acquire_lease(
            "lock", duration_s=15, lease_id="aaaaaaaa-0000-4000-8000-0000000000a1"
        )
        with pytest.raises(LeaseHeldError):
            await store.acquire_lease(
                "lock", duration_s=15, lease_id="bbbbbbbb-0000-4000-8000-0000000000b2"
            )
        await store.release_lease("lock", lease_id="aaaaaaaa-0000-4000-8000-0000000000a1")
    finally:
        await store.close()
    assert identity_endpoint.requests
    assert set(identity_endpoint.requests) == {("https://storage.azure.com", CLIENT_ID)}


async def test_https_without_trusting_the_certificate_is_refused(
    azurite_factory: AzuriteFactory, identity_endpoint: IdentityEndpoint, tmp_path: Path
) -> None:
    """Without ``connection_verify`` the self-signed certificate is refused: TLS is checked."""
    azurite = azurite_factory(tls=make_self_signed_cert(tmp_path / "tls"))
    store = AzureBlobStore.from_account_url(
        azurite.account_url,
        ManagedIdentityCredential(client_id=CLIENT_ID),
        unique_container(),
        retry_total=0,
    )
    try:
        with pytest.raises(BlobStoreError):
            await store.create("segments/0001", b"x")
    finally:
        await store.close()


async def test_a_stopped_azurite_is_unavailable_fast_and_data_survives_a_restart(
    azurite_factory: AzuriteFactory,
) -> None:
    """With Azurite down every call raises BlobStoreUnavailableError within seconds (also with the
    default retries); after a restart on the same folder the blobs written before are there."""
    azurite = azurite_factory()
    store = AzureBlobStore.from_connection_string(
        azurite.connection_string, unique_container(), timeout_s=2.0, retry_total=0
    )
    try:
        etag = await store.create("segments/0001", b"before")
        azurite.stop()
        started = time.monotonic()
        with pytest.raises(BlobStoreUnavailableError):
            await store.create("segments/0002", b"during")
        with pytest.raises(BlobStoreUnavailableError):
            await store.read("segments/0001")
        with pytest.raises(BlobStoreUnavailableError):
            await store.renew_lease("lock", lease_id="aaaaaaaa-0000-4000-8000-0000000000a1")
        assert time.monotonic() - started < 5
        defaults = AzureBlobStore.from_connection_string(azurite.connection_string)
        started = time.monotonic()
        with pytest.raises(BlobStoreUnavailableError):
            await defaults.list()
        await defaults.close()
        assert time.monotonic() - started < 6, "the default retries give up within seconds"
        azurite.start()
        assert await store.read("segments/0001") == (b"before", etag)
        assert [info.name for info in await store.list()] == ["segments/0001"]
    finally:
        await store.close()


async def test_a_malformed_connection_string_is_refused_without_quoting_it() -> None:
    """A bad connection string raises BlobStoreError whose message does not echo the string."""
    secret_part = "AccountKey=c2VjcmV0LWtleS12YWx1ZQ=="
    with pytest.raises(BlobStoreError) as caught:
        AzureBlobStore.from_connection_string(f"nonsense;{secret_part}")
    assert "c2VjcmV0" not in str(caught.value)


def test_a_missing_azurite_fails_the_test_and_says_to_run_npm_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without node_modules/.bin/azurite-blob the fixture fails (never skips), naming `npm ci`."""
    monkeypatch.setattr(azurite_support, "AZURITE_BIN", tmp_path / "missing" / "azurite-blob")
    with pytest.raises(pytest.fail.Exception, match="npm ci"):
        azurite_support.Azurite(tmp_path / "data")
