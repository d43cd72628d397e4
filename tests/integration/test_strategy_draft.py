"""``/strategy draft`` through the real command service, the real Anthropic client and its local
stand-in (``tests.support.anthropic_standin``): the draft, the second request after an invalid
answer, each provider failure, the limits, the feature switched off, the key kept secret, and the
round trip draft → Save → ``/analyze``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from commands.core.claude import ClaudeDrafter, DraftRateLimits
from commands.core.models import Invocation, Reply
from commands.core.ports import Drafting
from commands.core.service import CommandService
from commands.strategies.draft_prompt import system_prompt, tool_schema
from commands.wiring import close_service, open_default_service
from events.analysis import SignalsGenerated
from events.base import Event
from events.strategies import StrategyAdded, StrategyDrafted
from fetchers.anthropic import AnthropicClient
from fetchers.http import HttpSession
from fetchers.service import market_data_from_keys
from tests.e2e.bot_harness import START, WATCHLIST
from tests.support.anthropic_standin import (
    OVERLOADED,
    SERVER_ERROR,
    STANDIN_MODEL,
    AnthropicStandIn,
    rate_limited,
    refusal_reply,
    tool_use_reply,
)
from tests.support.clocks import FakeTime
from tests.support.providers import Reply as Answer
from tests.support.providers import retry_policy

KEY = "sk-ant-api03-draft-secret-7f3a9c2e"
GUILD, OTHER_GUILD = 7001, 7002
MEMBER, OTHER_MEMBER, THIRD_MEMBER = 501, 502, 503
DESCRIPTION = "buy when RSI(2) crosses below 10, or the low is under the 30-day lower band"
SHIPPED = Path(__file__).parents[2] / "analysis" / "strategies" / "rsi2_dip_any.yaml"


def valid_input() -> dict[str, Any]:
    """A tool input that validates: a shipped strategy, as Claude would send it, renamed."""
    spec: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    spec["strategy"]["name"] = "RSI(2) Dip drafted"
    return spec


def invalid_input() -> dict[str, Any]:
    """A tool input with two problems: an unknown indicator type and an unknown operator."""
    spec = valid_input()
    spec["indicators"][0]["type"] = "RSX"
    spec["entry"]["conditions"][0]["operator"] = "below"
    return spec


@dataclass
class Kit:
    """A service over a data folder with drafting on the stand-in, and its fake time."""

    service: CommandService
    claude: AnthropicStandIn
    time: FakeTime
    calls: int = 0

    async def run(
        self,
        command: str,
        options: dict[str, object] | None = None,
        *,
        user: int = MEMBER,
        guild: int = GUILD,
        admin: bool = True,
    ) -> tuple[str, Reply]:
        """Run ``command`` as ``user``; its command id and reply."""
        self.calls += 1
        command_id = f"cmd-{self.calls}"
        inv = Invocation(command_id=command_id, guild_id=guild, user_id=user, is_admin=admin)
        return command_id, await self.service.execute(command, options or {}, inv)

    async def draft(self, **kwargs: Any) -> tuple[str, Reply]:
        """``/strategy draft`` with the usual description."""
        return await self.run("strategy draft", {"description": DESCRIPTION}, **kwargs)

    def events(self, kind: type[Event]) -> list[Any]:
        """Every event of ``kind`` in the journal, in order."""
        return [
            e.event
            for page in self.service.journal.read()
            for e in page
            if isinstance(e.event, kind)
        ]


@pytest.fixture
async def claude() -> AsyncIterator[AnthropicStandIn]:
    """The Messages stand-in, insisting on ``KEY``."""
    async with AnthropicStandIn(KEY) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[HttpSession]:
    """The shared HTTP session."""
    async with HttpSession() as session:
        yield session


def drafting_on(
    http: HttpSession, claude: AnthropicStandIn, time: FakeTime, *, timeout: float = 30.0
) -> Drafting:
    """The real client on the stand-in (instant backoff on ``time``), 2 drafts a member per hour,
    3 a server per day."""
    client = AnthropicClient(
        http, KEY, base_url=claude.base_url, timeout=timeout, policy=retry_policy(time)
    )
    return Drafting(ClaudeDrafter(client), DraftRateLimits(per_member=2, per_server=3))


@pytest.fixture
def kit_for(tmp_path: Path, http: HttpSession, claude: AnthropicStandIn) -> Iterator[Any]:
    """Build a ``Kit`` (``drafting=False``: the feature off; ``timeout``: the client's bound)."""
    opened: list[CommandService] = []

    def build(*, drafting: bool = True, timeout: float = 30.0) -> Kit:
        time = FakeTime(START)
        market = market_data_from_keys(http, uw_api_key=None, finnhub_api_key=None, clock=time)
        service = open_default_service(
            tmp_path / f"data-{len(opened)}", market, clock=time,
            drafting=drafting_on(http, claude, time, timeout=timeout) if drafting else None,
        )  # fmt: skip
        opened.append(service)
        return Kit(service, claude, time)

    yield build
    for service in opened:
        close_service(service)


@pytest.fixture
def kit(kit_for: Any) -> Kit:
    """A kit with drafting on."""
    built: Kit = kit_for()
    return built


async def test_a_tool_use_answer_becomes_a_valid_draft_with_save_and_try_it(kit: Kit) -> None:
    """One forced tool call (schema from the strategy format, the format's instructions) gives a
    valid draft: its YAML, what it means, Save, Try it and Backtest, and one strategy_drafted
    event."""
    kit.claude.answer(tool_use_reply(valid_input(), name="strategy_file"))
    command_id, reply = await kit.draft()
    assert reply.ok, reply
    assert reply.title == "Draft: RSI(2) Dip drafted"
    assert "```yaml" in reply.description
    meaning = {n: v for n, v, _ in reply.fields}["What it means"].replace("\\", "")
    assert "rsi_2 cross_below 10" in meaning  # the Markdown escapes removed
    assert [b.label for b in reply.buttons] == ["Save", "Try it", "Backtest"]
    assert {b.custom_id for b in reply.buttons} == {
        f"ibpicker:draft-save:{command_id}", f"ibpicker:draft-try:{command_id}",
        f"ibpicker:backtest:draft:{command_id}",
    }  # fmt: skip
    sent = kit.claude.sent()[0]
    assert sent["tools"][0]["input_schema"] == tool_schema()
    assert sent["tool_choice"] == {"type": "tool", "name": "strategy_file"}
    assert sent["system"] == system_prompt()
    assert DESCRIPTION in sent["messages"][0]["content"]
    [drafted] = kit.events(StrategyDrafted)
    assert (drafted.valid, drafted.attempts, drafted.errors) == (True, 1, [])
    assert (drafted.model, drafted.input_tokens, drafted.output_tokens) == (
        STANDIN_MODEL,
        1200,
        340,
    )
    assert (drafted.guild_id, drafted.member_id, drafted.description) == (
        GUILD,
        MEMBER,
        DESCRIPTION,
    )
    assert yaml.safe_load(drafted.yaml_text)["strategy"]["name"] == "RSI(2) Dip drafted"
    assert reply.attachments[0].data.decode() == drafted.yaml_text


async def test_an_invalid_draft_is_asked_once_more_with_every_problem(kit: Kit) -> None:
    """An answer that fails the schema is answered with an is_error tool_result listing each
    problem (field path and valid choices); the valid second answer is the draft."""
    kit.claude.answer(
        tool_use_reply(invalid_input(), name="strategy_file", call_id="toolu_a"),
        tool_use_reply(valid_input(), name="strategy_file", call_id="toolu_b"),
    )
    _, reply = await kit.draft()
    assert reply.ok, reply
    assert [b.label for b in reply.buttons] == ["Save", "Try it", "Backtest"]
    follow_up = kit.claude.sent()[1]["messages"]
    assert follow_up[1]["content"][0]["id"] == "toolu_a"
    result = follow_up[2]["content"][0]
    assert result["tool_use_id"] == "toolu_a"
    assert result["is_error"] is True
    assert "indicators[0].type" in result["content"]
    assert "entry.conditions[0].operator" in result["content"]
    [drafted] = kit.events(StrategyDrafted)
    assert (drafted.valid, drafted.attempts, drafted.errors) == (True, 2, [])
    assert (drafted.input_tokens, drafted.output_tokens) == (2400, 680)


async def test_a_draft_invalid_twice_is_recorded_with_its_errors_and_cannot_be_saved(
    kit: Kit,
) -> None:
    """Two invalid answers: the reply shows the problems and no Save; the event says invalid,
    with the errors; /strategy save of it is refused and adds nothing."""
    kit.claude.answer_always(tool_use_reply(invalid_input(), name="strategy_file"))
    command_id, reply = await kit.draft()
    assert reply.partial
    assert not reply.buttons
    problems = {n: v for n, v, _ in reply.fields}["Problems"].replace("\\", "")
    assert "draft.yaml: indicators[0].type: unknown indicator type 'RSX'" in problems
    [drafted] = kit.events(StrategyDrafted)
    assert not drafted.valid
    assert drafted.attempts == 2
    assert any("entry.conditions[0].operator" in e for e in drafted.errors)
    _, saved = await kit.run("strategy save", {"draft": command_id})
    assert not saved.ok
    assert "did not validate" in saved.description
    assert kit.events(StrategyAdded) == []


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (rate_limited("45"), "rate limited right now (Anthropic answered 429): try again in 45 s"),
        (OVERLOADED, "overloaded right now (Anthropic answered 529)"),
        (SERVER_ERROR, "Anthropic's service failed (a server or network error)"),
        (Answer(body=refusal_reply()), "Claude declined to draft this strategy"),
    ],
    ids=["429", "529", "500", "refusal"],
)
async def test_each_provider_failure_is_a_clear_message_and_records_no_draft(
    kit: Kit, answer: Answer, says: str
) -> None:
    """429 (with retry-after), 529, 5xx and a refusal each end in a message saying what happened
    and when to try again; only the audit event is appended."""
    kit.claude.answer_always(answer)
    _, reply = await kit.draft()
    assert not reply.ok
    assert says in reply.description
    assert kit.events(StrategyDrafted) == []


