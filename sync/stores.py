"""Which blob store a run uses, built from the typed settings.

A connection string (Azurite or a dev account), an account URL with the managed identity (Azure),
or the local folder (the embedded default). The settings only hold and validate the values
(``settings.Settings.blob_backend`` says which one applies); building the store is sync's.
"""

from __future__ import annotations

from settings import ENV_PREFIX, Settings, managed_identity
from sync.blobstore import BlobStore


def open_blob_store(settings: Settings, *, connection_verify: bool | str = True) -> BlobStore:
    """The blob store the settings ask for (Azure by connection string or identity, else local).

    ``connection_verify`` is a CA bundle path for an endpoint with a private certificate. An
    account URL where no managed identity exists raises ``settings.SettingsError`` at once.
    """
    container = settings.blob_container
    # The backends are imported when chosen: a local run never loads the Azure SDK.
    if settings.blob_connection_string is not None:
        from sync.azure_blob import AzureBlobStore

        return AzureBlobStore.from_connection_string(
            settings.blob_connection_string.get_secret_value(),
            container,
            connection_verify=connection_verify,
        )
    if settings.blob_account_url is not None:
        from sync.azure_blob import AzureBlobStore

        credential = managed_identity(settings, purpose=f"{ENV_PREFIX}BLOB_ACCOUNT_URL")
        return AzureBlobStore.from_account_url(
            settings.blob_account_url,
            credential,
            container,
            connection_verify=connection_verify,
        )
    from sync.local_blob import LocalBlobStore

    return LocalBlobStore(settings.local_blob_dir, container)
