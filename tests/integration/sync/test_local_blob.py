"""The local-folder store beyond the shared contract: several processes, names, folder layout."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from sync.blobstore import BlobExistsError, BlobStoreError
from sync.local_blob import LocalBlobStore
from tests.support.azurite import REPO_ROOT

# Each worker process races the others: create-only on shared names (counting its wins), then
# etag-guarded increments of one shared counter (retrying on a failed condition).
_WORKER = """
import asyncio, json, sys
from pathlib import Path
from sync.blobstore import BlobExistsError, ConditionFailedError
from sync.local_blob import LocalBlobStore

async def main(root: str, names: int, increments: int) -> None:
    store = LocalBlobStore(Path(root), "race")
    wins = 0
    for i in range(names):
        try:
            await store.create(f"segments/{i:04d}", sys.argv[4].encode())
            wins += 1
        except BlobExistsError:
            pass
    conflicts = 0
    for _ in range(increments):
        while True:
            data, etag = await store.read("counter")
            try:
                await store.replace("counter", str(int(data) + 1).encode(), etag=etag)
                break
            except ConditionFailedError:
                conflicts += 1
    print(json.dumps({"wins": wins, "conflicts": conflicts}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


async def test_processes_racing_on_one_folder_never_lose_or_double_a_write(tmp_path: Path) -> None:
    """4 processes: each create-only name has exactly one winner, and etag-guarded increments of
    one counter add up exactly (no lost update), i.e. the guarantees hold across processes."""
    processes, names, increments = 4, 40, 25
    store = LocalBlobStore(tmp_path, "race")
    await store.create("counter", b"0")
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *("-c", _WORKER, str(tmp_path), str(names), str(increments), f"p{n}"),
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        for n in range(processes)
    ]
    reports = []
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
        assert worker.returncode == 0
        reports.append(json.loads(out))
    assert sum(report["wins"] for report in reports) == names
    assert (await store.read("counter"))[0] == str(processes * increments).encode()
    listed = await store.list("segments/")
    assert [info.name for info in listed] == [f"segments/{i:04d}" for i in range(names)]
    print("etag conflicts retried:", sum(report["conflicts"] for report in reports))


@pytest.mark.parametrize(
    "name", ["", "/abs", "a//b", "../escape", "a/./b", "a/../b", "back\\slash", "x" * 1025]
)
async def test_names_that_are_not_safe_paths_are_refused(tmp_path: Path, name: str) -> None:
    """A name that would escape the folder or not map to one file is refused, before any I/O."""
    store = LocalBlobStore(tmp_path, "names")
    with pytest.raises(BlobStoreError, match="invalid blob name"):
        await store.create(name, b"x")
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("container", ["UPPER", "ab", "a--b", "-ab", ".ibpicker-meta", "a_b"])
def test_container_names_azure_would_refuse_are_refused(tmp_path: Path, container: str) -> None:
    """A container name is valid locally only if it is valid in Azure too."""
    with pytest.raises(BlobStoreError, match="invalid container name"):
        LocalBlobStore(tmp_path, container)


async def test_blobs_are_plain_files_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    """Each blob is a plain file under <root>/<container>; writes leave nothing in tmp/."""
    store = LocalBlobStore(tmp_path, "plain")
    etag = await store.create("segments/0001", b"one")
    await store.replace("segments/0001", b"two", etag=etag)
    await store.acquire_lease(
        "lock", duration_s=15, lease_id="aaaaaaaa-0000-4000-8000-0000000000a1"
    )
    assert (tmp_path / "plain" / "segments" / "0001").read_bytes() == b"two"
    assert list((tmp_path / ".ibpicker-meta" / "plain" / "tmp").iterdir()) == []


async def test_a_name_clashing_with_a_blob_folder_is_an_error_not_an_existing_blob(
    tmp_path: Path,
) -> None:
    """ "a" and "a/b" cannot both be files: the second is a plain BlobStoreError, never
    BlobExistsError (which would make a shipper believe its upload had already happened)."""
    store = LocalBlobStore(tmp_path, "clash")
    await store.create("a/b", b"1")
    await store.create("c", b"2")
    for name in ("a", "c/d"):
        with pytest.raises(BlobStoreError, match="clashes") as caught:
            await store.create(name, b"x")
        assert not isinstance(caught.value, BlobExistsError)


def test_temporaries_abandoned_by_a_crashed_writer_are_removed_on_open(tmp_path: Path) -> None:
    """A tmp/ file older than an hour is deleted when a store opens; a fresh one is left alone."""
    LocalBlobStore(tmp_path, "crash")
    tmp = tmp_path / ".ibpicker-meta" / "crash" / "tmp"
    old, fresh = tmp / "old", tmp / "fresh"
    old.write_bytes(b"half a segment")
    fresh.write_bytes(b"being written")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    LocalBlobStore(tmp_path, "crash")
    assert sorted(p.name for p in tmp.iterdir()) == ["fresh"]
