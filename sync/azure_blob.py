"""The blob-store port on Azure Blob Storage (and Azurite), with the aio SDK.

Two ways in: a connection string (Azurite or a dev account), or an account URL with a token
credential (``ManagedIdentityCredential(client_id=...)`` in Azure). The container is created on
first use. Every Azure error is translated here, once, into the port's errors; the SDK's own
exceptions never leave this module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError
from azure.storage.blob import BlobBlock
from azure.storage.blob.aio import BlobLeaseClient, BlobServiceClient, LinearRetry

from sync.blobstore import (
    BlobExistsError,
    BlobInfo,
    BlobNotFoundError,
    BlobStoreError,
    BlobStoreUnavailableError,
    ConditionFailedError,
    LeaseHeldError,
    LeaseLostError,
    Sink,
    check_lease_duration,
)

# Large blobs (a journal snapshot) go up and come down in pieces, so a transfer never holds more
# than one piece in memory; every segment and manifest still fits one request. Blocks go up in
# 1 MiB pieces: aiohttp warns that larger bodies of bytes hold the event loop while sent.
_PIECE = 4 * 2**20
_BLOCK = 2**20
_SINGLE_REQUEST_MAX = 8 * 2**20

# Statuses that mean "try again later", not "you asked for something wrong".
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _etag(value: object) -> str:
    """The etag without the quotes HTTP puts around it: uploads return it quoted, listings not."""
    return str(value).strip('"')


def _error_code(exc: BaseException) -> str | None:
    """Azure's error code (``BlobAlreadyExists``…), which the SDK sets on its errors at run time."""
    code = getattr(exc, "error_code", None)
    return None if code is None else str(code)


