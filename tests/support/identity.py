"""A managed-identity token endpoint on 127.0.0.1, as Container Apps provides one.

The real ``ManagedIdentityCredential`` finds it through ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER`` and sends ``GET ?api-version=2019-08-01&resource=R&client_id=C`` with the
header ``X-IDENTITY-HEADER``. The answer is an unsigned JWT for the requested resource, issued by
``https://sts.windows.net/<tenant>/``: what Azurite's ``--oauth basic`` checks, and what the Key
Vault stand-in checks.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

TENANT_ID = "72f988bf-0000-4000-8000-00000000cafe"
CLIENT_ID = "5f2c1b9e-0000-4000-8000-00000000beef"
ISSUER = f"https://sts.windows.net/{TENANT_ID}/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(resource: str, *, lifetime_s: int = 3600) -> tuple[str, int]:
    """An unsigned JWT for ``resource`` and its expiry (unix seconds)."""
    now = int(time.time())
    expires = now + lifetime_s
    claims = {
        "aud": resource,
        "iss": ISSUER,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": expires,
        "oid": CLIENT_ID,
        "tid": TENANT_ID,
        "appid": CLIENT_ID,
        "jti": secrets.token_hex(8),  # each token differs, as Entra's do, even within a second
    }
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.", expires


def token_audience(authorization: str | None) -> str | None:
    """The ``aud`` claim of a ``Bearer <jwt>`` header, or ``None`` when there is none."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    try:
        payload = authorization.removeprefix("Bearer ").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    audience = claims.get("aud")
    return audience if isinstance(audience, str) else None


@dataclass
class IdentityEndpoint:
    """The running endpoint: its URL, the header secret, and every (resource, client id) asked.

    A test may shorten ``lifetime_s`` (under 5 minutes the credential asks again on every call
    instead of serving its cache) and set ``on_issue``, called with each token issued (to make a
    server accept it, standing in for Entra ID's validation).
    """

    url: str
    header: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    lifetime_s: int = 3600
    on_issue: Callable[[str], None] | None = None
    issued: list[str] = field(default_factory=list)


def _app(endpoint_header: str, endpoint: IdentityEndpoint) -> web.Application:
    seen = endpoint.requests

    async def token(request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != endpoint_header:
            return web.json_response({"error": "missing or wrong X-IDENTITY-HEADER"}, status=401)
        query = request.query
        resource = query.get("resource", "")
        client_id = query.get("client_id", "")
        if query.get("api-version") != "2019-08-01" or not resource:
            return web.json_response({"error": "bad request"}, status=400)
        if client_id != CLIENT_ID:
            return web.json_response({"error": f"unknown identity {client_id!r}"}, status=400)
        seen.append((resource, client_id))
        access_token, expires = make_token(resource, lifetime_s=endpoint.lifetime_s)
        endpoint.issued.append(access_token)
        if endpoint.on_issue is not None:
            endpoint.on_issue(access_token)
        return web.json_response(
            {
                "access_token": access_token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id,
            }
        )

    app = web.Application()
    app.router.add_get("/msi/token", token)
    return app


@pytest.fixture
async def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[IdentityEndpoint]:
    """Start the token endpoint and point ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` at it."""
    header = secrets.token_hex(16)
    endpoint = IdentityEndpoint(url="", header=header)
    runner = web.AppRunner(_app(header, endpoint))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    endpoint.url = f"http://{host}:{port}/msi/token"
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", header)
    yield endpoint
    await runner.cleanup()
