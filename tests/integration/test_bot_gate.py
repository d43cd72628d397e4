"""The composition root's write gate (``bot.SyncGate``): where the Discord front end meets sync,
sync's refusal becomes the front end's, so ``commands.discord`` never imports sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import SyncGate
from commands.discord.errors import RESTARTING, NotWriterError, classify
from events.journal import AsyncJournal
from sync.local_blob import LocalBlobStore
from sync.runtime import SyncConfig, SyncRuntime
from tests.support.sync_doubles import fill, open_journal_at


async def test_a_stopped_runtime_refuses_through_the_gate_as_restarting(tmp_path: Path) -> None:
    """A running runtime lets appends through the gate (and takes their positions); once it has
    stopped, the gate raises NotWriterError carrying sync's reason, which the front end's error
    table tells the member as "restarting"."""
    journal = AsyncJournal(open_journal_at(tmp_path / "data"))
    runtime = SyncRuntime(journal, LocalBlobStore(tmp_path / "blob"), SyncConfig(health_port=None))
    gate = SyncGate(runtime)
    try:
        await runtime.start()
        gate.ensure_writable()
        fill(journal.journal, 3)
        await gate.committed(3)
        await runtime.stop()
        with pytest.raises(NotWriterError) as refused:
            gate.ensure_writable()
    finally:
        await journal.close()
    assert refused.value.reason == "shutting down: not taking commands"
    assert classify(refused.value)[0] == RESTARTING