async def test_a_slow_answer_ends_at_the_timeout_with_a_clear_message(kit_for: Any) -> None:
    """An answer slower than the client's timeout (pinned at 0.3 s) is cut off: a message, no
    draft, no hang."""
    kit: Kit = kit_for(timeout=0.3)
    kit.claude.answer_always(Answer(body=tool_use_reply(valid_input()), delay=5.0))
    _, reply = await kit.draft()
    assert not reply.ok
    assert "Claude gave no answer within 0.3 s" in reply.description
    assert kit.events(StrategyDrafted) == []


async def test_member_and_server_limits_refuse_with_when_to_try_again(kit: Kit) -> None:
    """2 drafts a member per hour and 3 a server per day, decided at the service's clock: the
    refusal names the limit and the time it lifts, and asks Claude nothing."""
    kit.claude.answer_always(tool_use_reply(valid_input(), name="strategy_file"))
    assert (await kit.draft())[1].ok
    kit.time.advance(timedelta(minutes=10))
    assert (await kit.draft())[1].ok
    _, third = await kit.draft()
    assert not third.ok
    assert third.description == (
        "You have asked for 2 drafts in the last hour, the most allowed (drafts cost money): "
        "try again in 50 min (at 2025-03-10 14:00 UTC)."
    )
    assert (await kit.draft(user=OTHER_MEMBER))[1].ok
    _, server = await kit.draft(user=THIRD_MEMBER)
    assert server.description.startswith("This server has asked for 3 drafts in the last day")
    assert "(at 2025-03-11 13:00 UTC)" in server.description
    assert (await kit.draft(guild=OTHER_GUILD))[1].ok
    kit.time.advance(timedelta(days=1))
    assert (await kit.draft())[1].ok
    assert len(kit.claude.sent()) == 5
    assert len(kit.events(StrategyDrafted)) == 5


