"""The PostgreSQL journal signs in with the managed identity's Entra ID token as its password.

Real parts: the real ``ManagedIdentityCredential`` against the token endpoint stand-in
(``tests.support.identity``) and a real PostgreSQL server of this module's own whose role
``ibpicker-id`` signs in by password over TLS only (``hostssl … scram-sha-256`` in
``pg_hba.conf``, as Azure's ``require_secure_transport``), with a certificate for the Azure host
name that the journal verifies (``sslmode=verify-full``, as main.bicep's URL). Entra ID's check of
the token is stood in for by setting the role's password to each token the endpoint issues (the
endpoint's ``on_issue``): a token the "identity" issued is accepted until the next one replaces
it, an older one is then refused, as an expired token would be.

The URLs name an Azure host (``*.postgres.database.azure.com``, which is what selects Entra ID
sign-in) with ``hostaddr=127.0.0.1``: libpq connects to that address without a DNS lookup.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime
from typing import cast

import psycopg
import pytest
from psycopg import sql

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import JournalError
from events.pg_auth import SCOPE, EntraAuthError, managed_identity_password, wants_entra
from events.postgres import PostgresJournal, PostgresJournalReader
from tests.support.certs import make_self_signed_cert
from tests.support.identity import CLIENT_ID, IdentityEndpoint, identity_endpoint
from tests.support.postgres import PostgresServer

__all__ = ["identity_endpoint"]

pytestmark = pytest.mark.postgres

ROLE = "ibpicker-id"  # the identity's name, as main.bicep makes it the server's Entra admin
AZURE_HOST = "ibpicker-pg.postgres.database.azure.com"
AT = datetime(2026, 12, 3, 21, 30, tzinfo=UTC)
USER = Actor(guild_id=1, user_id=2)
# Under 5 minutes: the credential asks the endpoint again on every call instead of its cache, so
# whether a new token is fetched is decided by the journal's clock alone.
SHORT_LIFETIME_S = 120  # and twice that, too


class EntraServer:
    """A PostgreSQL server where ``ROLE`` signs in by password, and a database it owns."""

    def __init__(self, server: PostgresServer) -> None:
        """Turn TLS on (a certificate for ``AZURE_HOST``), require TLS and a password of
        ``ROLE`` on 127.0.0.1 (other roles keep trust, without TLS) and reload."""
        self.server = server
        owner = server.data.stat()
        self.ca, key = make_self_signed_cert(server.base / "tls", dns_names=[AZURE_HOST])
        for path in (self.ca.parent, self.ca, key):
            os.chown(path, owner.st_uid, owner.st_gid)
        key.chmod(0o600)  # the server refuses a key others may read
        hba = server.data / "pg_hba.conf"
        hba.write_text(
            f'hostssl all "{ROLE}" 127.0.0.1/32 scram-sha-256\n'
            f'host all "{ROLE}" 127.0.0.1/32 reject\n' + hba.read_text()
        )
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE)))
            for name, value in (("ssl_cert_file", self.ca), ("ssl_key_file", key), ("ssl", "on")):
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(str(value))
                    )
                )
            conn.execute("SELECT pg_reload_conf()")

    def database(self) -> str:
        """A new database owned by ``ROLE``; returns its name."""
        name = self.server.create_database().rsplit("/", 1)[1]
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(name), sql.Identifier(ROLE)
                )
            )
        return name

    def accept(self, token: str) -> None:
        """Entra ID's stand-in: ``token`` becomes ``ROLE``'s password (the previous one no longer
        signs in)."""
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(token)
                )
            )

    def azure_url(self, dbname: str, *, sslmode: str = "verify-full") -> str:
        """The journal URL as main.bicep writes it (no password, the server's certificate
        verified against a CA file), reaching this server."""
        return (
            f"postgresql://{ROLE}@{AZURE_HOST}:{self.server.port}/{dbname}"
            f"?sslmode={sslmode}&sslrootcert={self.ca}&hostaddr=127.0.0.1"
        )

    def signs_in(self, dbname: str, password: str, *, sslmode: str = "verify-full") -> bool:
        """Whether ``ROLE`` can open a connection with ``password``."""
        try:
            psycopg.connect(self.azure_url(dbname, sslmode=sslmode), password=password).close()
        except psycopg.OperationalError:
            return False
        return True


@pytest.fixture(scope="module")
def entra_server() -> Iterator[EntraServer]:
    """This module's own server (its pg_hba.conf is changed), stopped at the module's end."""
    server = PostgresServer().start()
    try:
        yield EntraServer(server)
    finally:
        server.stop()


@pytest.fixture
def identity(
    identity_endpoint: IdentityEndpoint,
    entra_server: EntraServer,
    monkeypatch: pytest.MonkeyPatch,
) -> IdentityEndpoint:
    """The token endpoint as the app's user-assigned identity; each token it issues signs in."""
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    identity_endpoint.on_issue = entra_server.accept
    return identity_endpoint


