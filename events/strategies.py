"""A server's strategy library: strategies added, removed and drafted, and who may add them.

Streams: ``strategies:{guild_id}`` (added, removed, the library's settings) and
``strategy_drafts:{guild_id}`` (what Claude drafted). An added strategy keeps its full YAML text
and the SHA-256 of that text, so any version is reproducible from the journal alone; a removal
hides the key from new scans while past scans and picks keep naming the version they ran with.
"""

from __future__ import annotations

from events.base import Event


def library_stream(guild_id: int) -> str:
    """The stream of one server's strategy library."""
    return f"strategies:{guild_id}"


def drafts_stream(guild_id: int) -> str:
    """The stream of one server's strategy drafts."""
    return f"strategy_drafts:{guild_id}"


class StrategyAdded(Event, frozen=True, kw_only=True, tag="strategy_added"):
    """A server added a version of a strategy (``version`` counts from 1 per key).

    ``yaml_text`` is the file exactly as given; ``sha256`` is the hex digest of its UTF-8 bytes.
    ``replaced_shipped``: the key is also a shipped strategy's, and the member chose to shadow it.
    """

    guild_id: int
    key: str
    version: int
    yaml_text: str
    sha256: str
    added_by: int
    replaced_shipped: bool = False


class StrategyRemoved(Event, frozen=True, kw_only=True, tag="strategy_removed"):
    """A server removed its own strategy ``key`` (every version; a shipped one shows again)."""

    guild_id: int
    key: str
    removed_by: int


class StrategyDrafted(Event, frozen=True, kw_only=True, tag="strategy_drafted"):
    """Claude drafted a strategy from a member's description (saved or not).

    ``valid`` says whether ``yaml_text`` passed the schema; ``errors`` lists what did not, after
    ``attempts`` requests. The draft is not in the library until a ``strategy_added`` follows.
    """

    guild_id: int
    member_id: int
    description: str
    model: str
    input_tokens: int
    output_tokens: int
    yaml_text: str
    valid: bool
    errors: list[str] = []
    attempts: int = 1


class StrategyLibraryConfigured(
    Event, frozen=True, kw_only=True, tag="strategy_library_configured"
):
    """A server's library setting: ``open_add`` lets every member add strategies (default: only
    members with Manage Server)."""

    guild_id: int
    open_add: bool
    changed_by: int
