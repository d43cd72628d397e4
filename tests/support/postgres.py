"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, started by the tests.

``scripts/test`` installs the package (``apt-get install -y postgresql``) when it is missing. When
the binaries are still missing, the tests that need them FAIL (never skip) saying so.

One server per test session (``initdb`` and start cost about a second), one fresh database per
test (``pg_url``), so tests never see each other's tables. The server runs as an unprivileged user
(``initdb`` refuses root), listens on 127.0.0.1 and a Unix socket in its own folder only, and is
stopped (``pg_ctl stop -m immediate``) and its folder removed at the end of the session.

Fixtures (import them into a ``conftest.py``): ``postgres`` (the session's server) and
``pg_url`` (a ``postgresql://`` URL of a new, empty database).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.azurite import free_port

_PG_ROOT = Path("/usr/lib/postgresql")
_USER = "nobody"
_START_TIMEOUT_S = 60


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder; the test fails when there is none."""
    found = sorted(
        (p for p in _PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail(
            f"PostgreSQL is not installed (no {_PG_ROOT}/<version>/bin/initdb): run "
            "`apt-get install -y postgresql` (scripts/test does it)",
            pytrace=False,
        )
    return found[-1]


class PostgresServer:
    """One ``postgres`` process on 127.0.0.1 with its data in a folder of its own.

    ``durable=False`` (the tests) turns off ``fsync``: a crash of the machine is not what a test
    simulates, and it makes each commit cheap; the benchmark keeps PostgreSQL's defaults.
    """

    def __init__(self, *, durable: bool = False) -> None:
        """Prepare (not start) a server on a free port in a new temporary folder."""
        self.bin = pg_bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="ibpicker-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.durable = durable
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            entry = pwd.getpwnam(_USER)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
            self._as_user = ["runuser", "-u", _USER, "--"]
        self.base.chmod(0o755)

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_user, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout}")

    def start(self) -> PostgresServer:
        """``initdb`` (trust auth, user ``postgres``) and ``pg_ctl start``; waits until ready.

        The port was free when chosen, but parallel test workers (pytest-xdist) and other runs
        share this machine: when the server cannot bind it, a fresh port is tried, as for Azurite.
        """
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        for _attempt in range(2):
            try:
                self._pg_ctl_start()
                return self
            except RuntimeError:
                if not self._port_was_taken():
                    raise
            self.port = free_port()
        self._pg_ctl_start()
        return self

    def _port_was_taken(self) -> bool:
        """Whether the last start failed because another process held the port."""
        log = self.base / "server.log"
        return log.exists() and "could not bind" in log.read_text(errors="replace")

    def _pg_ctl_start(self) -> None:
        # A fresh log per attempt, so _port_was_taken reads this attempt's failure only.
        (self.base / "server.log").unlink(missing_ok=True)
        options = [
            f"-k {self.base}",
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=200",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "-o",
            " ".join(options),
            "start",
        )

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it outlives the session) and remove its data."""
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        """The ``postgresql://`` URL of database ``dbname`` over TCP on 127.0.0.1."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, stopped at its end."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return postgres.create_database()
