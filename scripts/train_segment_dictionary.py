"""Train the zstd dictionary of version 3 segments: ``events/segment_dictionaries/<n>.zdict``.

    .venv/bin/python scripts/train_segment_dictionary.py 2   # writes dictionary 2, prints its hash

Samples are columnar bodies (``events.segment_columns``) of 500-event segments, the size the
live shipper seals, of the realistic mix of ``benchmarks/journal.py`` with a seed no benchmark
uses (99), so a benchmark never measures on the data the dictionary was trained on. A dictionary,
once a segment names it, must never change: train a new number, add it to
``events.segments.DICTIONARIES``, point ``DICTIONARY`` at it, and keep the old files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zstandard  # noqa: E402

from benchmarks.journal import generate  # noqa: E402
from events.journal import Journal  # noqa: E402
from events.segment_columns import encode_columns  # noqa: E402
from events.segments import sha256_hex  # noqa: E402

EVENTS = 40_000
SEGMENT = 500
SIZE = 32 * 1024  # bytes; 16 KiB and 64 KiB measured within 0.3 bytes an event of it


def main() -> None:
    """Train and write the dictionary, then print its number and SHA-256 for ``DICTIONARIES``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("number", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite"
        generate(path, EVENTS, seed=99)
        journal = Journal.open(path)
        try:
            records = journal.read_raw(1, EVENTS)
        finally:
            journal.close()
    samples: list[bytes | bytearray | memoryview] = [
        encode_columns(records[i : i + SEGMENT]) for i in range(0, EVENTS, SEGMENT)
    ]
    trained = zstandard.train_dictionary(SIZE, samples)
    data = trained.as_bytes()
    out = ROOT / "events" / "segment_dictionaries" / f"{args.number}.zdict"
    if out.exists():
        raise SystemExit(f"{out} exists: a dictionary never changes once used; pick a new number")
    out.write_bytes(data)
    print(f"{out.relative_to(ROOT)}: {len(data)} bytes, sha256 {sha256_hex(data)}")


if __name__ == "__main__":
    main()
