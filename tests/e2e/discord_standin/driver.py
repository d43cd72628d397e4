"""The driver: what a Discord user does, as INTERACTION_CREATE events sent to the bot.

A slash command, an autocomplete, a button click and a modal submit each build the interaction
payload Discord would send (with the ``data.id`` of the command the bot registered, the member
with their permissions, and every field disnake 2.11+ requires), dispatch it on the bot's live
gateway connection and return an :class:`InteractionHandle` to await the bot's answers with.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import disnake

from .commands import ATTACHMENT, CHANNEL, MENTIONABLE, ROLE, USER, Resolved, build_options
from .errors import CommandHiddenError, CommandShapeError, StandinError
from .interactions import DEFAULT_TIMEOUT, InteractionHandle, InteractionRecord
from .limits import walk_components
from .records import RecordedFile, Reply, StoredMessage
from .server import ATTACHMENT_SIZE_LIMIT, StandinServer
from .world import (
    ADMINISTRATOR,
    BOT_PERMISSIONS,
    ChannelSpec,
    GuildSpec,
    RoleSpec,
    UserSpec,
    channel_payload,
    member_payload,
    role_payload,
    user_payload,
)


def _find_component(components: Sequence[Any], custom_id: str) -> Mapping[str, Any] | None:
    return next((c for c in walk_components(components) if c.get("custom_id") == custom_id), None)


def _modal_answer(component: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted form of one modal component, as Discord sends it back to the bot."""
    kind = int(component["type"])
    answer: dict[str, Any] = {"type": kind}
    if "id" in component:
        answer["id"] = component["id"]
    if kind == 1:
        answer["components"] = [_modal_answer(c, values) for c in component["components"]]
    elif kind == 18:
        answer["component"] = _modal_answer(component["component"], values)
    elif kind == 4:
        custom_id = component["custom_id"]
        value = str(values.get(custom_id, component.get("value") or ""))
        if component.get("required", True) and not value:
            msg = f"text input {custom_id!r} is required; pass it in values"
            raise CommandShapeError(msg)
        answer |= {"custom_id": custom_id, "value": value}
    elif "custom_id" in component:
        answer |= {
            "custom_id": component["custom_id"],
            "values": list(values.get(component["custom_id"], [])),
        }
    return answer


