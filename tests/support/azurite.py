"""Azurite, the real Azure Blob Storage emulator, started by the tests from ``node_modules``.

``scripts/test`` installs it with ``npm ci`` from the project's ``package-lock.json``. When it is
missing, the tests that need it FAIL (never skip) with the command to run.

Fixtures (import them into a ``conftest.py``):

- ``azurite``: one plain-HTTP instance for the whole session; tests isolate themselves by using a
  container of their own (``unique_container()``);
- ``azurite_factory``: starts extra instances (own folder, own port) that a test may stop and
  restart at will, for fault tests, or with ``tls=`` for the OAuth-over-HTTPS path.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key: public, the same on every machine.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_READY_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_container() -> str:
    """A fresh, valid container name, so tests sharing one Azurite never see each other's blobs."""
    return f"t-{uuid.uuid4().hex[:20]}"


class Azurite:
    """One ``azurite-blob`` process on 127.0.0.1 keeping its data in ``location``.

    ``tls=(cert, key)`` serves HTTPS and accepts OAuth bearer tokens (``--oauth basic``).
    ``stop()`` and ``start()`` keep the folder and the port, so data survives a restart.
    """

    def __init__(self, location: Path, *, tls: tuple[Path, Path] | None = None) -> None:
        """Prepare (not start) an instance on a free port."""
        if not AZURITE_BIN.exists():
            pytest.fail(
                f"Azurite is not installed ({AZURITE_BIN} is missing): "
                "run `npm ci` in the repository root (scripts/test does it)",
                pytrace=False,
            )
        self.location = location
        self.tls = tls
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._log = location / "azurite.log"

    @property
    def account_url(self) -> str:
        """The blob endpoint of the development account."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """A connection string with the development account key."""
        scheme = "https" if self.tls else "http"
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process and wait until it answers (about 1-2 s).

        The port was free when chosen, but other test runs share this machine: if Azurite cannot
        bind it, a fresh port is tried (unless data was written there, which a restart must keep).
        """
        for _attempt in range(3):
            if self._start_once():
                return
            if self._started_once:
                break
            self.port = free_port()
        pytest.fail(f"Azurite did not start: {self._log.read_text()[-2000:]}", pytrace=False)

    def _start_once(self) -> bool:
        if self.running:
            return True
        self.location.mkdir(parents=True, exist_ok=True)
        command = [
            str(AZURITE_BIN),
            "--silent",
            "--location",
            str(self.location),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            # azure-storage-blob sends a newer API version than Azurite 3.35 knows.
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ]
        if self.tls:
            cert, key = self.tls
            command += ["--oauth", "basic", "--cert", str(cert), "--key", str(key)]
        with self._log.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._process = process
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if self._answers():
                self._started_once = True
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _answers(self) -> bool:
        """Whether *Azurite* answers on the port (not some other server that grabbed it)."""
        connection: http.client.HTTPConnection
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.tls[0]))
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=0.5, context=context
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        try:
            connection.request("GET", f"/{ACCOUNT}?comp=list")
            server = connection.getresponse().getheader("Server") or ""
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        return server.startswith("Azurite-Blob")

    def stop(self) -> None:
        """Stop the process (the data folder stays)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop, then start again on the same folder and port."""
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite for the whole session (plain HTTP, shared key)."""
    instance = Azurite(tmp_path_factory.mktemp("azurite"))
    instance.start()
    yield instance
    instance.stop()


AzuriteFactory = Callable[..., Azurite]


@pytest.fixture
def azurite_factory(tmp_path: Path) -> Iterator[AzuriteFactory]:
    """Start Azurite instances of this test's own (``factory(tls=...)``); all stopped at the end."""
    started: list[Azurite] = []

    def factory(*, tls: tuple[Path, Path] | None = None) -> Azurite:
        instance = Azurite(tmp_path / f"azurite-{len(started)}", tls=tls)
        started.append(instance)
        instance.start()
        return instance

    yield factory
    for instance in started:
        instance.stop()