def append_one(journal: PostgresJournal, command_id: str) -> list[int]:
    """Append one small event; its positions."""
    result = journal.append(
        [NewEvent("s", CommandHandled(name="picks"))],
        command_id=command_id,
        actor=USER,
        recorded_at=AT,
    )
    return list(result.positions)


def test_only_a_passwordless_url_on_an_azure_host_signs_in_with_entra() -> None:
    """Entra ID sign-in is chosen by the URL alone: an Azure host without a password. A password
    in the URL, another host, or something that is not a URL keep the URL's own sign-in."""
    assert wants_entra(f"postgresql://{ROLE}@{AZURE_HOST}:5432/ibpicker?sslmode=require")
    assert wants_entra(f"postgresql://{ROLE}@IBPICKER-PG.Postgres.Database.Azure.com./db")
    assert not wants_entra(f"postgresql://{ROLE}:secret@{AZURE_HOST}:5432/ibpicker")
    assert not wants_entra("postgresql://postgres@127.0.0.1:5432/ibpicker")
    assert not wants_entra("postgresql://u@db.example.com:5432/ibpicker")
    assert not wants_entra("not a url = = =")


async def test_the_journal_signs_in_with_the_managed_identitys_token_and_appends(
    identity: IdentityEndpoint, entra_server: EntraServer
) -> None:
    """With a passwordless Azure URL the journal asks the identity for a token for the
    PostgreSQL scope (as the app's client id), signs in with it and appends; the read-only
    reader (``journal status|tail|show``) signs in the same way and sees the event."""
    dbname = entra_server.database()
    url = entra_server.azure_url(dbname)

    def run() -> tuple[list[int], int]:
        journal = PostgresJournal(url)
        try:
            positions = append_one(journal, "c1")
        finally:
            journal.close()
        reader = PostgresJournalReader(url)
        try:
            return positions, reader.head()
        finally:
            reader.close()

    positions, head = await asyncio.to_thread(run)
    assert (positions, head) == ([1], 1)
    assert identity.requests
    assert set(identity.requests) == {(SCOPE.removesuffix("/.default"), CLIENT_ID)}
    token = identity.issued[-1]
    assert entra_server.signs_in(dbname, token)
    assert not entra_server.signs_in(dbname, "not-the-token")
    assert not entra_server.signs_in(dbname, token, sslmode="disable")  # TLS is required