class DiscordStandin(StandinServer):
    """A local Discord (REST + gateway) for one application, with a driver API for tests.

    Start it with ``serve_standin`` (or :meth:`start`), run a bot against it (``run_bot``), then
    drive it: :meth:`slash`, :meth:`autocomplete`, :meth:`click`, :meth:`submit_modal`,
    :meth:`wait_for_channel_message`; read what was recorded in :attr:`requests`,
    :attr:`messages`, :attr:`interactions` and :attr:`channel_posts`.
    """

    def _resolve(self, guild: GuildSpec) -> Callable[[int, Any], tuple[str, Resolved]]:
        def resolve(kind: int, value: Any) -> tuple[str, Resolved]:
            if kind == ATTACHMENT:
                return self._uploaded(value)
            target = int(getattr(value, "id", value))
            if kind in (USER, MENTIONABLE) and target in self.world.users:
                user = self.world.users[target]
                resolved: Resolved = {"users": {str(target): user_payload(user)}}
                if target in guild.members:
                    member = member_payload(guild, user, permissions=guild.permissions_of(target))
                    del member["user"]
                    resolved["members"] = {str(target): member}
                return str(target), resolved
            if kind == CHANNEL:
                _, channel = self._guild_channel(target)
                return str(target), {"channels": {str(target): channel_payload(channel, guild.id)}}
            role: RoleSpec | None = next((r for r in guild.roles if r.id == target), None)
            if kind in (ROLE, MENTIONABLE) and role is not None:
                return str(target), {"roles": {str(target): role_payload(role)}}
            msg = f"{value!r} is no user, channel or role of guild {guild.name}"
            raise CommandShapeError(msg)

        return resolve

    def _uploaded(self, file: Any) -> tuple[str, Resolved]:
        """A file a member attaches to a slash command (a ``RecordedFile``): kept and served at
        its URL on the stand-in (``GET /attachments/<id>/<name>``), as Discord's CDN would."""
        if not isinstance(file, RecordedFile):
            msg = f"an attachment option takes a RecordedFile, not {file!r}"
            raise CommandShapeError(msg)
        attachment_id = self.ids.next()
        self._attachments[attachment_id] = file
        url = f"{self.base_url}/attachments/{attachment_id}/{file.filename}"
        payload = {
            "id": str(attachment_id), "filename": file.filename, "size": len(file.data),
            "url": url, "proxy_url": url, "content_type": file.content_type,
        }  # fmt: skip
        return str(attachment_id), {"attachments": {str(attachment_id): payload}}

    def _context(
        self,
        guild_id: int,
        user_id: int,
        channel_id: int | None,
        permissions: int | disnake.Permissions | None,
        locale: str,
    ) -> tuple[GuildSpec, UserSpec, ChannelSpec, int, dict[str, Any]]:
        guild = self.world.guilds.get(guild_id)
        if guild is None:
            msg = f"unknown guild {guild_id}"
            raise StandinError(msg)
        user = self.world.users.get(user_id)
        if user is None or user_id not in guild.members:
            msg = f"user {user_id} is not a member of guild {guild.name}"
            raise StandinError(msg)
        channel = guild.general if channel_id is None else self._guild_channel(channel_id)[1]
        if isinstance(permissions, disnake.Permissions):
            permissions = permissions.value
        perms = guild.permissions_of(user_id) if permissions is None else permissions
        base = {
            "application_id": str(self.world.application_id),
            "version": 1,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": channel_payload(channel, guild.id),
            "member": member_payload(guild, user, permissions=perms),
            "locale": locale,
            "guild_locale": "en-US",
            "app_permissions": str(BOT_PERMISSIONS),
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        return guild, user, channel, perms, base

    async def _send_interaction(
        self,
        kind: int,
        name: str,
        base: dict[str, Any],
        data: dict[str, Any],
        *,
        user_id: int,
        source: StoredMessage | None = None,
    ) -> InteractionHandle:
        # Discord sends the interaction to the session of the guild's shard only.
        conn = self.connection_for(int(base["guild_id"]))
        interaction_id = self.ids.next()
        token = "itok-" + secrets.token_urlsafe(32)
        payload = base | {"id": str(interaction_id), "type": kind, "token": token, "data": data}
        if source is not None:
            payload["message"] = json.loads(json.dumps(source.payload))
        record = InteractionRecord(
            interaction_id,
            token,
            kind,
            name,
            int(base["guild_id"]),
            int(base["channel_id"]),
            user_id,
            payload,
            source_message_id=source.id if source else None,
        )
        self.interactions[interaction_id] = record
        self._by_token[token] = record
        record.sent_at = time.perf_counter()
        await conn.dispatch("INTERACTION_CREATE", payload)
        return InteractionHandle(record, self.changes)

    def _command_data(
        self,
        guild: GuildSpec,
        command: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        *,
        perms: int,
        enforce_default_permissions: bool,
        focused: str | None = None,
    ) -> dict[str, Any]:
        name, *path = command.split()
        registered = self.commands.find(guild.id, name)
        required = registered.get("default_member_permissions")
        if (
            enforce_default_permissions
            and required is not None
            and not perms & ADMINISTRATOR
            and perms & int(required) != int(required)
        ):
            msg = f"Discord hides /{name} from this member (default_member_permissions={required})"
            raise CommandHiddenError(msg)
        data: dict[str, Any] = {"id": registered["id"], "name": name, "type": 1}
        if "guild_id" in registered:
            data["guild_id"] = registered["guild_id"]
        if options is None or isinstance(options, Mapping):
            built, resolved = build_options(
                registered, path, options or {}, self._resolve(guild), focused=focused
            )
            data["options"] = built
            if resolved:
                data["resolved"] = resolved
        else:
            # Raw Discord option structure, sent as given.
            data["options"] = [dict(o) for o in options]
        return data

    async def slash(
        self,
        guild_id: int,
        user_id: int,
        command: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        channel_id: int | None = None,
        permissions: int | disnake.Permissions | None = None,
        locale: str = "en-US",
        enforce_default_permissions: bool = True,
    ) -> InteractionHandle:
        """A member runs a slash command (INTERACTION_CREATE type 2).

        ``command`` is the name with its subcommand path (``"trade open"``). ``options`` is
        either a mapping of option name to value, typed and checked against the definition the
        bot registered, or a raw Discord option list sent as is. ``permissions`` overrides the
        member's channel permissions in the payload (default: computed from their roles).
        """
        guild, _, _, perms, base = self._context(guild_id, user_id, channel_id, permissions, locale)
        data = self._command_data(
            guild,
            command,
            options,
            perms=perms,
            enforce_default_permissions=enforce_default_permissions,
        )
        return await self._send_interaction(2, f"/{command}", base, data, user_id=user_id)

    async def autocomplete(
        self,
        guild_id: int,
        user_id: int,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """A member types into option ``focused``; returns the choices the bot offered (type 8)."""
        guild, _, _, perms, base = self._context(guild_id, user_id, channel_id, None, "en-US")
        data = self._command_data(
            guild, command, options, perms=perms, enforce_default_permissions=False, focused=focused
        )
        handle = await self._send_interaction(
            4, f"autocomplete /{command} {focused}", base, data, user_id=user_id
        )
        reply = await handle.callback(timeout)
        return reply.choices

    def message(self, which: Reply | StoredMessage | int) -> StoredMessage:
        """The stored message behind a reply, a message or a message id."""
        message_id = (
            which
            if isinstance(which, int)
            else (which.id if isinstance(which, StoredMessage) else which.message_id)
        )
        message = self.messages.get(message_id or 0)
        if message is None:
            msg = f"no message {message_id} (a reply without a message, or deleted)"
            raise StandinError(msg)
        return message

    async def click(
        self,
        which: Reply | StoredMessage | int,
        custom_id: str,
        *,
        user_id: int | None = None,
        values: Sequence[str] | None = None,
    ) -> InteractionHandle:
        """A member clicks a button (or picks ``values`` in a select) on a message (type 3).

        The member defaults to the one whose interaction created the message.
        """
        message = self.message(which)
        component = _find_component(message.payload.get("components") or [], custom_id)
        if component is None:
            msg = f"message {message.id} has no component {custom_id!r}"
            raise StandinError(msg)
        if component.get("disabled"):
            msg = f"component {custom_id!r} is disabled"
            raise StandinError(msg)
        if user_id is None:
            if message.interaction_id is None:
                raise StandinError("pass user_id: this message was not made by an interaction")
            user_id = self.interactions[message.interaction_id].user_id
        guild = self.world.guild_of_channel(message.channel_id)
        assert guild is not None
        _, _, _, _, base = self._context(guild.id, user_id, message.channel_id, None, "en-US")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = list(values)
        return await self._send_interaction(
            3, f"click {custom_id}", base, data, user_id=user_id, source=message
        )

    async def submit_modal(
        self, custom_id: str, values: Mapping[str, Any], *, user_id: int | None = None
    ) -> InteractionHandle:
        """The member submits the last modal opened with ``custom_id`` (type 5).

        ``values`` maps each text input's custom id to what the member typed.
        """
        for record in reversed(self.interactions.values()):
            modal = next(
                (r for r in record.replies if r.type == 9 and r.custom_id == custom_id), None
            )
            if modal is not None:
                break
        else:
            msg = f"no modal {custom_id!r} was opened"
            raise StandinError(msg)
        components = list(modal.body.get("components") or [])
        known = {str(c["custom_id"]) for c in walk_components(components) if "custom_id" in c}
        if unknown := set(values) - known:
            msg = f"modal {custom_id!r} has no inputs {sorted(unknown)}; it has {sorted(known)}"
            raise CommandShapeError(msg)
        answers = [_modal_answer(c, values) for c in components]
        uid = record.user_id if user_id is None else user_id
        _, _, _, _, base = self._context(record.guild_id, uid, record.channel_id, None, "en-US")
        source = self.messages.get(record.source_message_id or 0)
        return await self._send_interaction(
            5,
            f"modal {custom_id}",
            base,
            {"custom_id": custom_id, "components": answers},
            user_id=uid,
            source=source,
        )

    async def wait_for_channel_message(
        self,
        channel_id: int,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> Reply:
        """The next message the bot posts in a channel (``POST /channels/{id}/messages``).

        Each call returns the next one not yet returned for that channel.
        """

        def pick() -> Reply | None:
            posts = [p for p in self.channel_posts if p.channel_id == channel_id]
            index = self._channel_cursor.get(channel_id, 0)
            if len(posts) <= index:
                return None
            self._channel_cursor[channel_id] = index + 1
            return posts[index]

        return await self.changes.wait_until(pick, timeout, f"a message in channel {channel_id}")