def _translate(exc: BaseException, name: str) -> BlobStoreError:
    """The port's error for an Azure SDK (or network) error about blob ``name``.

    Messages carry the status and Azure's error code only: never a URL, header or key.
    """
    if isinstance(exc, ResourceModifiedError):
        return ConditionFailedError(name)
    if isinstance(exc, ResourceExistsError):
        if _error_code(exc) == "LeaseAlreadyPresent":
            return LeaseHeldError(name)
        if _error_code(exc) == "BlobAlreadyExists":
            return BlobExistsError(name)
    if isinstance(exc, ResourceNotFoundError):
        return BlobNotFoundError(name)
    if isinstance(exc, CredentialUnavailableError):
        return BlobStoreUnavailableError(f"{name}: no token from the managed identity endpoint")
    if isinstance(exc, ClientAuthenticationError):
        return BlobStoreError(
            f"{name}: not authorized ({exc.status_code}): the identity needs the "
            "'Storage Blob Data Contributor' role on the account"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        if exc.status_code in _TRANSIENT_STATUSES:
            return BlobStoreUnavailableError(f"{name}: storage answered {exc.status_code}")
        return BlobStoreError(f"{name}: storage answered {exc.status_code} {_error_code(exc)}")
    if isinstance(
        exc,
        ServiceRequestError | ServiceResponseError | aiohttp.ClientError | TimeoutError | OSError,
    ):
        return BlobStoreUnavailableError(f"{name}: storage unreachable ({type(exc).__name__})")
    return BlobStoreError(f"{name}: {type(exc).__name__}")


@contextlib.asynccontextmanager
async def _azure_errors(name: str) -> AsyncIterator[None]:
    """Translate whatever the SDK raises inside the block into the port's errors."""
    try:
        yield
    except (AzureError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise _translate(exc, name) from None


class AzureBlobStore:
    """``BlobStore`` on one Azure Blob Storage container."""

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        *,
        credential: AsyncTokenCredential | None = None,
    ) -> None:
        """Use ``container`` of ``service``; ``credential``, if given, is closed with the store."""
        self._service = service
        self._container = service.get_container_client(container)
        self._credential = credential
        self._container_ready = False

    @staticmethod
    def _client_options(
        connection_verify: bool | str, timeout_s: float, retry_total: int
    ) -> dict[str, Any]:
        # The SDK's default retry waits 15 s, then 18 s, then 24 s: far too long for a writer that
        # must notice an outage quickly and keep serving. Here a blip is retried after 0-2 s, and
        # an outage surfaces as BlobStoreUnavailableError within seconds; callers (the shipper, the
        # lease keeper) retry on their own schedule.
        retry = LinearRetry(backoff=1, random_jitter_range=1, retry_total=retry_total)
        return {
            "connection_verify": connection_verify,
            "connection_timeout": timeout_s,
            "read_timeout": timeout_s,
            "retry_policy": retry,
            "max_single_put_size": _SINGLE_REQUEST_MAX,
            "max_single_get_size": _SINGLE_REQUEST_MAX,
            "max_chunk_get_size": _PIECE,
        }

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        container: str = "ibpicker-journal",
        *,
        connection_verify: bool | str = True,
        timeout_s: float = 10.0,
        retry_total: int = 2,
    ) -> AzureBlobStore:
        """A store from a connection string (Azurite or a dev account with a key)."""
        try:
            service = BlobServiceClient.from_connection_string(
                connection_string, **cls._client_options(connection_verify, timeout_s, retry_total)
            )
        except ValueError:
            # The SDK's message could quote the string, and the string holds the account key.
            raise BlobStoreError("the blob connection string is malformed") from None
        return cls(service, container)

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        credential: AsyncTokenCredential,
        container: str = "ibpicker-journal",
        *,
        connection_verify: bool | str = True,
        timeout_s: float = 10.0,
        retry_total: int = 2,
    ) -> AzureBlobStore:
        """A store from an account URL and a token credential (closed with the store)."""
        service = BlobServiceClient(
            account_url,
            credential=credential,
            **cls._client_options(connection_verify, timeout_s, retry_total),
        )
        return cls(service, container, credential=credential)

    def __repr__(self) -> str:
        return f"AzureBlobStore({self._service.url!r}, {self._container.container_name!r})"

    async def _ensure_container(self) -> None:
        """Create the container once, on first use (it may already exist)."""
        if self._container_ready:
            return
        # Two first calls may both try: the loser's "already exists" is the answer it wanted.
        async with _azure_errors(self._container.container_name):
            with contextlib.suppress(ResourceExistsError):
                await self._container.create_container()
        self._container_ready = True

    async def create(self, name: str, data: bytes) -> str:
        """Upload ``data`` only if ``name`` does not exist; return the new etag."""
        await self._ensure_container()
        async with _azure_errors(name):
            result = await self._container.get_blob_client(name).upload_blob(data, overwrite=False)
        return _etag(result["etag"])

    async def create_from_file(self, name: str, source: Path) -> str:
        """``create`` with the content of file ``source``: staged in blocks of 1 MiB, one at a
        time (never whole in memory), then committed create-only. Return the new etag."""
        await self._ensure_container()
        blob = self._container.get_blob_client(name)
        blocks: list[str] = []
        with source.open("rb") as handle:
            while piece := await asyncio.to_thread(handle.read, _BLOCK):
                # Uncommitted blocks are the blob's own: an abandoned upload leaves nothing to
                # read, and Azure drops them after a week.
                block_id = base64.b64encode(f"{len(blocks):08d}-{uuid.uuid4().hex}".encode())
                blocks.append(block_id.decode())
                async with _azure_errors(name):
                    await blob.stage_block(blocks[-1], piece, length=len(piece))
        try:
            async with _azure_errors(name):
                result = await blob.commit_block_list(
                    [BlobBlock(block_id) for block_id in blocks], if_none_match="*"
                )
        except ConditionFailedError:
            raise BlobExistsError(name) from None
        return _etag(result["etag"])

    async def read_into(self, name: str, sink: Sink) -> str:
        """Give the blob's content to ``sink`` in pieces of 4 MiB; return its etag."""
        await self._ensure_container()
        async with _azure_errors(name):
            download = await self._container.get_blob_client(name).download_blob(max_concurrency=1)
            async for piece in download.chunks():
                await asyncio.to_thread(sink.write, piece)
        return _etag(download.properties.etag)

    async def replace(self, name: str, data: bytes, *, etag: str | None) -> str:
        """Write ``data`` if the blob's etag is still ``etag`` (``None``: only if absent)."""
        await self._ensure_container()
        blob = self._container.get_blob_client(name)
        try:
            async with _azure_errors(name):
                if etag is None:
                    result = await blob.upload_blob(data, overwrite=False)
                else:
                    result = await blob.upload_blob(
                        data,
                        overwrite=True,
                        etag=f'"{etag}"',
                        match_condition=MatchConditions.IfNotModified,
                    )
        except (BlobExistsError, BlobNotFoundError):
            raise ConditionFailedError(name) from None
        return _etag(result["etag"])

    async def read(self, name: str) -> tuple[bytes, str]:
        """Return the blob's content and etag; raises ``BlobNotFoundError``."""
        await self._ensure_container()
        async with _azure_errors(name):
            download = await self._container.get_blob_client(name).download_blob()
            data = await download.readall()
        return data, _etag(download.properties.etag)

    async def list(self, prefix: str = "") -> list[BlobInfo]:
        """Every blob whose name starts with ``prefix``, sorted by name."""
        await self._ensure_container()
        async with _azure_errors(prefix or "*"):
            found = [
                BlobInfo(name=blob.name, size=blob.size, etag=_etag(blob.etag))
                async for blob in self._container.list_blobs(name_starts_with=prefix or None)
            ]
        # Azure lists in name order already; sorting here makes it the contract, not a habit.
        found.sort(key=lambda info: info.name)
        return found

    async def delete(self, name: str) -> None:
        """Delete a blob; deleting a missing blob is not an error."""
        await self._ensure_container()
        with contextlib.suppress(BlobNotFoundError):
            async with _azure_errors(name):
                await self._container.get_blob_client(name).delete_blob()

    def _lease(self, name: str, lease_id: str) -> BlobLeaseClient:
        return BlobLeaseClient(self._container.get_blob_client(name), lease_id=lease_id)

    async def acquire_lease(self, name: str, *, duration_s: int, lease_id: str) -> None:
        """Take the lease on lock blob ``name`` (created if missing) for ``duration_s``."""
        check_lease_duration(duration_s)
        await self._ensure_container()
        try:
            async with _azure_errors(name):
                await self._lease(name, lease_id).acquire(lease_duration=duration_s)
            return
        except BlobNotFoundError:
            pass
        with contextlib.suppress(BlobExistsError, ConditionFailedError):
            await self.create(name, b"")  # another instance may create it at the same moment
        async with _azure_errors(name):
            await self._lease(name, lease_id).acquire(lease_duration=duration_s)

    async def renew_lease(self, name: str, *, lease_id: str) -> None:
        """Renew our lease; raises ``LeaseLostError`` when it is no longer ours."""
        try:
            async with _azure_errors(name):
                await self._lease(name, lease_id).renew()
        except BlobStoreUnavailableError:
            raise
        except BlobStoreError:
            # 409 LeaseIdMismatch / LeaseNotPresent, 404: whatever the reason, it is not ours.
            raise LeaseLostError(name) from None

    async def release_lease(self, name: str, *, lease_id: str) -> None:
        """Release our lease (a no-op when it is already gone or someone else's)."""
        try:
            async with _azure_errors(name):
                await self._lease(name, lease_id).release()
        except BlobStoreUnavailableError:
            raise
        except BlobStoreError:
            return

    async def set_metadata(self, name: str, metadata: dict[str, str], *, lease_id: str) -> None:
        """Replace the metadata of lock blob ``name`` under our lease."""
        try:
            async with _azure_errors(name):
                await self._container.get_blob_client(name).set_blob_metadata(
                    metadata, lease=lease_id
                )
        except BlobStoreUnavailableError:
            raise
        except BlobStoreError:
            # 412 LeaseIdMismatchWithBlobOperation / LeaseNotPresent..., 404: not ours (as renew).
            raise LeaseLostError(name) from None

    async def read_metadata(self, name: str) -> dict[str, str]:
        """The metadata of blob ``name`` (empty when it is missing)."""
        await self._ensure_container()
        try:
            async with _azure_errors(name):
                properties = await self._container.get_blob_client(name).get_blob_properties()
        except BlobNotFoundError:
            return {}
        return dict(properties.metadata or {})

    async def close(self) -> None:
        """Close the HTTP session (and the credential this store was given)."""
        await self._service.close()
        if self._credential is not None:
            await self._credential.close()
