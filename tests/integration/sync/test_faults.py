"""Faults: Blob down mid-run, SIGKILL at random points (Hypothesis), SIGTERM, durable ack."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.journal import AsyncJournal, Journal
from sync.manifest import check_chain, list_segments, read_manifest
from sync.restore import restore
from sync.shipper import Shipper
from tests.support.azurite import REPO_ROOT, Azurite, AzuriteFactory, unique_container
from tests.support.sync_doubles import fill, open_journal_at
from tests.support.sync_stores import azure_store

Ack = tuple[str, int, int]


class Child:
    """The writer subprocess (``tests.support.sync_child``) and the acknowledgements it printed."""

    def __init__(self, data_dir: Path, azurite: Azurite, container: str, *extra: str) -> None:
        command = [
            sys.executable,
            "-m",
            "tests.support.sync_child",
            str(data_dir),
            "--connection-string",
            azurite.connection_string,
            "--container",
            container,
            *extra,
        ]
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.acks: list[Ack] = []
        line = self._line()
        assert line == "READY", f"child did not start: {line!r} {self._stderr()}"

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read()[-3000:]

    def read_acks(self, count: int) -> None:
        """Read until ``count`` acknowledgements arrived."""
        while len(self.acks) < count:
            line = self._line()
            assert line.startswith("ACK"), f"unexpected {line!r} {self._stderr()}"
            _, command_id, first, last = line.split()
            self.acks.append((command_id, int(first), int(last)))

    def read_until(self, wanted: str) -> None:
        """Read lines (collecting acknowledgements) until the line ``wanted``."""
        while (line := self._line()) != wanted:
            assert line.startswith("ACK"), f"unexpected {line!r} {self._stderr()}"
            self.collect(line)

    def collect(self, output: str) -> None:
        """Add the acknowledgements found in ``output``."""
        for line in output.splitlines():
            if line.startswith("ACK"):
                _, command_id, first, last = line.split()
                self.acks.append((command_id, int(first), int(last)))

    def kill(self) -> None:
        """SIGKILL, then collect the acknowledgements printed before death."""
        self.process.send_signal(signal.SIGKILL)
        assert self.process.stdout is not None
        self.collect(self.process.stdout.read())
        self.process.wait(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        self.process.stdout.close()


async def shipped_then_restored(azurite: Azurite, container: str, empty: Path) -> Journal:
    """Restore the container into an empty folder; check the manifest is consistent."""
    store = azure_store(azurite.connection_string, container)
    try:
        manifest, _ = await read_manifest(store)
        target = AsyncJournal(open_journal_at(empty))
        report = await restore(target, store)
        if manifest is not None:
            check_chain(manifest.segments)
            assert report.local_head_after >= manifest.shipped
    finally:
        await store.close()
    target._executor.shutdown(wait=True)
    return target.journal


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(acks_before_kill=st.integers(0, 40), extra_ms=st.integers(0, 150))
def test_sigkill_at_any_point_loses_nothing_acknowledged_or_shipped(
    azurite: Azurite, acks_before_kill: int, extra_ms: int
) -> None:
    """Invariant: after SIGKILL at any point, the same disk holds every acknowledged command, and
    an empty disk restored from Blob holds every shipped event, byte-identical to the original."""
    with tempfile.TemporaryDirectory() as scratch:
        root, container = Path(scratch), unique_container()
        child = Child(root / "disk", azurite, container)
        child.read_acks(acks_before_kill)
        time.sleep(extra_ms / 1000)
        child.kill()
        same_disk = open_journal_at(root / "disk")
        for command_id, first, last in child.acks:
            assert same_disk.command_span(command_id) == (first, last)
        restored = asyncio.run(shipped_then_restored(azurite, container, root / "empty"))
        shipped = restored.head()
        assert restored.read_raw(1, shipped + 1) == same_disk.read_raw(1, shipped)
        restored.close()
        same_disk.close()


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(acks_before_kill=st.integers(1, 30))
def test_durable_ack_loses_nothing_even_on_an_empty_disk(
    azurite: Azurite, acks_before_kill: int
) -> None:
    """Invariant: with durable ack, every acknowledged command is restored onto an empty disk."""
    with tempfile.TemporaryDirectory() as scratch:
        root, container = Path(scratch), unique_container()
        child = Child(root / "disk", azurite, container, "--durable-ack", "--max-age", "60")
        child.read_acks(acks_before_kill)
        child.kill()
        restored = asyncio.run(shipped_then_restored(azurite, container, root / "empty"))
        for command_id, first, last in child.acks:
            assert restored.command_span(command_id) == (first, last)
        restored.close()


def test_sigterm_ships_everything_and_exits_zero(azurite: Azurite, tmp_path: Path) -> None:
    """SIGTERM: the final segment is uploaded, the lease released, exit 0 within the bound."""
    container = unique_container()
    child = Child(tmp_path / "disk", azurite, container, "--max-age", "60", "--max-events", "10000")
    child.read_acks(25)
    started = time.monotonic()
    child.process.send_signal(signal.SIGTERM)
    out, _ = child.process.communicate(timeout=10)
    assert child.process.returncode == 0
    assert time.monotonic() - started < 6
    assert "STOPPED flushed" in out
    child.collect(out)
    restored = asyncio.run(shipped_then_restored(azurite, container, tmp_path / "empty"))
    for command_id, first, last in child.acks:
        assert restored.command_span(command_id) == (first, last)
    restored.close()


def test_second_sigterm_exits_at_once(azurite_factory: AzuriteFactory, tmp_path: Path) -> None:
    """A second SIGTERM during a graceful stop that cannot finish (Blob down) exits at once."""
    azurite = azurite_factory()
    child = Child(tmp_path / "disk", azurite, unique_container(), "--max-age", "60")
    child.read_acks(3)
    azurite.stop()  # the final upload now cannot succeed: the graceful stop waits its grace
    child.process.send_signal(signal.SIGTERM)
    child.read_until("STOPPING")  # in its graceful stop, whose final upload cannot succeed
    assert child.process.poll() is None  # still trying to ship the final segment
    started = time.monotonic()
    child.process.send_signal(signal.SIGTERM)
    child.process.communicate(timeout=10)
    assert child.process.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - started < 1.0


async def test_azurite_down_mid_run_backlog_ships_after_restart(
    azurite_factory: AzuriteFactory, tmp_path: Path
) -> None:
    """Azurite stopped during appends+shipping: appends go on, the backlog ships after restart,
    nothing lost and nothing duplicated."""
    azurite = azurite_factory()
    container = unique_container()
    store = azure_store(azurite.connection_string, container)
    journal = open_journal_at(tmp_path / "disk")
    aj = AsyncJournal(journal)
    shipper = Shipper(aj, store, max_events=20, max_age_s=0.05, poll_s=0.02, backoff_max_s=0.5)
    shipper.start()
    fill(journal, 50, per_command=5)
    await asyncio.wait_for(shipper.wait_shipped(50), 10)
    await asyncio.to_thread(azurite.stop)
    for _ in range(20):
        fill(journal, 9, per_command=3)  # the bot keeps serving
        shipper.notify()
        await asyncio.sleep(0.02)
    await asyncio.to_thread(azurite.start)
    await asyncio.wait_for(shipper.wait_shipped(journal.head()), 30)
    await shipper.stop()
    manifest, _ = await read_manifest(store)
    assert manifest is not None
    check_chain(manifest.segments)
    assert manifest.shipped == journal.head() == 230
    assert len(await list_segments(store)) == len(manifest.segments)  # no duplicate upload
    await store.close()
    restored = await shipped_then_restored(azurite, container, tmp_path / "empty")
    assert restored.read_raw(1, 1000) == journal.read_raw(1, 1000)
    restored.close()
    await aj.close()
