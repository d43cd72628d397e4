"""The Discord world the stand-in serves: snowflakes, users, guilds, roles, channels.

Ids are real time-based snowflakes (disnake derives ``created_at`` from them), and every payload
built here has the shape Discord's API v10 sends, so the real disnake client parses it unchanged.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import disnake

DISCORD_EPOCH_MS = 1_420_070_400_000
ALL_PERMISSIONS: int = disnake.Permissions.all().value
EVERYONE_PERMISSIONS: int = disnake.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    use_application_commands=True,
).value
ADMINISTRATOR: int = disnake.Permissions(administrator=True).value
MODERATOR_PERMISSIONS: int = disnake.Permissions(manage_guild=True, manage_messages=True).value
BOT_PERMISSIONS: int = EVERYONE_PERMISSIONS | disnake.Permissions(manage_messages=True).value


class SnowflakeFactory:
    """Hands out strictly increasing, time-based Discord snowflakes."""

    def __init__(self) -> None:
        self._last = 0
        self._increment = itertools.count()

    def next(self) -> int:
        """A new snowflake whose timestamp is now (or just after the previous one)."""
        now_ms = time.time_ns() // 1_000_000 - DISCORD_EPOCH_MS
        candidate = (now_ms << 22) | (1 << 17) | (next(self._increment) & 0xFFF)
        self._last = max(candidate, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, num_shards: int) -> int:
        """A new snowflake whose guild would be on ``shard_id`` of ``num_shards`` (Discord's
        ``(id >> 22) % num_shards``): its millisecond is moved on to the next that fits."""
        ms = self.next() >> 22
        ms += (shard_id - ms) % num_shards
        self._last = max((ms << 22) | (1 << 17) | (next(self._increment) & 0xFFF), self._last + 1)
        return self._last


def iso_now() -> str:
    """The current UTC time as Discord writes timestamps."""
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class UserSpec:
    """A Discord user (a member of zero or more guilds)."""

    id: int
    name: str
    bot: bool = False


@dataclass(frozen=True)
class RoleSpec:
    """A guild role with its permission bits."""

    id: int
    name: str
    permissions: int
    position: int = 0


@dataclass(frozen=True)
class ChannelSpec:
    """A guild channel (type 0 is a text channel)."""

    id: int
    name: str
    type: int = 0
    position: int = 0


@dataclass
class GuildSpec:
    """A guild: its roles (the first is @everyone, whose id is the guild id), channels, members."""

    id: int
    name: str
    owner_id: int
    roles: list[RoleSpec]
    channels: list[ChannelSpec]
    members: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def general(self) -> ChannelSpec:
        """The first text channel, where commands are typed by default."""
        return next(c for c in self.channels if c.type == 0)

    def channel(self, name: str) -> ChannelSpec:
        """The channel called ``name``."""
        return next(c for c in self.channels if c.name == name)

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions of a member, computed as Discord does (owner and admin: all)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        role_ids = {self.id, *self.members.get(user_id, ())}
        value = 0
        for role in self.roles:
            if role.id in role_ids:
                value |= role.permissions
        if value & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return value


@dataclass
class World:
    """Everything the stand-in knows: the application, its bot user, users and guilds.

    The default world has two guilds so tests can prove one server never sees another's data:
    ``guild`` (owner, ``admin`` with a Manage Server role, ``member``) and ``other_guild``
    (``member`` only besides the owner). Every user id, guild id and channel id is a snowflake.
    """

    application_id: int
    bot: UserSpec
    owner: UserSpec
    admin: UserSpec
    member: UserSpec
    guild: GuildSpec
    other_guild: GuildSpec
    users: dict[int, UserSpec] = field(default_factory=dict)
    guilds: dict[int, GuildSpec] = field(default_factory=dict)

    def user(self, user_id: int) -> UserSpec:
        """The user with this id."""
        return self.users[user_id]

    def guild_of_channel(self, channel_id: int) -> GuildSpec | None:
        """The guild holding this channel, if any."""
        for guild in self.guilds.values():
            if any(c.id == channel_id for c in guild.channels):
                return guild
        return None


GUILD_SHARDS = 2
"""The default world's guilds are on shards 0 and 1 of this many (a two-shard bot splits them)."""


def default_world(ids: SnowflakeFactory) -> World:
    """Two guilds, an owner, an admin (Manage Server), a plain member and the bot; ``guild`` on
    shard 0 and ``other_guild`` on shard 1 of ``GUILD_SHARDS``."""
    bot = UserSpec(ids.next(), "ibpicker-standin", bot=True)
    owner = UserSpec(ids.next(), "olga-owner")
    admin = UserSpec(ids.next(), "alice-admin")
    member = UserSpec(ids.next(), "bob-member")

    def make_guild(name: str, channel_names: tuple[str, ...], shard_id: int) -> GuildSpec:
        guild_id = ids.next_on_shard(shard_id, GUILD_SHARDS)
        return GuildSpec(
            id=guild_id,
            name=name,
            owner_id=owner.id,
            roles=[RoleSpec(guild_id, "@everyone", EVERYONE_PERMISSIONS)],
            channels=[
                ChannelSpec(ids.next(), channel, position=i)
                for i, channel in enumerate(channel_names)
            ],
        )

    guild = make_guild("Trading Desk", ("general", "picks"), 0)
    moderator = RoleSpec(ids.next(), "Moderator", MODERATOR_PERMISSIONS, position=1)
    guild.roles.append(moderator)
    guild.members = {owner.id: (), admin.id: (moderator.id,), member.id: (), bot.id: ()}
    other = make_guild("Other Desk", ("general",), 1)
    other.members = {owner.id: (), member.id: (), bot.id: ()}
    return World(
        application_id=bot.id,
        bot=bot,
        owner=owner,
        admin=admin,
        member=member,
        guild=guild,
        other_guild=other,
        users={u.id: u for u in (bot, owner, admin, member)},
        guilds={g.id: g for g in (guild, other)},
    )


# Payload builders: the JSON shapes of Discord API v10.


def user_payload(user: UserSpec) -> dict[str, Any]:
    """A user object."""
    return {
        "id": str(user.id),
        "username": user.name,
        "global_name": user.name,
        "discriminator": "0",
        "avatar": None,
        "bot": user.bot,
        "public_flags": 0,
    }


def role_payload(role: RoleSpec) -> dict[str, Any]:
    """A role object."""
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def channel_payload(channel: ChannelSpec, guild_id: int) -> dict[str, Any]:
    """A guild channel object."""
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "flags": 0,
    }


def member_payload(
    guild: GuildSpec, user: UserSpec, *, permissions: int | None = None
) -> dict[str, Any]:
    """A guild member object; with ``permissions`` it is the interaction form of it."""
    payload: dict[str, Any] = {
        "user": user_payload(user),
        "nick": None,
        "avatar": None,
        "roles": [str(r) for r in guild.members.get(user.id, ())],
        "joined_at": "2024-01-02T15:04:05.000000+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def guild_payload(guild: GuildSpec, world: World) -> dict[str, Any]:
    """The GUILD_CREATE payload: the guild with roles, channels and every member."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in guild.roles],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "preferred_locale": "en-US",
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "unavailable": False,
        "large": False,
        "member_count": len(guild.members),
        "joined_at": "2024-01-02T15:04:05.000000+00:00",
        "members": [member_payload(guild, world.users[uid]) for uid in guild.members],
        "channels": [channel_payload(c, guild.id) for c in guild.channels],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }
