"""The Discord stand-in: an aiohttp server on 127.0.0.1 speaking Discord's REST API and gateway.

The real, unmodified disnake client logs in, connects to the gateway, syncs its application
commands and answers interactions against it. Tests drive it as a Discord user would (a slash
command, an autocomplete, a button click, a modal submit: see ``driver.py``) and read what the
bot answered. Every
request is recorded; a request Discord would refuse gets Discord's 4xx answer and is recorded as
a failure, so the test fails with its cause. It never answers 5xx (disnake would sleep and retry).
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import disnake
from aiohttp import BodyPartReader, WSMsgType, web

from .commands import CommandRegistry
from .errors import StandinError
from .gateway import (
    HEARTBEAT,
    HEARTBEAT_ACK,
    HEARTBEAT_INTERVAL_MS,
    HELLO,
    IDENTIFY,
    INVALID_SESSION,
    PRESENCE,
    RECONNECT,
    REQUEST_MEMBERS,
    RESUME,
    VOICE_STATE,
    GatewayConnection,
    GatewaySession,
)
from .interactions import DEFAULT_TIMEOUT, Changes, InteractionRecord
from .limits import choice_problems, message_problems, modal_problems
from .records import (
    EPHEMERAL,
    LOADING,
    Failure,
    RecordedFile,
    RecordedRequest,
    Reply,
    ReplyKind,
    StoredMessage,
)
from .world import (
    ChannelSpec,
    GuildSpec,
    SnowflakeFactory,
    World,
    channel_payload,
    default_world,
    guild_payload,
    iso_now,
    member_payload,
    user_payload,
)

API = "/api/v10"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
CALLBACK_DEADLINE_S = 3.0
GUILD_MESSAGES_INTENT = 1 << 9
# Message flags a bot may set when it creates a message (others are Discord's to set).
SETTABLE_FLAGS = EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RECORD = web.RequestKey("record", RecordedRequest)


class _RejectedError(Exception):
    """Discord's own 4xx answer to a request (its JSON error code and message)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json`` (disnake compares it)."""
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )


def _invalid(problems: Sequence[str]) -> _RejectedError:
    return _RejectedError(400, 50035, "Invalid Form Body: " + "; ".join(problems))


