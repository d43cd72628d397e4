"""A writer process for the fault tests: appends commands through ``SyncRuntime`` until stopped.

    python -m tests.support.sync_child DATA_DIR (--blob-dir DIR | --connection-string CS
        --container NAME) [--durable-ack] [--max-events N] [--max-age S] [--limit N]

Prints ``READY`` once started, then ``ACK <command id> <first> <last>`` after each command is
acknowledged (with ``--durable-ack``: only once its events are in Blob). SIGTERM stops it
gracefully (``STOPPING``; final segment shipped, lease released, ``STOPPED``, exit 0); SIGKILL is
what the tests send.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from events.base import Actor
from events.journal import AsyncJournal, Journal
from sync.blobstore import BlobStore
from sync.local_blob import LocalBlobStore
from sync.runtime import SyncConfig, SyncRuntime, install_sigterm
from tests.support.sync_doubles import audit_events


def _store(args: argparse.Namespace) -> BlobStore:
    if args.blob_dir:
        return LocalBlobStore(Path(args.blob_dir))
    from tests.support.sync_stores import azure_store

    return azure_store(args.connection_string, args.container)


async def main(args: argparse.Namespace) -> int:
    """Start sync, append until stopped, stop gracefully."""
    journal = AsyncJournal(Journal.open(Path(args.data_dir) / "journal.sqlite"))
    store = _store(args)
    config = SyncConfig(
        durable_ack=args.durable_ack,
        segment_max_events=args.max_events,
        segment_max_age_s=args.max_age,
        health_port=None,
        lease_duration_s=15,
        stop_grace_s=5,
    )
    runtime = SyncRuntime(journal, store, config)
    stop = asyncio.Event()
    install_sigterm(stop.set)
    await runtime.start()
    print("READY", flush=True)
    number = 0
    while not stop.is_set() and (args.limit is None or number < args.limit):
        runtime.ensure_writable()
        count = 1 + number % 3
        result = await journal.append(
            audit_events(count, start=journal.head()),
            command_id=f"c{number}",
            actor=Actor.system(),
        )
        await runtime.committed(result.last_position)
        print(f"ACK c{number} {result.positions[0]} {result.positions[-1]}", flush=True)
        number += 1
        await asyncio.sleep(0.002)
    await stop.wait()
    print("STOPPING", flush=True)
    flushed = await runtime.stop()
    await journal.close()
    await store.close()
    print(f"STOPPED {'flushed' if flushed else 'backlog'}", flush=True)
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--blob-dir")
    parser.add_argument("--connection-string")
    parser.add_argument("--container")
    parser.add_argument("--durable-ack", action="store_true")
    parser.add_argument("--max-events", type=int, default=20)
    parser.add_argument("--max-age", type=float, default=0.05)
    parser.add_argument("--limit", type=int)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
