"""What Claude is asked for a draft: the tool schema generated from the strategy format, the
instructions, the YAML written from an answer, and the draft buttons' custom ids."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from analysis.strategy import parse_strategy
from analysis.strategy_schema import INDICATOR_KINDS, OPERATORS, StrategySpec
from commands.console.console import Printer
from commands.core.models import Button, Reply
from commands.discord import views
from commands.strategies.draft import key_of, save_custom_id, try_custom_id
from commands.strategies.draft_prompt import SECTIONS, system_prompt, to_yaml, tool_schema
from tests.support.anthropic_standin import check_request
from tests.support.providers import Recorded

SHIPPED = sorted((Path(__file__).parents[4] / "analysis" / "strategies").glob("*.yaml"))


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_the_tool_schema_is_the_strategy_format_as_the_api_takes_it() -> None:
    """An object schema with every section of StrategySpec, no $ref/$defs/discriminator/title
    left, and the format's closed vocabularies as enums."""
    schema = tool_schema()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == set(StrategySpec.__struct_fields__) == set(SECTIONS)
    assert set(schema["required"]) == {"strategy", "entry"}
    assert not _keys(schema) & {"$ref", "$defs", "discriminator", "title"}
    indicator = schema["properties"]["indicators"]["items"]["properties"]["type"]
    assert indicator["enum"] == list(INDICATOR_KINDS)
    text = json.dumps(schema)
    assert all(f'"{op}"' in text for op in OPERATORS)
    tool = {"name": "strategy_file", "input_schema": schema}
    body = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
            "tools": [tool], "tool_choice": {"type": "tool", "name": "strategy_file"}}  # fmt: skip
    request = Recorded("POST", "/v1/messages", {}, {}, json.dumps(body).encode(), 0.0)
    assert check_request(request) is None, "the stand-in (as the API) accepts it"


def test_each_call_gets_its_own_copy_of_the_schema() -> None:
    """Changing one copy changes no other (the schema is cached once)."""
    first = tool_schema()
    first["properties"].clear()
    assert tool_schema()["properties"]


def test_the_instructions_name_every_indicator_and_operator() -> None:
    """The system prompt is generated from the format's tables: every kind, every operator."""
    prompt = system_prompt()
    assert all(f"- {kind}:" in prompt for kind in INDICATOR_KINDS)
    assert all(op in prompt for op in OPERATORS)
    assert "strategy_file" in prompt


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_strategy_as_a_tool_answer_writes_a_valid_file(path: Any) -> None:
    """Invariant: every shipped strategy, answered as tool input (with nulls), becomes YAML that
    validates and means the same (equal parsed spec), sections in the format's order."""
    answer: dict[str, Any] = yaml.safe_load(path.read_text())
    answer.setdefault("exit", {}).setdefault("time_exit_bars", None)  # as Claude may send
    answer.setdefault("filters", {}).setdefault("max_price", None)
    answer = {k: answer[k] for k in reversed(list(answer))}
    text = to_yaml(answer)
    assert "null" not in text
    assert list(yaml.safe_load(text)) == [k for k in SECTIONS if k in answer]
    drafted = parse_strategy(text.encode(), "draft.yaml").spec
    assert drafted == parse_strategy(path.read_bytes(), path.name).spec


def test_a_drafts_key_comes_from_its_name() -> None:
    """A saved draft's key is its name in lowercase with _ for the rest."""
    strategy = parse_strategy(SHIPPED[0].read_bytes(), "x.yaml")
    key = key_of(strategy)
    assert key == key.lower()
    assert " " not in key


def test_the_draft_buttons_run_save_and_try_with_the_draft_id() -> None:
    """Save runs /strategy save (quick), Try it /strategy try (slow, a scan); other ids none."""
    assert views.draft_action(save_custom_id("123")) == ("strategy save", {"draft": "123"}, False)
    assert views.draft_action(try_custom_id("console-ab")) == (
        "strategy try", {"draft": "console-ab"}, True
    )  # fmt: skip
    assert views.draft_action("ibpicker:logtrade:scan:AAPL") is None
    assert views.draft_action("ibpicker:draft-save:") is None


def test_the_console_prints_a_drafts_buttons_as_the_commands_they_run(tmp_path: Path) -> None:
    """The console has no buttons: Save and Try it print as /strategy save|try draft:<id>."""
    out = io.StringIO()
    printer = Printer(Console(file=out, width=200), tmp_path)
    buttons = [Button("Save", save_custom_id("console-1")), Button("Try it", try_custom_id("c-2"))]
    printer.reply(Reply(title="Draft", buttons=buttons), command_id="console-1")
    assert "[Save] /strategy save draft:console-1" in out.getvalue()
    assert "[Try it] /strategy try draft:c-2" in out.getvalue()
