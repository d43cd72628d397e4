"""Discord's documented limits on what a bot sends; a breach is Discord's 400 "Invalid Form Body".

Checking them here means a reply that Discord would refuse (a 2,001-character message, a 26th
choice, a sixth action row) fails the e2e test instead of passing locally and breaking live.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

IS_COMPONENTS_V2 = 1 << 15


def _too_long(value: Any, limit: int) -> bool:
    return value is not None and len(str(value)) > limit


def walk_components(components: Sequence[Any]) -> Iterator[Mapping[str, Any]]:
    """Every component of a tree: rows, their children, labelled inputs, section accessories."""
    for component in components:
        yield component
        yield from walk_components(list(component.get("components") or []))
        if isinstance(component.get("component"), Mapping):
            yield from walk_components([component["component"]])
        if isinstance(component.get("accessory"), Mapping):
            yield component["accessory"]


def embed_problems(embeds: list[Mapping[str, Any]]) -> list[str]:
    """Problems with a message's embeds (count, per-field lengths, 6,000 characters in total)."""
    problems: list[str] = []
    if len(embeds) > 10:
        problems.append(f"{len(embeds)} embeds (max 10)")
    total = 0
    for i, embed in enumerate(embeds):
        fields = list(embed.get("fields") or [])
        footer = embed.get("footer") or {}
        author = embed.get("author") or {}
        for name, value, limit in (
            ("title", embed.get("title"), 256),
            ("description", embed.get("description"), 4096),
            ("footer.text", footer.get("text"), 2048),
            ("author.name", author.get("name"), 256),
        ):
            if _too_long(value, limit):
                problems.append(f"embeds[{i}].{name} longer than {limit}")
            total += len(str(value or ""))
        if len(fields) > 25:
            problems.append(f"embeds[{i}] has {len(fields)} fields (max 25)")
        for j, embed_field in enumerate(fields):
            if not embed_field.get("name") or _too_long(embed_field.get("name"), 256):
                problems.append(f"embeds[{i}].fields[{j}].name empty or longer than 256")
            if not embed_field.get("value") or _too_long(embed_field.get("value"), 1024):
                problems.append(f"embeds[{i}].fields[{j}].value empty or longer than 1024")
            total += len(str(embed_field.get("name") or "")) + len(
                str(embed_field.get("value") or "")
            )
    if total > 6000:
        problems.append(f"embeds hold {total} characters (max 6000)")
    return problems


def component_problems(components: list[Any], *, flags: int = 0) -> list[str]:
    """Problems with a component tree (rows, buttons per row, custom ids)."""
    problems: list[str] = []
    if not flags & IS_COMPONENTS_V2 and len(components) > 5:
        problems.append(f"{len(components)} action rows (max 5)")
    seen: set[str] = set()
    for component in walk_components(components):
        if component.get("type") == 1 and len(component.get("components") or []) > 5:
            problems.append("an action row holds more than 5 components")
        custom_id = component.get("custom_id")
        if custom_id is not None:
            if not custom_id or len(str(custom_id)) > 100:
                problems.append(f"custom_id {custom_id!r} empty or longer than 100")
            if custom_id in seen:
                problems.append(f"custom_id {custom_id!r} used twice")
            seen.add(str(custom_id))
        if component.get("type") == 2 and _too_long(component.get("label"), 80):
            problems.append(f"button label longer than 80: {component.get('label')!r}")
    return problems


def message_problems(body: Mapping[str, Any], *, n_files: int, creating: bool) -> list[str]:
    """Problems with a message body; ``creating`` also refuses an empty message."""
    problems: list[str] = []
    if _too_long(body.get("content"), 2000):
        problems.append(f"content is {len(str(body.get('content')))} characters (max 2000)")
    problems += embed_problems(list(body.get("embeds") or []))
    problems += component_problems(
        list(body.get("components") or []), flags=int(body.get("flags") or 0)
    )
    has_something = (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("poll")
        or n_files
        or body.get("sticker_ids")
    )
    if creating and not has_something:
        problems.append("cannot send an empty message")
    return problems


def choice_problems(body: Mapping[str, Any]) -> list[str]:
    """Problems with autocomplete choices (at most 25, names and values 1-100 characters)."""
    choices = list(body.get("choices") or [])
    problems = [f"{len(choices)} choices (max 25)"] if len(choices) > 25 else []
    for i, choice in enumerate(choices):
        name, value = str(choice.get("name", "")), choice.get("value")
        if not 1 <= len(name) <= 100:
            problems.append(f"choices[{i}].name must be 1-100 characters")
        if isinstance(value, str) and not 1 <= len(value) <= 100:
            problems.append(f"choices[{i}].value must be 1-100 characters")
    return problems


def modal_problems(body: Mapping[str, Any]) -> list[str]:
    """Problems with a modal (custom id, title of at most 45, 1-5 top-level components)."""
    problems: list[str] = []
    if not body.get("custom_id") or _too_long(body.get("custom_id"), 100):
        problems.append("modal custom_id empty or longer than 100")
    if not body.get("title") or _too_long(body.get("title"), 45):
        problems.append("modal title empty or longer than 45")
    n = len(body.get("components") or [])
    if not 1 <= n <= 5:
        problems.append(f"modal has {n} components (1-5)")
    problems += component_problems(list(body.get("components") or []))
    return problems