class StandinServer:
    """Discord's REST API and gateway for one application, recording everything the bot does.

    The driver (:class:`~.driver.DiscordStandin`) adds what a user does on top of it.
    """

    def __init__(
        self, world: World | None = None, *, token: str = "standin-bot-token", shards: int = 1
    ) -> None:
        self.ids = SnowflakeFactory()
        self.world = world or default_world(self.ids)
        self.token = token
        if shards < 1:
            raise StandinError(f"shards must be at least 1, not {shards}")
        self.shards = shards
        """The shard count ``GET /gateway/bot`` recommends (a client may identify with another
        total, as on Discord; each session gets the guilds of its own ``[id, total]``)."""
        self.requests: list[RecordedRequest] = []
        self.failures: list[Failure] = []
        self.command_errors: list[str] = []
        self.commands = CommandRegistry(self.world.application_id, self.ids)
        self.messages: dict[int, StoredMessage] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.channel_posts: list[Reply] = []
        self.connections: list[GatewayConnection] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.identifies = 0
        # Discord drops an interaction that gets no callback within 3 s: slow commands must defer.
        self.callback_deadline = CALLBACK_DEADLINE_S
        self.resumes = 0
        self.changes = Changes(self.failures, self.describe_recent)
        self._by_token: dict[str, InteractionRecord] = {}
        self._attachments: dict[int, RecordedFile] = {}
        self._channel_cursor: dict[int, int] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # Lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``disnake.http.Route.BASE`` must be set to."""
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        """The gateway URL handed out by ``GET /gateway/bot`` and READY."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every gateway connection and stop listening."""
        for conn in self.connections:
            if not conn.ws.closed:
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def report(self, source: str, detail: str, error: BaseException | None = None) -> None:
        """Record a failure; every waiting driver call raises it at once."""
        self.failures.append(Failure(source, detail, error))
        self.changes.bump()

    def describe_recent(self, n: int = 15) -> str:
        """The last requests, unknown routes and bot command errors, for a timeout message."""
        lines = ["recent requests:"]
        lines += [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-n:]]
        unknown = [f"{r.method} {r.path}" for r in self.requests if not r.known]
        if unknown:
            lines.append(f"unknown routes called: {unknown}")
        if self.command_errors:
            lines.append(f"errors raised in the bot's commands: {self.command_errors}")
        live = [c for c in self.connections if c.live]
        lines.append(f"live gateway connections: {len(live)}")
        return "\n".join(lines)

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes the stand-in does not implement (answered 404)."""
        return [r for r in self.requests if not r.known]

    def requests_to(self, method: str, path_suffix: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path (after /api/v10) ends with the suffix."""
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    # HTTP plumbing

    def _add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/users/@me", self._me),
            ("GET", "/users/{user_id}", self._user),
            ("GET", "/gateway", self._gateway_info),
            ("GET", "/gateway/bot", self._gateway_info),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/applications/@me", self._application),
            ("GET", "/applications/{app}/commands", self._list_commands),
            ("PUT", "/applications/{app}/commands", self._put_commands),
            ("GET", "/applications/{app}/guilds/{guild_id}/commands", self._list_commands),
            ("PUT", "/applications/{app}/guilds/{guild_id}/commands", self._put_commands),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app}/{token}", self._followup),
            ("GET", "/webhooks/{app}/{token}/messages/{message_id}", self._webhook_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{message_id}", self._webhook_message),
            ("DELETE", "/webhooks/{app}/{token}/messages/{message_id}", self._webhook_message),
            ("GET", "/channels/{channel_id}/messages", self._channel_history),
            ("POST", "/channels/{channel_id}/messages", self._post_channel_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._channel_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._channel_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._channel_message),
            ("GET", "/channels/{channel_id}", self._channel),
            ("GET", "/guilds/{guild_id}", self._guild),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._member),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API + path, handler)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", "/{tail:.*}", self._unknown)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        at = time.perf_counter()
        body, files = await self._read_body(request)
        path = request.path.removeprefix(API)
        record = RecordedRequest(at, request.method, path, dict(request.query), body, files)
        request[RECORD] = record
        self.requests.append(record)
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else ""
        record.route = "unknown" if canonical == "/{tail}" else canonical.removeprefix(API)
        try:
            response = await handler(request)
        except _RejectedError as rejected:
            self.report(
                "rejected", f"{request.method} {path}: {rejected.status} {rejected.message}"
            )
            response = json_response(
                {"code": rejected.code, "message": rejected.message}, rejected.status
            )
        except Exception as exc:
            # A bug in the stand-in: fail the test, but answer 400 (disnake retries 5xx).
            self.report("stand-in", f"{request.method} {path} raised {exc!r}", exc)
            response = json_response({"code": 0, "message": f"stand-in error: {exc!r}"}, 400)
        record.status = response.status
        self.changes.bump()
        return response

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, tuple[RecordedFile, ...]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    data = bytes(await part.read())
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    files.append(
                        RecordedFile(part.name or "", part.filename or "", content_type, data)
                    )
            return payload, tuple(files)
        raw = await request.read()
        if not raw:
            return None, ()
        if request.content_type == "application/json":
            return json.loads(raw), ()
        return raw.decode(errors="replace"), ()

    @staticmethod
    def _body(request: web.Request) -> Any:
        record: RecordedRequest = request[RECORD]
        return record.body

    @staticmethod
    def _files(request: web.Request) -> tuple[RecordedFile, ...]:
        record: RecordedRequest = request[RECORD]
        return record.files

    def _check_app(self, request: web.Request) -> None:
        if request.match_info["app"] != str(self.world.application_id):
            raise _RejectedError(404, 10002, f"Unknown Application {request.match_info['app']}")

    # REST: identity, gateway, application commands

    async def _unknown(self, request: web.Request) -> web.Response:
        return json_response({"code": 0, "message": f"404: Not Found ({request.path})"}, 404)

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return json_response({"code": 0, "message": "401: Unauthorized"}, 401)
        return json_response(
            user_payload(self.world.bot) | {"verified": True, "mfa_enabled": False, "flags": 0}
        )

    async def _user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise _RejectedError(404, 10013, "Unknown User")
        return json_response(user_payload(user))

    async def _gateway_info(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return json_response(
            {"url": self.gateway_url, "shards": self.shards, "session_start_limit": limit}
        )

    async def _application(self, request: web.Request) -> web.Response:
        owner = user_payload(self.world.owner)
        return json_response(
            {
                "id": str(self.world.application_id),
                "name": self.world.bot.name,
                "icon": None,
                "description": "Discord stand-in application",
                "rpc_origins": [],
                "bot_public": False,
                "bot_require_code_grant": False,
                "bot": user_payload(self.world.bot),
                "owner": owner,
                "summary": "",
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "tags": [],
            }
        )

    def _scope(self, request: web.Request) -> int | None:
        self._check_app(request)
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            return None
        if int(guild_id) not in self.world.guilds:
            raise _RejectedError(403, 50001, "Missing Access")
        return int(guild_id)

    async def _list_commands(self, request: web.Request) -> web.Response:
        return json_response(self.commands.commands_in(self._scope(request)))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body = self._body(request)
        if not isinstance(body, list) or len(body) > 100:
            raise _invalid(["body must be a list of at most 100 commands"])
        return json_response(self.commands.overwrite(scope, body))

    # REST: interaction responses

    def _interaction_by_token(self, request: web.Request) -> InteractionRecord:
        self._check_app(request)
        record = self._by_token.get(request.match_info["token"])
        if record is None:
            raise _RejectedError(404, 10015, "Unknown Webhook")
        return record

    def _reply(
        self,
        kind: ReplyKind,
        body: Mapping[str, Any],
        files: tuple[RecordedFile, ...],
        request: web.Request,
        *,
        type_: int | None = None,
        message: StoredMessage | None = None,
        interaction: InteractionRecord | None = None,
    ) -> Reply:
        record: RecordedRequest = request[RECORD]
        reply = Reply(
            kind=kind,
            type=type_,
            body=body,
            files=files,
            received_at=record.at,
            message_id=message.id if message else None,
            channel_id=message.channel_id if message else None,
            snapshot=json.loads(json.dumps(message.payload)) if message else None,
            interaction_id=interaction.id if interaction else None,
        )
        if interaction is not None:
            interaction.replies.append(reply)
        return reply

    async def _callback(self, request: web.Request) -> web.Response:
        record = self.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            raise _RejectedError(404, 10062, "Unknown interaction")
        if record.acknowledged:
            raise _RejectedError(400, 40060, "Interaction has already been acknowledged.")
        if time.perf_counter() - record.sent_at > self.callback_deadline:
            late = f"Unknown interaction (no callback within {self.callback_deadline:g} s)"
            raise _RejectedError(404, 10062, late)
        body = self._body(request) or {}
        files = self._files(request)
        kind, data = int(body.get("type", 0)), dict(body.get("data") or {})
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[record.type]
        if kind not in allowed:
            raise _invalid(
                [f"callback type {kind} is not valid for interaction type {record.type}"]
            )
        if kind in (6, 7) and record.source_message_id is None:
            raise _invalid([f"callback type {kind} needs an interaction on a message"])
        message: StoredMessage | None = None
        if kind == 4:
            self._check_message(data, files, creating=True)
            message = self._create_message(record.channel_id, data, files, record, msg_type=20)
            record.original_message_id = message.id
        elif kind == 5:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            message = self._create_message(
                record.channel_id, {"flags": flags}, (), record, msg_type=20, flags=flags
            )
            record.original_message_id = message.id
        elif kind in (6, 7):
            message = self.messages[record.source_message_id]  # type: ignore[index]
            record.original_message_id = message.id
            if kind == 7:
                self._check_message(data, files, creating=False)
                self._edit_message(message, data, files)
        elif problems := {8: choice_problems, 9: modal_problems}.get(kind, lambda _: [])(data):
            raise _invalid(problems)
        record.acknowledged = True
        self._reply(
            "callback", data, files, request, type_=kind, message=message, interaction=record
        )
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        record = self._interaction_by_token(request)
        if not record.acknowledged:
            raise _RejectedError(
                404, 10015, "Unknown Webhook (followup before the interaction callback)"
            )
        body = dict(self._body(request) or {})
        files = self._files(request)
        self._check_message(body, files, creating=True)
        original = self.messages.get(record.original_message_id or 0)
        if original is not None and original.flags & LOADING:
            # Discord: the first followup after a "thinking" defer replaces the loading message.
            self._edit_message(original, body, files)
            message = original
        else:
            flags = int(body.get("flags") or 0) & SETTABLE_FLAGS
            message = self._create_message(record.channel_id, body, files, record, flags=flags)
        self._reply("followup", body, files, request, message=message, interaction=record)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(message.payload)
        return web.Response(status=204)

    async def _webhook_message(self, request: web.Request) -> web.StreamResponse:
        record = self._interaction_by_token(request)
        raw_id = request.match_info["message_id"]
        message_id = record.original_message_id if raw_id == "@original" else int(raw_id)
        message = self.messages.get(message_id or 0)
        if message is None or (raw_id != "@original" and message.interaction_id != record.id):
            raise _RejectedError(404, 10008, "Unknown Message")
        if (deleted := self._delete_or_edit(request, message)) is not None:
            return deleted
        if request.method == "PATCH":
            body, files = dict(self._body(request)), self._files(request)
            kind: ReplyKind = "edit" if raw_id == "@original" else "followup"
            self._reply(kind, body, files, request, message=message, interaction=record)
        return json_response(message.payload)

    # REST: channels, guilds, attachments

    def _guild_channel(self, channel_id: int) -> tuple[GuildSpec, ChannelSpec]:
        guild = self.world.guild_of_channel(channel_id)
        if guild is None:
            raise _RejectedError(404, 10003, "Unknown Channel")
        return guild, next(c for c in guild.channels if c.id == channel_id)

    async def _post_channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        guild, _ = self._guild_channel(channel_id)
        body = dict(self._body(request) or {})
        files = self._files(request)
        self._check_message(body, files, creating=True)
        flags = int(body.get("flags") or 0) & (SETTABLE_FLAGS & ~EPHEMERAL)
        message = self._create_message(channel_id, body, files, None, flags=flags)
        self.channel_posts.append(
            self._reply("channel_message", body, files, request, message=message)
        )
        conn = self._live_connection(guild.id)
        if (
            conn is not None
            and conn.session is not None
            and conn.session.intents & GUILD_MESSAGES_INTENT
        ):
            member = member_payload(guild, self.world.bot)
            del member["user"]
            await conn.dispatch(
                "MESSAGE_CREATE", message.payload | {"guild_id": str(guild.id), "member": member}
            )
        return json_response(message.payload)

    async def _channel_history(self, request: web.Request) -> web.Response:
        """``GET /channels/{id}/messages``: Discord's "Get Channel Messages".

        As Discord: ``limit`` 1-100 (default 50); at most one of ``around``, ``before``,
        ``after``; newest first whatever the anchor (``after`` gives the ``limit`` oldest
        messages after it, ``around`` up to ``limit // 2`` on each side plus the anchor itself);
        403 Missing Access without View Channel, and no messages without Read Message History.
        Ephemeral replies are nobody's channel history.
        """
        channel_id = int(request.match_info["channel_id"])
        guild, _ = self._guild_channel(channel_id)
        query = request.query
        problems = []
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            problems.append(f"limit: must be an integer from 1 to 100, got {query.get('limit')!r}")
        anchors = {k: query[k] for k in ("around", "before", "after") if k in query}
        if len(anchors) > 1:
            problems.append(
                f"only one of around, before, after may be given, got {sorted(anchors)}"
            )
        if any(not v.isdigit() for v in anchors.values()):
            problems.append(f"around, before and after must be snowflakes, got {anchors}")
        if problems:
            raise _invalid(problems)
        perms = disnake.Permissions(guild.permissions_of(self.world.bot.id))
        if not perms.view_channel:
            raise _RejectedError(403, 50001, "Missing Access")
        if not perms.read_message_history:
            return json_response([])
        ids = sorted(
            m.id
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.flags & EPHEMERAL
        )
        kind, anchor = next(iter(anchors.items()), ("", "0"))
        at = int(anchor)
        if kind == "after":
            picked = [i for i in ids if i > at][:limit]
        elif kind == "before":
            picked = [i for i in ids if i < at][-limit:]
        elif kind == "around":
            side = limit // 2
            older = [i for i in ids if i < at][-side:] if side else []
            picked = [*older, *(i for i in ids if i == at), *[i for i in ids if i > at][:side]]
        else:
            picked = ids[-limit:]
        return json_response([self.messages[i].payload for i in reversed(picked)])

    async def _channel_message(self, request: web.Request) -> web.StreamResponse:
        channel_id = int(request.match_info["channel_id"])
        self._guild_channel(channel_id)
        message = self.messages.get(int(request.match_info["message_id"]))
        if message is None or message.channel_id != channel_id or message.flags & EPHEMERAL:
            raise _RejectedError(404, 10008, "Unknown Message")
        if (deleted := self._delete_or_edit(request, message)) is not None:
            return deleted
        return json_response(message.payload)

    def _delete_or_edit(self, request: web.Request, message: StoredMessage) -> web.Response | None:
        """Do a DELETE (its 204 is returned) or a PATCH (checked like Discord, then applied)."""
        if request.method == "DELETE":
            del self.messages[message.id]
            return web.Response(status=204)
        if request.method == "PATCH":
            body, files = dict(self._body(request) or {}), self._files(request)
            self._check_message(body, files, creating=False)
            self._edit_message(message, body, files)
        return None

    async def _channel(self, request: web.Request) -> web.Response:
        guild, channel = self._guild_channel(int(request.match_info["channel_id"]))
        return json_response(channel_payload(channel, guild.id))

    async def _guild(self, request: web.Request) -> web.Response:
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise _RejectedError(404, 10004, "Unknown Guild")
        payload = guild_payload(guild, self.world)
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            payload.pop(key)
        return json_response(payload)

    async def _member(self, request: web.Request) -> web.Response:
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        user_id = int(request.match_info["user_id"])
        if guild is None or user_id not in guild.members:
            raise _RejectedError(404, 10007, "Unknown Member")
        return json_response(member_payload(guild, self.world.users[user_id]))

    async def _attachment(self, request: web.Request) -> web.Response:
        recorded = self._attachments.get(int(request.match_info["attachment_id"]))
        if recorded is None:
            return json_response({"code": 0, "message": "404: Not Found"}, 404)
        return web.Response(body=recorded.data, headers={"Content-Type": recorded.content_type})

    # Messages

    def _check_message(
        self, body: Mapping[str, Any], files: Sequence[RecordedFile], *, creating: bool
    ) -> None:
        problems = message_problems(body, n_files=len(files), creating=creating)
        if sum(len(f.data) for f in files) > ATTACHMENT_SIZE_LIMIT:
            problems.append(f"attachments exceed {ATTACHMENT_SIZE_LIMIT} bytes")
        if problems:
            raise _invalid(problems)

    def _attachment_objects(
        self,
        body: Mapping[str, Any],
        files: Sequence[RecordedFile],
        existing: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        by_index = {int(f.field.removeprefix("files[").rstrip("]")): f for f in files}
        kept = {str(a["id"]): dict(a) for a in existing}
        wanted = body.get("attachments")
        if wanted is None:
            wanted = [{"id": i} for i in by_index]
            result = list(kept.values())
        else:
            result = []
        for item in wanted:
            key = str(item["id"])
            if key in kept and wanted is body.get("attachments"):
                result.append(kept[key])
                continue
            recorded = by_index.get(int(key))
            if recorded is None:
                raise _invalid([f"attachment id {key} matches no uploaded file"])
            attachment_id = self.ids.next()
            filename = str(item.get("filename") or recorded.filename)
            self._attachments[attachment_id] = recorded
            url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
            result.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "description": item.get("description"),
                    "size": len(recorded.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": mimetypes.guess_type(filename)[0] or recorded.content_type,
                }
            )
        return result

    @staticmethod
    def _embeds(body: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{"type": "rich", **e} for e in body.get("embeds") or []]

    def _create_message(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        files: Sequence[RecordedFile],
        interaction: InteractionRecord | None,
        *,
        msg_type: int = 0,
        flags: int | None = None,
    ) -> StoredMessage:
        message_id = self.ids.next()
        payload: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": user_payload(self.world.bot),
            "content": str(body.get("content") or ""),
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachment_objects(body, files, []),
            "embeds": self._embeds(body),
            "pinned": False,
            "type": msg_type,
            "flags": int(body.get("flags") or 0) if flags is None else flags,
            "components": list(body.get("components") or []),
            "application_id": str(self.world.application_id),
        }
        if interaction is not None:
            payload["webhook_id"] = str(self.world.application_id)
        message = StoredMessage(
            message_id,
            channel_id,
            payload,
            {int(a["id"]): self._attachments[int(a["id"])] for a in payload["attachments"]},
            interaction.id if interaction else None,
        )
        self.messages[message_id] = message
        return message

    def _edit_message(
        self, message: StoredMessage, body: Mapping[str, Any], files: Sequence[RecordedFile]
    ) -> None:
        payload = message.payload
        if "content" in body:
            payload["content"] = str(body["content"] or "")
        if "embeds" in body:
            payload["embeds"] = self._embeds(body)
        if "components" in body:
            payload["components"] = list(body["components"] or [])
        if files or "attachments" in body:
            payload["attachments"] = self._attachment_objects(body, files, payload["attachments"])
            message.files = {
                int(a["id"]): self._attachments[int(a["id"])] for a in payload["attachments"]
            }
        payload["flags"] = int(payload.get("flags") or 0) & ~LOADING
        payload["edited_timestamp"] = iso_now()

    # Gateway

    def _live_connection(
        self, guild_id: int | None = None, *, shard_id: int | None = None
    ) -> GatewayConnection | None:
        """The newest live connection: of the session that carries ``guild_id`` (Discord sends a
        guild's events to its shard's session only), or of shard ``shard_id``, or any."""
        for conn in reversed(self.connections):
            if not conn.live or conn.session is None:
                continue
            if guild_id is not None and not conn.session.carries(guild_id):
                continue
            if shard_id is not None and conn.session.shard[0] != shard_id:
                continue
            return conn
        return None

    def connection_for(self, guild_id: int) -> GatewayConnection:
        """The live connection that receives ``guild_id``'s events; ``StandinError`` if no
        connected session runs the guild's shard."""
        conn = self._live_connection(guild_id)
        if conn is None:
            running = [c.session.shard for c in self.connections if c.live and c.session]
            raise StandinError(
                f"no bot session receives guild {guild_id}'s events (sessions [shard, total]: "
                f"{[list(shard) for shard in running]}; use run_bot first)"
            )
        return conn

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, zlib_stream=request.query.get("compress") == "zlib-stream")
        self.connections.append(conn)
        try:
            if request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"only encoding=json is supported")
                return ws
            await conn.send(HELLO, {"heartbeat_interval": HEARTBEAT_INTERVAL_MS})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    payload = json.loads(msg.data)
                    conn.received.append(payload)
                    await self._on_gateway_payload(conn, payload)
                    self.changes.bump()
                elif msg.type == WSMsgType.BINARY:
                    self.report("gateway", "the client sent a binary frame with encoding=json")
        except Exception as exc:
            self.report("gateway", f"gateway handler raised {exc!r}", exc)
        finally:
            self.changes.bump()
        return ws

    async def _on_gateway_payload(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data: Any = payload.get("d")
        if op == HEARTBEAT:
            await conn.send(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            await self._identify(conn, data)
        elif op == RESUME:
            session = self.sessions.get(str(data.get("session_id")))
            if session is None or data.get("token") != self.token:
                await conn.send(INVALID_SESSION, False)
                return
            conn.session = session
            self.resumes += 1
            await conn.dispatch("RESUMED", {"_trace": ["discord-standin"]})
        elif op == REQUEST_MEMBERS:
            guild_ids = (
                data["guild_id"] if isinstance(data["guild_id"], list) else [data["guild_id"]]
            )
            for guild_id in guild_ids:
                guild = self.world.guilds[int(guild_id)]
                members = [member_payload(guild, self.world.users[u]) for u in guild.members]
                chunk = {
                    "guild_id": str(guild.id),
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": data.get("nonce"),
                }
                await conn.dispatch("GUILD_MEMBERS_CHUNK", chunk)
        elif op not in (PRESENCE, VOICE_STATE):
            self.report("gateway", f"unexpected gateway opcode {op}: {payload}")

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = data.get("shard", [0, 1])
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            # Discord's close code for a shard it cannot take; disnake does not reconnect.
            self.report("gateway", f"IDENTIFY with an invalid shard {shard!r}")
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        session = GatewaySession(
            secrets.token_hex(16), int(data.get("intents", 0)), shard=(shard[0], shard[1])
        )
        self.sessions[session.id] = session
        conn.session = session
        self.identifies += 1
        bot = self.world.bot
        guilds = [
            g for g in self.world.guilds.values() if bot.id in g.members and session.carries(g.id)
        ]
        ready = {
            "v": 10,
            "user": user_payload(bot) | {"verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["discord-standin"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await conn.dispatch("READY", ready)
        for guild in guilds:
            await conn.dispatch("GUILD_CREATE", guild_payload(guild, self.world))

    async def reconnect(
        self,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
        *,
        shard_id: int | None = None,
    ) -> None:
        """Ask the bot to reconnect (op 7, as Discord does) and wait until it has RESUMEd: the
        newest session, or the one of ``shard_id``."""
        conn = self._live_connection(shard_id=shard_id)
        if conn is None:
            where = "" if shard_id is None else f" on shard {shard_id}"
            raise StandinError(f"no bot is connected{where}")
        before = self.resumes
        await conn.send(RECONNECT, None)

        def resumed() -> bool | None:
            live = self._live_connection(shard_id=shard_id)
            return True if self.resumes > before and live is not None and live is not conn else None

        await self.changes.wait_until(resumed, timeout, "the bot to RESUME after op 7")
