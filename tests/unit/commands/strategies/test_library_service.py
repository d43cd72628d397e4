"""A server's strategy library through the command service: add (versions, replace, names),
show, remove, settings, and every other command taking the server's strategy at its exact
version; over a real journal with the fake analyzer (which records what it was asked to scan)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from commands.core.models import Upload
from commands.core.service import CommandService, Reply
from events.analysis import SignalsGenerated
from events.audit import CommandHandled
from events.base import Event
from events.strategies import StrategyAdded, StrategyLibraryConfigured, StrategyRemoved
from events.trading import TradeOpened
from tests.unit.commands.fakes import FakeAnalyzer, Members

COMPAT = Path(__file__).parents[3] / "fixtures" / "compat_strategies"
OLD_FILES = {p.name: p.read_bytes() for p in sorted(COMPAT.glob("*.yaml"))}
"""The six strategy files of the old tool, as they are."""
CROSS = OLD_FILES["golden_cross.yaml"]


def upload(
    data: bytes = CROSS,
    filename: str = "my_cross.yaml",
    *,
    size: int | None = None,
    content_type: str | None = None,
) -> Upload:
    """A sent file as a front end hands it over (``size``: as declared, default its length)."""
    declared = len(data) if size is None else size
    return Upload(filename=filename, data=data, size=declared, content_type=content_type)


def events(service: CommandService) -> list[Event]:
    return [e.event for page in service.journal.read() for e in page]


async def add(
    service: CommandService, members: Members, file: Upload | None = None, **opts: object
) -> Reply:
    """``/strategy add`` by a member with Manage Server of guild 100."""
    options: dict[str, object] = {"file": file or upload(), **opts}
    return await service.execute("strategy add", options, members.inv(user=42, admin=True))


async def test_an_added_file_is_stored_exactly_listed_shown_and_scanned_at_its_version(
    service: CommandService, members: Members, analyzer: FakeAnalyzer
) -> None:
    """A valid file appends strategy_added with the key (the file's name without .yaml), the
    exact text and its SHA-256; /strategies lists it with v1 and who added it; /analyze scans
    that exact text and the scan names the key, the label and the hash."""
    reply = await add(service, members)
    assert reply.ok, reply.description
    added = [e for e in events(service) if isinstance(e, StrategyAdded)]
    digest = hashlib.sha256(CROSS).hexdigest()
    assert added == [
        StrategyAdded(
            guild_id=100, key="my_cross", version=1, yaml_text=CROSS.decode(), sha256=digest,
            added_by=42, replaced_shipped=False,
        )
    ]  # fmt: skip
    listed = await service.execute("strategies", {}, members.inv())
    text = "\n".join(p.description for p in (listed, *listed.pages))
    assert "**my_cross** v1 (this server's, added by <@42>" in text
    assert "**rsi_flow**" in text  # the shipped ones stay
    scanned = await service.execute(
        "analyze", {"strategy": "my_cross", "symbols": "AAPL"}, members.inv()
    )
    assert scanned.ok
    assert scanned.title.startswith("my_cross v1:")
    scan = next(e for e in events(service) if isinstance(e, SignalsGenerated))
    assert (scan.strategy_name, scan.strategy_hash, scan.strategy_version) == (
        "my_cross",
        digest,
        "v1",
    )


async def test_adding_a_key_again_makes_a_new_version_and_past_scans_keep_theirs(
    service: CommandService, members: Members
) -> None:
    """A second file under the same key is v2: scans use it, /strategy show version:1 still shows
    v1 (with its file), and the scan made with v1 keeps naming v1's hash."""
    assert (await add(service, members)).ok
    await service.execute("analyze", {"strategy": "my_cross", "symbols": "AAPL"}, members.inv())
    changed = CROSS.replace(b"rsi_14 < 70", b"rsi_14 < 65").replace(b"value: 70", b"value: 65")
    assert changed != CROSS
    assert (await add(service, members, upload(changed))).ok
    await service.execute("analyze", {"strategy": "my_cross", "symbols": "AAPL"}, members.inv())
    scans = [e for e in events(service) if isinstance(e, SignalsGenerated)]
    assert [(s.strategy_version, s.strategy_hash) for s in scans] == [
        ("v1", hashlib.sha256(CROSS).hexdigest()),
        ("v2", hashlib.sha256(changed).hexdigest()),
    ]
    old = await service.execute("strategy show", {"name": "my_cross", "version": 1}, members.inv())
    assert old.ok
    assert old.title == "Strategy my_cross v1 (older)"
    assert old.attachments[0].data == CROSS
    latest = await service.execute("strategy show", {"name": "my_cross"}, members.inv())
    assert latest.title == "Strategy my_cross v2 (latest)"
    none = await service.execute("strategy show", {"name": "my_cross", "version": 3}, members.inv())
    assert not none.ok
    assert "versions 1 to 2" in none.description
    shipped = await service.execute(
        "strategy show", {"name": "rsi_flow", "version": 1}, members.inv()
    )
    assert "only this server's own strategies have versions" in shipped.description
    same = await add(service, members, upload(changed))
    assert not same.ok
    assert "exactly this text already" in same.description


async def test_a_shipped_key_is_shadowed_only_with_replace_and_never_removed(
    service: CommandService, members: Members, analyzer: FakeAnalyzer
) -> None:
    """golden_cross is shipped (by the fake): adding that key is refused unless replace:true;
    then the server's version is what it scans; removing it brings the shipped one back; a
    shipped strategy cannot be removed."""
    refused = await add(service, members, upload(filename="golden_cross.yaml"))
    assert not refused.ok
    assert "replace:true" in refused.description
    assert (await add(service, members, upload(filename="golden_cross.yaml"), replace=True)).ok
    assert [e.replaced_shipped for e in events(service) if isinstance(e, StrategyAdded)] == [True]
    await service.execute("analyze", {"strategy": "golden_cross", "symbols": "AAPL"}, members.inv())
    removed = await service.execute(
        "strategy remove", {"name": "golden_cross"}, members.inv(admin=True)
    )
    assert removed.ok
    assert "shipped golden_cross is used again" in removed.description
    await service.execute("analyze", {"strategy": "golden_cross", "symbols": "AAPL"}, members.inv())
    scans = [e for e in events(service) if isinstance(e, SignalsGenerated)]
    assert [s.strategy_version for s in scans] == ["v1", ""]  # the server's, then the shipped
    shipped = await service.execute(
        "strategy remove", {"name": "rsi_flow"}, members.inv(admin=True)
    )
    assert not shipped.ok
    assert "shipped strategies cannot be removed" in shipped.description


async def test_removal_hides_the_key_and_past_scans_keep_naming_their_version(
    service: CommandService, members: Members
) -> None:
    """strategy_removed hides the key from /analyze and autocomplete; the scan made before keeps
    its key, label and hash in the journal."""
    assert (await add(service, members)).ok
    await service.execute("analyze", {"strategy": "my_cross", "symbols": "AAPL"}, members.inv())
    removed = await service.execute(
        "strategy remove", {"name": "my_cross"}, members.inv(admin=True)
    )
    assert removed.ok
    assert StrategyRemoved(guild_id=100, key="my_cross", removed_by=1) in events(service)
    gone = await service.execute("analyze", {"strategy": "my_cross"}, members.inv())
    assert not gone.ok
    assert "Unknown strategy my\\_cross" in gone.description
    assert "my_cross" not in await service.autocomplete("strategy", "", members.inv())
    scan = next(e for e in events(service) if isinstance(e, SignalsGenerated))
    assert (scan.strategy_name, scan.strategy_version) == ("my_cross", "v1")


async def test_managing_needs_manage_server_unless_the_server_opens_add(
    service: CommandService, members: Members
) -> None:
    """A member without Manage Server cannot add, remove or change the setting; once a manager
    opens adding (strategy_library_configured), any member may add, still not remove."""
    member = {"file": upload()}
    refused = await service.execute("strategy add", member, members.inv(user=7))
    assert not refused.ok
    assert "Manage Server" in refused.description
    assert not (
        await service.execute("strategy settings", {"open_add": "true"}, members.inv(user=7))
    ).ok
    opened = await service.execute(
        "strategy settings", {"open_add": "true"}, members.inv(admin=True)
    )
    assert opened.ok
    assert StrategyLibraryConfigured(guild_id=100, open_add=True, changed_by=1) in events(service)
    assert (await service.execute("strategy add", member, members.inv(user=7))).ok
    assert not (
        await service.execute("strategy remove", {"name": "my_cross"}, members.inv(user=7))
    ).ok
    other = await service.execute("strategy add", member, members.inv(user=7, guild=200))
    assert not other.ok  # the setting is per server


async def test_autocomplete_lists_the_servers_own_and_never_another_servers(
    service: CommandService, members: Members
) -> None:
    """Guild 100's key is offered to guild 100 and not to guild 200; both see the shipped ones;
    another server cannot run it."""
    assert (await add(service, members)).ok
    assert await service.autocomplete("strategy", "cross", members.inv()) == [
        "golden_cross", "my_cross"
    ]  # fmt: skip
    assert await service.autocomplete("strategy", "cross", members.inv(guild=200)) == [
        "golden_cross"
    ]
    elsewhere = await service.execute(
        "analyze", {"strategy": "my_cross", "symbols": "AAPL"}, members.inv(guild=200)
    )
    assert not elsewhere.ok
    assert "Unknown strategy my\\_cross" in elsewhere.description


async def test_schedule_log_trade_and_daily_run_take_the_servers_strategy(
    service: CommandService, members: Members
) -> None:
    """/schedule set strategy:<server key> is accepted and /schedule run scans its latest
    version; a trade logged from a pick of that scan follows the server's key."""
    assert (await add(service, members)).ok
    await service.execute("watchlist add", {"symbols": "AAPL"}, members.inv())
    assert (
        await service.execute("schedule set", {"strategy": "my_cross"}, members.inv(admin=True))
    ).ok
    run = await service.execute("schedule run", {}, members.inv(admin=True))
    assert run.ok, run.description
    assert run.title.endswith("my_cross v1")
    scan = next(e for e in events(service) if isinstance(e, SignalsGenerated))
    assert (scan.strategy_name, scan.strategy_version) == ("my_cross", "v1")
    assert scan.strategy_hash == hashlib.sha256(CROSS).hexdigest()
    opened = await service.execute(
        "trade open",
        {"symbol": "AAPL", "direction": "long", "entry": "100", "size": "1",
         "signal": f"{scan.scan_id}:AAPL"},
        members.inv(),
    )  # fmt: skip
    assert opened.ok, opened.description
    trade = next(e for e in events(service) if isinstance(e, TradeOpened))
    assert trade.strategy == "my_cross"


@pytest.mark.parametrize("name", sorted(OLD_FILES))
async def test_each_old_strategy_file_is_accepted_unchanged(
    service: CommandService, members: Members, name: str
) -> None:
    """The six files of the old tool are valid as they are; the key is the file's name."""
    data = OLD_FILES[name]
    stem = name.removesuffix(".yaml")
    # The fake analyzer ships a golden_cross of its own: that one is added in its place.
    shadows = {"replace": True} if stem == "golden_cross" else {}
    reply = await add(service, members, upload(data, name), **shadows)
    assert reply.ok, reply.description
    (added,) = [e for e in events(service) if isinstance(e, StrategyAdded)]
    assert (added.key, added.yaml_text.encode()) == (stem, data)


BAD_SCHEMA = b"""strategy: {name: x}
indicators:
  - {name: rsi, type: RSI, extra: 1}
  - {name: foo, type: FOO}
entry:
  conditions:
    - {type: indicator_threshold, indicator: rsi, operator: lt, value: [1]}
    - {type: indicator_threshold, indicator: rsi, operator: "~~", value: 3}
exit:
  stop_loss: {type: percentage, value: "x"}
risk: {max_positions: "many"}
"""


@pytest.mark.parametrize(
    ("file", "opts", "expected"),
    [
        (upload(b"strategy: [unclosed\n  - x: :"), {}, ["invalid YAML"]),
        (upload(b"", size=64 * 1024 + 1), {}, ["65,537 bytes", "at most 65,536"]),
        (upload(b"x" * (64 * 1024 + 1)), {}, ["65,537 bytes"]),
        (upload(content_type="image/png"), {}, ["not a text file (image/png)"]),
        (upload(b"strategy:\x00"), {}, ["not a text file (it holds NUL bytes)"]),
        (upload(b"\xff\xfe name"), {}, ["not a text file (not UTF-8)"]),
        (upload(filename="Golden Cross.yaml"), {}, ["autocomplete", "name:golden_cross"]),
        (upload(), {"name": "my/cross"}, ["autocomplete"]),
        (Upload(filename="x.yaml", problem="no such file"), {}, ["Cannot read x.yaml: no such"]),
        ("./x.yaml", {}, ["file must be an attached file"]),
        (
            upload(BAD_SCHEMA, "bad.yaml"),
            {},
            [
                "bad.yaml: indicators[0].extra: unknown field",
                "bad.yaml: entry.conditions[0].value: expected `float | str`, got `array`",
                "bad.yaml: exit.stop_loss.value: expected `float | null`, got `str`",
                "bad.yaml: risk.max_positions: expected `int | null`, got `str`",
            ],
        ),
        (
            upload(BAD_SCHEMA.replace(b", extra: 1", b"").replace(b"value: [1]", b"value: 1")
                   .replace(b'value: "x"', b"value: 5").replace(b'"many"', b"3"), "bad.yaml"),
            {},
            [
                "bad.yaml: indicators[1].type: unknown indicator type 'FOO'",
                "bad.yaml: entry.conditions[1].operator: unknown operator '~~'",
            ],
        ),
    ],
    ids=["not-yaml", "declared-too-big", "too-big", "image", "nul", "not-utf8", "key-space",
         "key-slash", "unreadable", "text-not-file", "schema-every-error", "indicator-operator"],
)  # fmt: skip
async def test_bad_input_names_the_problem_and_appends_only_the_audit(
    service: CommandService,
    members: Members,
    file: object,
    opts: dict[str, object],
    expected: list[str],
) -> None:
    """Each bad file is refused with a message naming the problem (every schema problem, one
    line each as file: field.path: problem) and only a rejected command_handled is appended."""
    reply = await service.execute(
        "strategy add", {"file": file, **opts}, members.inv(user=42, admin=True)
    )
    assert not reply.ok
    shown = reply.description.replace("\\", "")  # as read: without Markdown's escapes
    for part in expected:
        assert part in shown, shown
    stored = events(service)
    assert len(stored) == 1
    assert isinstance(stored[0], CommandHandled)
    assert stored[0].outcome == "rejected"
