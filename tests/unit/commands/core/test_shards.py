"""Shards: Discord's guild → shard rule (``commands.core.shards``) and the ``IBPICKER_SHARDS`` /
``IBPICKER_SHARD_IDS`` settings that say which shards a replica runs."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.core.shards import owns_guild, shard_of
from settings import SettingsError, load_settings

# A snowflake: milliseconds since Discord's epoch in the high bits, then worker, process, counter.
snowflakes = st.integers(min_value=0, max_value=2**63 - 1)


SHARED_JOURNAL = "postgresql://bot@127.0.0.1:5432/ibpicker"
"""Replicas running only some of the shards share a PostgreSQL journal (never connected here)."""


@pytest.fixture(autouse=True)
def no_shard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the shard variables (and sets its own), on a shared journal."""
    for name in list(os.environ):
        if name.startswith("IBPICKER_SHARD"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IBPICKER_JOURNAL_URL", SHARED_JOURNAL)


def test_shard_of_is_discords_rule_on_known_ids() -> None:
    """The shard is the snowflake's timestamp (id >> 22) modulo the count: worked by hand for an
    id whose timestamp part is 5 and a real guild id (197038439483310086 = 46977624770 * 2**22 + 6,
    and 46977624770 = 6 mod 7 = 2 mod 16)."""
    five = (5 << 22) | 0x3FFFFF  # the low 22 bits (worker, process, counter) never count
    assert [shard_of(five, count) for count in (1, 2, 3, 4, 6)] == [0, 1, 2, 1, 5]
    real = 197038439483310086
    assert [shard_of(real, count) for count in (1, 2, 7, 16)] == [0, 0, 6, 2]


@given(guild_id=snowflakes, count=st.integers(min_value=1, max_value=64))
def test_every_guild_has_exactly_one_shard_in_range(guild_id: int, count: int) -> None:
    """Invariant: a guild's shard lies in 0..count-1 and exactly one of the count shards owns it
    (so replicas that split the shards between them never both, nor neither, run its picks)."""
    shard = shard_of(guild_id, count)
    assert 0 <= shard < count
    owners = [one for one in range(count) if owns_guild(guild_id, count, (one,))]
    assert owners == [shard]


def test_a_shard_count_below_one_is_refused() -> None:
    """``shard_of`` with no shards is an error naming the count, not a ZeroDivisionError."""
    with pytest.raises(ValueError, match="shard_count must be at least 1, not 0"):
        shard_of(1 << 22, 0)


def test_unsharded_or_every_shard_owns_every_guild() -> None:
    """Without a shard count a replica owns every server; with a count and no ids, too."""
    assert owns_guild(123 << 22, None, None)
    assert owns_guild(123 << 22, 4, None)
    assert not owns_guild(123 << 22, 4, (0, 1, 2))  # 123 % 4 == 3


def test_without_the_variables_nothing_is_sharded() -> None:
    """Unset, both settings are None (the bot runs its one plain client)."""
    settings = load_settings()
    assert (settings.shards, settings.shard_ids) == (None, None)


@pytest.mark.parametrize(
    ("total", "ids", "expected"),
    [
        ("2", None, (0, 1)),  # the total alone: every shard
        ("4", "1", (1,)),
        ("4", "3, 0", (0, 3)),
        ("8", "0-2,5", (0, 1, 2, 5)),
        ("8", " 6 - 7 ", (6, 7)),
        ("1", "0", (0,)),
    ],
)
def test_shard_variables_are_read_as_a_total_and_ascending_ids(
    monkeypatch: pytest.MonkeyPatch, total: str, ids: str | None, expected: tuple[int, ...]
) -> None:
    """IBPICKER_SHARDS is the total; IBPICKER_SHARD_IDS a comma list of ids and ranges, read in
    ascending order; unset, every shard of the total."""
    monkeypatch.setenv("IBPICKER_SHARDS", total)
    if ids is not None:
        monkeypatch.setenv("IBPICKER_SHARD_IDS", ids)
    settings = load_settings()
    assert (settings.shards, settings.shard_ids) == (int(total), expected)


@pytest.mark.parametrize(
    ("total", "ids", "message"),
    [
        (None, "0", "IBPICKER_SHARD_IDS: needs IBPICKER_SHARDS (the total number of shards)"),
        ("2", "2", "IBPICKER_SHARD_IDS: shard 2 is outside 0..1 (IBPICKER_SHARDS=2)"),
        ("4", "1-9", "IBPICKER_SHARD_IDS: shard 9 is outside 0..3"),
        ("4", "0-99999999999", "shard 99999999999 is outside 0..3"),
        ("4", "-1", "IBPICKER_SHARD_IDS: '-1' is not a shard id or a range of them"),
        ("4", "a", "'a' is not a shard id"),
        ("4", "1,,2", "'' is not a shard id"),
        ("4", "²", "'²' is not a shard id"),
        ("4", "[0, 1]", "'[0' is not a shard id"),
        ("4", "3-1", "IBPICKER_SHARD_IDS: range '3-1' runs backwards"),
        ("4", "1,0-2", "IBPICKER_SHARD_IDS: '0-2' lists a shard already listed"),
        ("0", "0", "IBPICKER_SHARDS: Input should be greater than 0"),
        ("two", None, "IBPICKER_SHARDS: Input should be a valid integer"),
    ],
)
def test_bad_shard_variables_are_refused_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, total: str | None, ids: str | None, message: str
) -> None:
    """Each bad combination stops the start with one SettingsError naming the variable and the
    problem (ids without a total, out of range, malformed, backwards, repeated)."""
    if total is not None:
        monkeypatch.setenv("IBPICKER_SHARDS", total)
    if ids is not None:
        monkeypatch.setenv("IBPICKER_SHARD_IDS", ids)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert message in str(refused.value)
    assert "; " not in str(refused.value)  # one problem, not a second one caused by the first


@pytest.mark.parametrize(("total", "ids"), [("2", "0-1"), ("3", None), ("1", "0")])
def test_every_shard_in_one_replica_runs_on_the_sqlite_journal(
    monkeypatch: pytest.MonkeyPatch, total: str, ids: str | None
) -> None:
    """Without IBPICKER_JOURNAL_URL (the SQLite journal) one replica may run every shard."""
    monkeypatch.delenv("IBPICKER_JOURNAL_URL")
    monkeypatch.setenv("IBPICKER_SHARDS", total)
    if ids is not None:
        monkeypatch.setenv("IBPICKER_SHARD_IDS", ids)
    assert load_settings().shard_ids == tuple(range(int(total)))


def test_some_shards_on_the_sqlite_journal_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica running only some of the shards on the SQLite journal is refused at start,
    saying why (the other shards' replicas could not write to its journal) and what to set."""
    monkeypatch.delenv("IBPICKER_JOURNAL_URL")
    monkeypatch.setenv("IBPICKER_SHARDS", "2")
    monkeypatch.setenv("IBPICKER_SHARD_IDS", "1")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == (
        "invalid settings: IBPICKER_SHARD_IDS names only some of the 2 shards: the replicas "
        "running the others must share this replica's journal, so set IBPICKER_JOURNAL_URL "
        "(the SQLite journal takes one writer), or run every shard here"
    )


def test_overrides_take_the_ids_as_a_sequence() -> None:
    """``load_settings(shards=…, shard_ids=[…])`` (tests, the CLI) is checked the same way."""
    assert load_settings(shards=3, shard_ids=[2, 0]).shard_ids == (0, 2)
    with pytest.raises(SettingsError, match=r"shard 3 is outside 0\.\.2"):
        load_settings(shards=3, shard_ids=[3])
