"""Entra ID sign-in for the PostgreSQL journal: the managed identity's access token as password.

Azure Database for PostgreSQL Flexible Server with password authentication disabled takes an
Entra ID access token for ``https://ossrdbms-aad.database.windows.net/.default`` as the password
of the role named after the identity (``infra/main.bicep`` makes the app's identity the server's
Entra administrator). There is no password to store or rotate.

A token lasts about an hour, and the server checks it only when a connection opens: an open
connection outlives its token. So the pool asks ``EntraPassword`` for the password each time it
opens a connection (the library's ``get_password_func`` hook), and ``EntraPassword`` fetches a
new token when the one it holds is within ``REFRESH_MARGIN_S`` of its expiry by its clock, which
tests inject.

Which URLs sign in this way (``password_source``): no password in the URL and a host under
``.postgres.database.azure.com``. A URL with a password (a local or self-managed server) is used
as given. The identity is the one Azure Container Apps exposes through ``IDENTITY_ENDPOINT``:
``AZURE_CLIENT_ID`` picks the user-assigned one, unset means the system-assigned one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

import psycopg
from psycopg.conninfo import conninfo_to_dict

from events.journal import JournalError

SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
AZURE_HOST_SUFFIX = ".postgres.database.azure.com"
# azure-identity itself refreshes 5 minutes ahead; asking again at the same point keeps a token
# handed to a new connection valid for at least that long.
REFRESH_MARGIN_S = 300.0


class EntraAuthError(JournalError):
    """No Entra ID token for the journal's database: no managed identity, or it refused."""


class AccessTokenLike(Protocol):
    """What ``get_token`` returns (``azure.core.credentials.AccessToken``)."""

    @property
    def token(self) -> str:
        """The access token."""
        ...

    @property
    def expires_on(self) -> int:
        """Its expiry, in Unix seconds."""
        ...


class TokenCredential(Protocol):
    """A synchronous Azure credential (``azure.identity.ManagedIdentityCredential``)."""

    def get_token(self, *scopes: str) -> AccessTokenLike:
        """A token for ``scopes``."""
        ...


class EntraPassword:
    """The current access token for the database, as a password; fetched again near expiry.

    Callable with no argument (psycopg's pool calls it from its worker threads, hence the lock).
    """

    def __init__(
        self,
        credential: TokenCredential,
        *,
        clock: Callable[[], float] = time.time,
        margin_s: float = REFRESH_MARGIN_S,
        describe: str = "the managed identity",
    ) -> None:
        """Use ``credential``; ``clock`` gives Unix seconds (injected by tests)."""
        self._credential = credential
        self._clock = clock
        self._margin_s = margin_s
        self._describe = describe
        self._lock = threading.Lock()
        self._token: str | None = None
        self.expires_on = 0.0
        """Expiry of the token held (Unix seconds; 0 before the first)."""
        self.fetches = 0
        """Tokens fetched so far."""

    def __call__(self) -> str:
        """The token to sign in with, fetching a new one when none is held or it is due."""
        with self._lock:
            if self._token is None or self._clock() >= self.expires_on - self._margin_s:
                self._token, self.expires_on = self._fetch()
                self.fetches += 1
            return self._token

    def _fetch(self) -> tuple[str, float]:
        from azure.core.exceptions import AzureError

        try:
            found = self._credential.get_token(SCOPE)
        except AzureError as exc:
            # The credential's message says what the endpoint answered; it holds no secret.
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
            raise EntraAuthError(
                f"cannot sign in to the journal's database: {self._describe} gave no Entra ID "
                f"token for {SCOPE} ({first_line})"
            ) from None
        return found.token, float(found.expires_on)


def is_azure_host(host: str) -> bool:
    """Whether ``host`` is an Azure Database for PostgreSQL server's name."""
    return host.lower().rstrip(".").endswith(AZURE_HOST_SUFFIX)


def wants_entra(url: str) -> bool:
    """Whether ``url`` signs in with Entra ID: no password, on an Azure PostgreSQL host."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return False  # not a URL at all: opening it says so
    return not params.get("password") and is_azure_host(str(params.get("host", "")))


def managed_identity_password(
    *, clock: Callable[[], float] = time.time, margin_s: float = REFRESH_MARGIN_S
) -> EntraPassword:
    """``EntraPassword`` over the app's managed identity (Container Apps' token endpoint).

    Refused at once (``EntraAuthError``) when there is no identity endpoint: the credential would
    otherwise spend seconds probing for one before failing.
    """
    if not os.environ.get("IDENTITY_ENDPOINT"):
        raise EntraAuthError(
            "IBPICKER_JOURNAL_URL names an Azure PostgreSQL server without a password, so the "
            "journal signs in with the managed identity's Entra ID token, and there is no managed "
            "identity here (IDENTITY_ENDPOINT is not set; Azure Container Apps sets it). Outside "
            "Azure, put a password in the URL"
        )
    from azure.identity import ManagedIdentityCredential

    client_id = os.environ.get("AZURE_CLIENT_ID") or None
    describe = (
        f"the managed identity {client_id}" if client_id else "the system-assigned managed identity"
    )
    return EntraPassword(
        ManagedIdentityCredential(client_id=client_id),
        clock=clock,
        margin_s=margin_s,
        describe=describe,
    )


def password_source(url: str) -> EntraPassword | None:
    """The token source for ``url`` when it signs in with Entra ID (``wants_entra``), else
    ``None`` (the URL's own password, if any, is used)."""
    return managed_identity_password() if wants_entra(url) else None