async def test_without_a_key_drafting_is_off_and_says_how_to_turn_it_on(kit_for: Any) -> None:
    """No drafting port: the command says the feature is off and names the secret and the
    variable; /about names the feature and its state; nothing is asked."""
    off: Kit = kit_for(drafting=False)
    _, reply = await off.draft()
    assert not reply.ok
    assert "Strategy drafting with Claude is off" in reply.description
    assert "anthropic-api-key" in reply.description
    assert "ANTHROPIC_API_KEY" in reply.description
    _, about = await off.run("about")
    fields = {n: v for n, v, _ in about.fields}
    assert fields["Strategy drafting with Claude"].startswith("off")
    assert "AI commentary" not in msgspec.json.encode(about).decode()
    on: Kit = kit_for()
    _, about_on = await on.run("about")
    assert {n: v for n, v, _ in about_on.fields}["Strategy drafting with Claude"].startswith("on")
    assert off.claude.requests == []


def every_file(folder: Path) -> bytes:
    """The bytes of every file under ``folder`` (the journal, the analytics, the console's)."""
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


async def test_the_key_never_appears_in_the_journal_logs_replies_or_reprs(
    kit: Kit, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """After a draft, a retry and every failure, the key is nowhere: not in the journal file nor
    any event, not in the logs, the replies, or the reprs of the drafting parts."""
    caplog.set_level(logging.DEBUG)
    kit.claude.answer(
        SERVER_ERROR,
        tool_use_reply(invalid_input(), name="strategy_file"),
        tool_use_reply(valid_input(), name="strategy_file"),
    )
    replies = [(await kit.draft())[1]]
    for failure in (rate_limited("5"), OVERLOADED, Answer(body=refusal_reply())):
        kit.claude.answer_always(failure)
        replies.append((await kit.draft(user=OTHER_MEMBER, guild=OTHER_GUILD))[1])
        kit.time.advance(timedelta(days=1))
    assert kit.claude.requests, "the stand-in was asked"
    assert all(r.headers.get("x-api-key") == KEY for r in kit.claude.requests)
    await kit.service.flush_analytics_soon()
    files = every_file(tmp_path)
    events = [msgspec.json.encode(e.event) for page in kit.service.journal.read() for e in page]
    drafting = kit.service.drafting
    assert drafting is not None
    texts = [
        *(msgspec.json.encode(r).decode() for r in replies),
        caplog.text,
        repr(drafting),
        repr(drafting.drafter),
        repr(drafting.limits),
        repr(kit.service),
    ]
    assert KEY.encode() not in files
    assert not any(KEY.encode() in e for e in events)
    assert not any(KEY in t for t in texts)
    assert any(isinstance(e, StrategyDrafted) for page in kit.service.journal.read()
               for e in (x.event for x in page))  # fmt: skip


async def prepared(kit: Kit) -> None:
    """Sample bars and flows of the watchlist fetched at ``START``, and the server's watchlist."""
    symbols = ",".join(WATCHLIST)
    for name in ("fetch stocks", "fetch flows", "watchlist add"):
        assert (await kit.run(name, {"symbols": symbols}))[1].ok


async def test_draft_save_then_analyze_runs_the_saved_strategy(kit: Kit) -> None:
    """The round trip: a draft, Save (strategy_added with its exact text and hash), then
    /analyze strategy:<key> scans with that version and finds what the text finds."""
    await prepared(kit)
    kit.claude.answer(tool_use_reply(valid_input(), name="strategy_file"))
    draft_id, _ = await kit.draft()
    _, tried = await kit.run("strategy try", {"draft": draft_id})
    assert tried.ok, tried
    assert "not saved" in tried.footer
    assert kit.events(SignalsGenerated) == []
    _, saved = await kit.run("strategy save", {"draft": draft_id})
    assert saved.ok, saved
    assert saved.title == "Saved rsi_2_dip_drafted v1"
    [added] = kit.events(StrategyAdded)
    [drafted] = kit.events(StrategyDrafted)
    assert (added.key, added.version, added.yaml_text) == (
        "rsi_2_dip_drafted",
        1,
        drafted.yaml_text,
    )
    _, analyzed = await kit.run("analyze", {"strategy": "rsi_2_dip_drafted"})
    assert analyzed.ok, analyzed
    [scan] = kit.events(SignalsGenerated)
    assert scan.strategy_hash == added.sha256
    assert scan.signals, "the drafted strategy picks what the shipped one it copies picks"
    assert tried.title.endswith(f"{len(scan.signals)} pick" + ("s" * (len(scan.signals) != 1)))


async def test_a_draft_is_saved_only_on_its_own_server_and_by_who_may_add(kit: Kit) -> None:
    """Another server cannot save this server's draft; a member without Manage Server cannot
    save it (unless the server opened adding); neither appends a strategy."""
    kit.claude.answer(tool_use_reply(valid_input(), name="strategy_file"))
    draft_id, _ = await kit.draft()
    _, elsewhere = await kit.run("strategy save", {"draft": draft_id}, guild=OTHER_GUILD)
    assert not elsewhere.ok
    assert f"No draft {draft_id} on this server" in elsewhere.description
    _, member = await kit.run("strategy save", {"draft": draft_id}, admin=False)
    assert not member.ok
    assert "Manage Server" in member.description
    assert kit.events(StrategyAdded) == []
    _, named = await kit.run("strategy save", {"draft": draft_id, "name": "my_dip"})
    assert named.title == "Saved my_dip v1"
