"""Which shard a Discord server belongs to, and whether this replica runs it.

Discord's rule (https://discord.com/developers/docs/topics/gateway#sharding): a guild's events go
to the session of shard ``(guild_id >> 22) % shard_count``. A sharded replica runs some of the
shards (``IBPICKER_SHARDS`` / ``IBPICKER_SHARD_IDS``), so the work it starts on its own (the daily
run) is for the servers of those shards only; the journal decides the rest. A leaf: no imports.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["owns_guild", "shard_of"]


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard whose gateway session receives ``guild_id``'s events, out of ``shard_count``."""
    if shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, not {shard_count}")
    return (guild_id >> 22) % shard_count


def owns_guild(guild_id: int, shard_count: int | None, shard_ids: Collection[int] | None) -> bool:
    """Whether a replica running ``shard_ids`` of ``shard_count`` shards owns ``guild_id``.
    Unsharded (``shard_count`` ``None``), the one replica owns every server; ``shard_ids``
    ``None`` with a count means every shard."""
    if shard_count is None:
        return True
    return shard_ids is None or shard_of(guild_id, shard_count) in shard_ids
