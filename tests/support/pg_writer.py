"""A writer process for the PostgreSQL journal tests: appends commands until its count or a kill.

    python -m tests.support.pg_writer URL NAME [--count N]

Each command appends two events in one transaction: one to the writer's own stream and one to
the stream ``shared`` that every writer contends for, with the version it just read as expected
(a stale one is refused with ``ConcurrencyError``: it prints ``STALE`` and reads again). Prints
``READY`` once connected, then ``ACK <command id> <first> <last>`` after each append returned
(committed), and exits 0 after ``--count`` commands (0: until killed, which is what the tests do).
"""

from __future__ import annotations

import argparse
import itertools
import sys

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import ConcurrencyError, Journal

ACTOR = Actor(guild_id=1, user_id=2)


def main(argv: list[str]) -> int:
    """Append ``--count`` commands (forever with 0), printing an ``ACK`` line for each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args(argv)
    journal = Journal.open("", url=args.url)
    print("READY", flush=True)
    numbers = range(args.count) if args.count else itertools.count()
    for i in numbers:
        command_id = f"{args.name}-{i}"
        events = [
            NewEvent(f"writer:{args.name}", CommandHandled(name=command_id)),
            NewEvent("shared", CommandHandled(name=command_id)),
        ]
        while True:
            seen = journal.stream_version("shared")
            try:
                result = journal.append(
                    events, command_id=command_id, actor=ACTOR, expected_versions={"shared": seen}
                )
            except ConcurrencyError:
                print("STALE", flush=True)
                continue
            break
        print(f"ACK {command_id} {result.positions[0]} {result.positions[-1]}", flush=True)
    journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
