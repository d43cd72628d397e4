"""``/strategy draft``: a strategy drafted by Claude from a member's description, and its two
buttons, "Save" (``/strategy save draft:<id>``) and "Try it" (``/strategy try draft:<id>``), and
a "Backtest" button (``/backtest strategy:draft:<id>``).

The draft (slow, deferred) asks the ``Drafter`` port (``commands.core.claude``) for the strategy
as a forced tool call whose schema is the strategy format (``draft_prompt``), writes it out as
YAML and validates it with the very checks of ``/strategy add`` (``analysis.strategy``); when it
does not validate, the same conversation is asked once more with every problem. Every answer ends
in one ``strategy_drafted`` event (description, model, token counts, the YAML, valid or not, the
problems, the requests made), so what Claude said is in the journal. Before asking, the member's
and the server's draft limits are checked at the service's clock; without a key the command says
the feature is off and how to turn it on; a provider failure is a clear message, never a hang
(the client's timeout bounds every request).

A draft is found again by the command id that drafted it (the buttons carry it), read from the
journal with the server checked, so the buttons work after a restart as "Log trade" does. Save
goes through the library's one ``add_strategy`` (Manage Server, or open add; versions; shadowing
shipped keys only with ``replace:true``). Try it scans the watchlist (or ``symbols``) with the
draft's text as a preview: the picks are shown, nothing but the audit event is appended.
Backtest runs ``/backtest`` of the draft's exact text (the strategy reference ``draft:<id>``,
``draft_text``): its ``backtest_completed`` names ``draft:<id>`` as the key and the text's
SHA-256, and repeats like any run, since a draft's text never changes.
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from analysis.errors import StrategyError
from analysis.strategy import Strategy, parse_strategy, summary_lines
from commands.core import text as tx
from commands.core.fetching import FetchProgress
from commands.core.handler import Command, Handler, Outcome, State, reject, symbols_or, watched
from commands.core.models import BLUE, GREEN, GREY, Attachment, Button, Reply, backtest_button
from commands.core.ports import Clock, DraftAnswer, Drafter, DraftUnavailableError, StrategyText
from commands.core.service import CommandService, Gather
from commands.strategies.draft_prompt import system_prompt, to_yaml, tool_schema
from commands.strategies.library import KEY_PATTERN, add_strategy
from events.analysis import SignalsGenerated
from events.base import NewEvent
from events.journal import Journal
from events.strategies import StrategyDrafted, drafts_stream

SAVE_PREFIX = "ibpicker:draft-save:"
TRY_PREFIX = "ibpicker:draft-try:"
DRAFT_REF = "draft:"
"""A strategy reference naming a draft by the command that drafted it (``draft:<command id>``):
what ``/backtest strategy:`` takes, and the key its ``backtest_completed`` records."""
DRAFT_FILE = "draft.yaml"
MIN_DESCRIPTION = 12
YAML_SHOWN = 3000
"""Characters of YAML shown in the reply (Discord's embed description takes 4,096); the whole
file is attached."""
OFF = (
    "Strategy drafting with Claude is off on this bot: no Anthropic API key is configured. "
    "To turn it on, an operator sets the `anthropic-api-key` secret in Key Vault (or, without "
    "Key Vault, the `ANTHROPIC_API_KEY` environment variable) and restarts the bot. Until "
    "then, write the YAML yourself and add it with /strategy add."
)


def save_custom_id(command_id: str) -> str:
    """The persistent id of a draft's "Save" button."""
    return SAVE_PREFIX + command_id


def try_custom_id(command_id: str) -> str:
    """The persistent id of a draft's "Try it" button."""
    return TRY_PREFIX + command_id


def draft_ref(command_id: str) -> str:
    """The strategy reference of the draft command ``command_id`` appended."""
    return DRAFT_REF + command_id


def draft_id_of(name: str) -> str | None:
    """The drafting command's id a strategy reference names (``None``: not a draft's)."""
    text = name.strip()
    if text[: len(DRAFT_REF)].lower() != DRAFT_REF or len(text) == len(DRAFT_REF):
        return None
    return text[len(DRAFT_REF) :].strip()


def ask(description: str) -> str:
    """The member's turn of the conversation."""
    return f"Draft an ibpicker strategy file for this description:\n\n{description}"


def problems_of(yaml_text: str) -> list[str]:
    """Every problem ``/strategy add`` would find in ``yaml_text`` (none: it is valid)."""
    try:
        parse_strategy(yaml_text.encode("utf-8"), DRAFT_FILE)
    except StrategyError as exc:
        return str(exc).splitlines()
    return []


async def _answer(
    drafter: Drafter, description: str, previous: DraftAnswer | None = None, problems: str = ""
) -> DraftAnswer:
    return await drafter.draft(
        ask(description),
        system=system_prompt(),
        schema=tool_schema(),
        previous=previous,
        problems=problems,
    )


async def gather_draft(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """Check the feature and the limits, ask Claude (once more when the answer does not
    validate) and put the ``strategy_drafted`` event in ``cmd.context``."""
    drafting = service.drafting
    if drafting is None:
        raise reject(OFF)
    description = str(cmd.options["description"]).strip()
    if len(description) < MIN_DESCRIPTION:
        raise reject(
            "Describe the strategy in a sentence: when to enter, when to exit, e.g. "
            '"buy when RSI(2) is below 10 above the 200-day SMA, stop 2 ATR, target 3 ATR".'
        )
    refused = drafting.limits.admit(cmd.inv.guild_id, cmd.inv.user_id, service.clock.now())
    if refused is not None:
        raise reject(refused)
    drafter = drafting.drafter
    try:
        answer = await _answer(drafter, description)
    except DraftUnavailableError as exc:
        raise reject(exc.message) from None
    answers = [answer]
    yaml_text = to_yaml(answer.spec)
    problems = problems_of(yaml_text)
    failure = ""
    if problems:
        try:
            answer = await _answer(drafter, description, answer, "\n".join(problems))
        except DraftUnavailableError as exc:
            failure = exc.message  # the first answer stands, with why there is no second
        else:
            answers.append(answer)
            yaml_text = to_yaml(answer.spec)
            problems = problems_of(yaml_text)
    drafted = StrategyDrafted(
        guild_id=cmd.inv.guild_id,
        member_id=cmd.inv.user_id,
        description=description,
        model=answer.model,
        input_tokens=sum(a.input_tokens for a in answers),
        output_tokens=sum(a.output_tokens for a in answers),
        yaml_text=yaml_text,
        valid=not problems,
        errors=problems,
        attempts=len(answers),
    )
    return msgspec.structs.replace(cmd, context={"draft": drafted, "failure": failure})


def _yaml_block(yaml_text: str) -> str:
    shown = yaml_text if len(yaml_text) <= YAML_SHOWN else yaml_text[:YAML_SHOWN] + "\n# …"
    return f"```yaml\n{shown.replace('```', '` ` `')}\n```"


def _meaning(strategy: Strategy) -> str:
    """What each part means, in words (``summary_lines`` without the file line)."""
    lines = [line for line in summary_lines(strategy) if not line.startswith("file: ")]
    return tx.escape("\n".join(lines))[:1024]


def handle_draft(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Append the draft and show it: the YAML, what it means, Save and Try it when valid."""
    drafted = cmd.context["draft"]
    assert isinstance(drafted, StrategyDrafted)
    event = NewEvent(drafts_stream(drafted.guild_id), drafted)
    cost = (
        f"{drafted.model} · {drafted.input_tokens:,} tokens in, {drafted.output_tokens:,} out · "
        f"{tx.plural(drafted.attempts, 'request')}"
    )
    files = [Attachment(DRAFT_FILE, drafted.yaml_text.encode("utf-8"), "The drafted strategy")]
    if not drafted.valid:
        failure = str(cmd.context.get("failure") or "")
        problems = "\n".join(tx.escape(p) for p in drafted.errors)[:1000]
        why = f"\n{failure}" if failure else ""
        return [event], Reply(
            title="Claude's draft did not validate",
            description=_yaml_block(drafted.yaml_text),
            fields=[
                ("Problems", problems, False),
                ("What to do", "Draft again with a more precise description, or fix the "
                 f"attached file and add it with /strategy add.{tx.escape(why)}", False),
                ("Drafted by", cost, False),
            ],
            color=GREY, partial=True, attachments=files,
        )  # fmt: skip
    strategy = parse_strategy(drafted.yaml_text.encode("utf-8"), DRAFT_FILE)
    command_id = cmd.inv.command_id
    return [event], Reply(
        title=f"Draft: {tx.escape(strategy.name)}",
        description=_yaml_block(drafted.yaml_text),
        fields=[
            ("What it means", _meaning(strategy), False),
            ("Next", f"Save adds it to this server's strategies as `{key_of(strategy)}`; "
             "Try it scans the watchlist with it first; Backtest runs it over the watchlist's "
             "stored history.", False),
            ("Drafted by", cost, False),
        ],
        color=BLUE, attachments=files,
        buttons=[
            Button(label="Save", custom_id=save_custom_id(command_id)),
            Button(label="Try it", custom_id=try_custom_id(command_id)),
            backtest_button(draft_ref(command_id)),
        ],
    )  # fmt: skip


def key_of(strategy: Strategy) -> str:
    """The key a saved draft gets unless ``name:`` says: its name in lowercase, ``_`` for the
    rest (``RSI(2) dip`` → ``rsi_2_dip``)."""
    key = re.sub(r"[^a-z0-9_-]+", "_", strategy.name.lower()).strip("_-")[:64]
    return key if KEY_PATTERN.fullmatch(key) else "drafted_strategy"


def find_draft(journal: Journal, draft_id: str, guild_id: int) -> StrategyDrafted:
    """The draft that command ``draft_id`` appended on this server; rejected otherwise."""
    span = journal.command_span(draft_id)
    if span is not None:
        for page in journal.read(span[0], span[1], tags=(StrategyDrafted.event_tag(),)):
            for envelope in page:
                found = envelope.event
                if isinstance(found, StrategyDrafted) and found.guild_id == guild_id:
                    return found
    raise reject(f"No draft {tx.escape(draft_id)} on this server: draft one with /strategy draft.")


def _valid(drafted: StrategyDrafted) -> StrategyDrafted:
    if not drafted.valid:
        raise reject(
            "That draft did not validate, so it cannot be saved, tried or backtested: draft "
            "again, or fix its YAML and add it with /strategy add."
        )
    return drafted


async def gather_saved_draft(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/strategy save``: the draft the button names, from the journal."""
    draft = await service.call(find_draft, service.journal, cmd.options["draft"], cmd.inv.guild_id)
    return msgspec.structs.replace(cmd, context={"draft": _valid(draft)})


def handle_save(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Add the draft to the server's library through ``add_strategy`` (``strategy_added``)."""
    drafted = cmd.context["draft"]
    assert isinstance(drafted, StrategyDrafted)
    strategy = parse_strategy(drafted.yaml_text.encode("utf-8"), DRAFT_FILE)
    key = str(cmd.options.get("name") or key_of(strategy)).strip().lower()
    added = add_strategy(
        state, cmd.inv, key=key, yaml_text=drafted.yaml_text,
        replace=bool(cmd.options.get("replace", False)),
    )  # fmt: skip
    return added.events, Reply(
        title=f"Saved {key} v{added.event.version}",
        description=f"{tx.escape(strategy.name)} is in this server's strategies. Run it with "
        f"`/analyze strategy:{key}`, or schedule it with `/schedule set strategy:{key}`.",
        color=GREEN,
        buttons=[backtest_button(key, added.event.version)],
    )


def draft_text(journal: Journal, draft_id: str, guild_id: int) -> StrategyText:
    """The valid draft that command ``draft_id`` appended on this server, as the analyzer takes a
    strategy's text: the key it would be saved under, version ``draft``, the exact YAML."""
    drafted = _valid(find_draft(journal, draft_id, guild_id))
    key = key_of(parse_strategy(drafted.yaml_text.encode("utf-8"), DRAFT_FILE))
    return StrategyText(key=key, version="draft", yaml_text=drafted.yaml_text)


def _try_scan(service: CommandService, cmd: Command, now: datetime) -> SignalsGenerated:
    """(On the worker) the preview scan: the draft's text over the watchlist or ``symbols``."""
    state = service.state(cmd.inv.guild_id)
    text = draft_text(service.journal, cmd.options["draft"], cmd.inv.guild_id)
    symbols = symbols_or(
        cmd, state, watched,
        refusal="The watchlist is empty: give symbols (symbols:AAPL,MSFT) or add some with "
        "/watchlist add.",
    )  # fmt: skip
    return service.analyzer.scan(
        text, symbols, guild_id=cmd.inv.guild_id, now=now,
        scan_id=f"try-{tx.short_hash(cmd.inv.command_id)}",
    )  # fmt: skip


async def gather_try(
    service: CommandService, cmd: Command, progress: FetchProgress | None
) -> Command:
    """``/strategy try``: scan with the draft (the analytics caught up first)."""
    scan = await service.call(_try_scan, service, cmd, service.clock.now())
    return msgspec.structs.replace(cmd, context={"scan": scan})


def handle_try(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Show the preview's picks; nothing is recorded but the audit event."""
    scan = cmd.context["scan"]
    assert isinstance(scan, SignalsGenerated)
    lines = [
        f"**{s.symbol}** {s.direction} @ {s.entry:,.2f}"
        + (f" · stop {s.stop_loss:,.2f}" if s.stop_loss is not None else "")
        + (f" · target {s.take_profit:,.2f}" if s.take_profit is not None else "")
        for s in scan.signals
    ]
    evaluated = len(scan.universe) - len(scan.skipped)
    if not lines:
        lines = [f"No picks: none of the {tx.plural(evaluated, 'symbol')} evaluated met the entry "
                 "conditions."]  # fmt: skip
    skipped = "\n".join(f"{k.symbol}: {tx.escape(k.reason)}" for k in scan.skipped)[:1000]
    return [], Reply(
        title=f"Try {scan.strategy_name}: {tx.plural(len(scan.signals), 'pick')}",
        description="\n".join(lines),
        fields=[("Skipped", skipped, False)] if skipped else [],
        footer=f"A preview of the draft over {tx.plural(len(scan.universe), 'symbol')}: not "
        "saved, picks not recorded. Save it to /analyze or schedule it.",
        color=GREEN if scan.signals else GREY,
    )


HANDLERS: dict[str, Handler] = {
    "strategy draft": handle_draft,
    "strategy save": handle_save,
    "strategy try": handle_try,
}
GATHERS: dict[str, Gather] = {
    "strategy draft": gather_draft,
    "strategy save": gather_saved_draft,
    "strategy try": gather_try,
}
READS_ANALYTICS = frozenset({"strategy try"})
"""Drafting's commands that read the analytics (caught up with the journal first)."""