async def test_a_new_pool_connection_after_expiry_signs_in_with_a_refreshed_token(
    identity: IdentityEndpoint, entra_server: EntraServer
) -> None:
    """The journal's clock (pinned, moved by the test) decides: before the refresh margin every
    new connection reuses the first token; once the clock reaches the margin before its expiry,
    the next new pool connection fetches a second token, which signs in although the first no
    longer does (the stand-in for its expiry), and the append on it succeeds."""
    identity.lifetime_s = SHORT_LIFETIME_S
    dbname = entra_server.database()
    url = entra_server.azure_url(dbname)
    now = [0.0]  # pinned: far before any token's expiry
    password = managed_identity_password(clock=lambda: now[0], margin_s=60)

    def before() -> PostgresJournal:
        journal = PostgresJournal(url, password=password)
        assert append_one(journal, "c1") == [1]
        journal._writes.datastore.pool.drain()  # new connections, still before the margin
        assert append_one(journal, "c2") == [2]
        return journal

    journal = await asyncio.to_thread(before)
    try:
        assert password.fetches == 1
        assert len(identity.issued) == 1
        first = identity.issued[0]
        now[0] = password.expires_on - 60  # the refresh margin before the first token's expiry
        # The next token outlives the first (whenever it is issued), so it is not due at once.
        identity.lifetime_s = 2 * SHORT_LIFETIME_S

        def after() -> list[int]:
            journal._writes.datastore.pool.drain()  # the pool opens new connections
            return append_one(journal, "c3")

        assert await asyncio.to_thread(after) == [3]
    finally:
        await asyncio.to_thread(journal.close)
    assert password.fetches == 2
    assert len(identity.issued) == 2
    second = identity.issued[1]
    assert second != first
    assert not entra_server.signs_in(dbname, first)
    assert entra_server.signs_in(dbname, second)


async def test_no_managed_identity_is_refused_at_once_naming_what_is_missing(
    entra_server: EntraServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without IDENTITY_ENDPOINT (no managed identity, e.g. a laptop) opening the journal or its
    reader on a passwordless Azure URL raises a JournalError that names the variable and says
    to put a password in the URL; no table is created."""
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    dbname = entra_server.database()
    url = entra_server.azure_url(dbname)
    for opener in (PostgresJournal, PostgresJournalReader):
        with pytest.raises(EntraAuthError, match="IDENTITY_ENDPOINT is not set") as refused:
            opener(url)
        assert isinstance(refused.value, JournalError)
        assert "password in the URL" in str(refused.value)
    with psycopg.connect(entra_server.server.url(dbname)) as conn:
        row = conn.execute("SELECT to_regclass('stored_events') IS NULL").fetchone()
    assert row == (True,)


async def test_an_identity_that_refuses_gives_a_clear_error(
    identity: IdentityEndpoint, entra_server: EntraServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the identity endpoint refuses (an unknown client id), opening the journal raises a
    JournalError naming the identity and the PostgreSQL scope, with the credential's reason; no
    token was issued and no table created."""
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000dead")
    dbname = entra_server.database()
    url = entra_server.azure_url(dbname)
    with pytest.raises(EntraAuthError) as refused:
        await asyncio.to_thread(PostgresJournal, url)
    message = str(refused.value)
    assert "00000000-0000-0000-0000-00000000dead" in message
    assert SCOPE in message
    assert "gave no Entra ID token" in message
    assert "Token request error" in message  # the credential's own first line
    assert identity.issued == []
    with psycopg.connect(entra_server.server.url(dbname)) as conn:
        row = conn.execute("SELECT to_regclass('stored_events') IS NULL").fetchone()
    assert row == (True,)


async def test_the_listen_connection_signs_in_with_the_token_too(
    identity: IdentityEndpoint, entra_server: EntraServer
) -> None:
    """A replica's LISTEN connection (``PostgresJournal.notifications``) signs in with the
    identity's token like the pool: it starts listening, and an append wakes it."""
    url = entra_server.azure_url(entra_server.database())
    journal = await asyncio.to_thread(PostgresJournal, url)
    woken: list[str] = []
    # An async generator (declared as an iterator): closed explicitly, ending its connection.
    listener = cast(AsyncGenerator[None, None], journal.notifications())
    try:
        await anext(listener)
        woken.append("listening")  # the connection signed in
        assert await asyncio.to_thread(append_one, journal, "c1") == [1]
        # A guard against a hang, not a timing assertion: the wake-up is what is checked.
        await asyncio.wait_for(anext(listener), timeout=60)
        woken.append("appended")
    finally:
        await listener.aclose()
        await asyncio.to_thread(journal.close)
    assert woken == ["listening", "appended"]
    assert len(identity.issued) == 1  # one token served the pool and the listener
