"""A Key Vault stand-in on 127.0.0.1 (HTTPS, self-signed) that the real ``SecretClient`` talks to.

No Key Vault emulator exists, so this speaks the protocol the client needs: a request without a
bearer token gets 401 with the challenge naming the tenant and the ``https://vault.azure.net``
resource; with a token for that audience (from the managed-identity stand-in), ``GET
/secrets/{name}/`` answers ``{"value", "id", "attributes"}``, or 404 ``SecretNotFound``.
The client must be built with ``verify_challenge_resource=False`` (the vault is not on
``*.vault.azure.net``) and ``connection_verify=<cert>``.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.certs import make_self_signed_cert
from tests.support.identity import TENANT_ID, token_audience

RESOURCE = "https://vault.azure.net"
_CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", resource="{RESOURCE}"'
)


@dataclass
class KeyVaultStandIn:
    """The running vault: its URL, the certificate to trust, its secrets, and the names asked."""

    url: str
    cert: Path
    secrets: dict[str, str]
    asked: list[str] = field(default_factory=list)
    unauthenticated: int = 0

    @property
    def client_options(self) -> dict[str, Any]:
        """What the real ``SecretClient`` needs to talk to this stand-in."""
        return {"verify_challenge_resource": False, "connection_verify": str(self.cert)}


def _app(vault: KeyVaultStandIn) -> web.Application:
    async def get_secret(request: web.Request) -> web.Response:
        if token_audience(request.headers.get("Authorization")) != RESOURCE:
            vault.unauthenticated += 1
            return web.json_response(
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "AKV10000: Request is missing a Bearer token.",
                    }
                },
                status=401,
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        name = request.match_info["name"]
        vault.asked.append(name)
        if name not in vault.secrets:
            return web.json_response(
                {
                    "error": {
                        "code": "SecretNotFound",
                        "message": f"A secret with (name/id) {name} was not found.",
                    }
                },
                status=404,
            )
        version = uuid.uuid5(uuid.NAMESPACE_URL, name + vault.secrets[name]).hex
        return web.json_response(
            {
                "value": vault.secrets[name],
                "id": f"{vault.url}/secrets/{name}/{version}",
                "attributes": {
                    "enabled": True,
                    "created": 1_767_225_600,
                    "updated": 1_767_225_600,
                    "recoveryLevel": "Recoverable+Purgeable",
                },
                "tags": {},
            }
        )

    app = web.Application()
    for path in ("/secrets/{name}", "/secrets/{name}/", "/secrets/{name}/{version}"):
        app.router.add_get(path, get_secret)
    return app


@pytest.fixture
async def key_vault(tmp_path: Path) -> AsyncIterator[KeyVaultStandIn]:
    """Start the vault stand-in with no secrets; a test fills ``key_vault.secrets``."""
    cert, key = make_self_signed_cert(tmp_path / "vault-tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    vault = KeyVaultStandIn(url="", cert=cert, secrets={})
    runner = web.AppRunner(_app(vault))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    host, port = runner.addresses[0][:2]
    vault.url = f"https://{host}:{port}"
    yield vault
    await runner.cleanup()
