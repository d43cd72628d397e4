"""``journal verify``'s command-id check gives the same findings however the journal is paged.

The check keeps its runs and spans in a scratch SQLite file (``projections.verify_sql``); the
reference below is the plain one-pass check with a dict and a set over the whole journal.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.verify_sql import CommandRuns, run_problem

# Command ids of consecutive events: runs, repeats of an earlier command, and a few spans that
# are right, wrong, or point at no event at all.
event_commands = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=40)


def _reference(
    commands: list[str], spans: dict[str, tuple[int, int]]
) -> list[tuple[str, list[int]]]:
    """The check on the whole journal at once, one run at a time, in memory."""
    found: list[tuple[str, list[int]]] = []
    seen: set[str] = set()
    first = 0
    for i in range(1, len(commands) + 1):
        if i == len(commands) or commands[i] != commands[first]:
            cmd = commands[first]
            message = run_problem(cmd, first + 1, i, cmd in seen, spans.get(cmd))
            seen.add(cmd)
            if message is not None:
                found.append((message, [first + 1, i]))
            first = i
    for cmd, (a, b) in spans.items():
        if cmd not in seen:
            found.append(
                (f"command_ids row {cmd!r} spans {a}..{b} but no event carries it", [a, b])
            )
    return found


@settings(max_examples=200, deadline=None)
@given(
    commands=event_commands,
    spans=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e", "z"]),
        st.tuples(st.integers(1, 40), st.integers(1, 40)),
        max_size=6,
    ),
    cuts=st.lists(st.integers(1, 39), max_size=6),
)
def test_paged_command_check_equals_the_whole_journal_check(
    commands: list[str], spans: dict[str, tuple[int, int]], cuts: list[int]
) -> None:
    """Invariant: for any command ids of events, any recorded spans and any page boundaries,
    the paged check reports the same command_ids problems as checking all events at once."""
    found: list[tuple[str, list[int]]] = []
    runs = CommandRuns(lambda message, positions: found.append((message, positions)))
    runs.add_spans((cmd, a, b) for cmd, (a, b) in spans.items())
    bounds = sorted({0, *(c for c in cuts if c < len(commands)), len(commands)})
    for a, b in itertools.pairwise(bounds):
        runs.feed(list(range(a + 1, b + 1)), commands[a:b])
    runs.close()
    assert found == _reference(commands, spans)
    assert runs.commands == len(set(commands))
    assert not runs.path.exists()
