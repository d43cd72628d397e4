"""What every cog shares: the command service, the shutdown gate, and "run one command and answer".

``FrontEnd.answer`` is the one path from a Discord interaction to the service and back: refuse when
stopping, build the ``Invocation`` (guild, member, Manage Server, channel), check the journal may be
written, call the service, defer first when the command is slow (at once for a command the spec
marks slow, after ``DEFER_AFTER`` for any other), render the reply, and tell the sync runtime that
events were appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import disnake
from disnake.interactions import Interaction

from commands.core.models import Invocation, Reply
from commands.core.service import CommandService
from commands.discord.errors import GuildOnlyError, ShuttingDownError
from commands.discord.render import NO_MENTIONS, Pager, render
from commands.discord.uploads import read_uploads
from commands.general.handlers import with_ping_timings
from commands.journal.handlers import log_trade_prefill

log = logging.getLogger(__name__)

DEFER_AFTER = 1.5
"""Seconds a command may take before it is deferred (Discord's callback deadline is 3 s)."""


class WriteGate(Protocol):
    """The sync runtime as the front end sees it (``bot.SyncGate`` over ``sync.runtime``)."""

    def ensure_writable(self) -> None:
        """Raise ``NotWriterError`` unless this instance may append now."""
        ...

    async def committed(self, position: int) -> None:
        """After an append: wake the shipper (and, with durable ack, wait for Blob)."""
        ...


class FrontEnd:
    """The state the cogs share; see the module docstring."""

    def __init__(
        self,
        service: CommandService,
        *,
        gate: WriteGate | None = None,
        on_schedule_changed: Callable[[], None] = lambda: None,
        defer_after: float = DEFER_AFTER,
    ) -> None:
        """Front ``service``; ``gate`` guards and reports appends (``None``: no sync)."""
        self.service = service
        self.gate = gate
        self.on_schedule_changed = on_schedule_changed
        self.defer_after = defer_after
        self.pager = Pager()
        self.accepting = True
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- shutdown -------------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        """From now on every interaction is answered "restarting, try again in a moment"."""
        self.accepting = False

    async def drained(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait (at most ``timeout`` s) for the commands already running; True if none is left."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        if not self.accepting:
            raise ShuttingDownError
        self._inflight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    # -- one command ----------------------------------------------------------------------------

    def invocation(self, inter: Interaction[Any]) -> Invocation:
        """Who runs the command, where; refuses outside a server."""
        if inter.guild_id is None:
            raise GuildOnlyError
        return Invocation(
            command_id=str(inter.id),
            guild_id=inter.guild_id,
            user_id=inter.author.id,
            user_name=inter.author.display_name,
            is_admin=inter.permissions.manage_guild,
            channel_id=inter.channel_id,
        )

    async def answer(
        self,
        inter: Interaction[Any],
        command: str,
        options: Mapping[str, object],
        *,
        slow: bool,
    ) -> Reply:
        """Run ``command`` for ``inter`` and send its reply (see the module docstring)."""
        received = time.perf_counter()
        async with self._running():
            inv = self.invocation(inter)
            if self.gate is not None:
                self.gate.ensure_writable()
            deferred = slow
            if slow:
                # Defer before the work starts: a chart or a scan holds the GIL on the worker
                # thread and would slow the defer itself.
                await _defer(inter)
            # Files are read after the defer (their download may take a moment).
            options = await read_uploads(options)
            task = asyncio.ensure_future(self.service.execute(command, options, inv))
            if not slow:
                done, _ = await asyncio.wait({task}, timeout=self.defer_after)
                if not done:
                    await _defer(inter)
                    deferred = True
            reply = await task
            if self.gate is not None:
                await self.gate.committed(self.service.journal.head())
            if command == "ping" and reply.ok:
                reply = with_ping_timings(
                    reply,
                    gateway_latency=inter.client.latency,
                    answered_in=time.perf_counter() - received,
                )
            await self.send(inter, reply, deferred=deferred)
        if command == "schedule set" and reply.ok:
            self.on_schedule_changed()
        return reply

    async def send(self, inter: Interaction[Any], reply: Reply, *, deferred: bool) -> None:
        """Send a reply: the callback, or after a defer the edit (or, when the reply is private,
        an ephemeral followup in place of the public "thinking…" message)."""
        key = self.pager.keep(str(inter.id), reply)
        out = render(reply, key=key)
        if not deferred:
            await inter.response.send_message(
                embed=out.embed,
                files=out.files,
                components=out.components,
                ephemeral=reply.ephemeral,
                allowed_mentions=NO_MENTIONS,
            )
        elif reply.ephemeral:
            with contextlib.suppress(disnake.NotFound):
                await inter.delete_original_response()
            await inter.followup.send(
                embed=out.embed,
                files=out.files,
                components=out.components,
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
        else:
            await inter.edit_original_response(
                embed=out.embed,
                files=out.files,
                components=out.components,
                allowed_mentions=NO_MENTIONS,
            )

    async def prefill(self, button: str) -> dict[str, str]:
        """Defaults for the "Log trade" form of a pick's button (the journal room's
        ``log_trade_prefill``, read on the service's worker)."""
        return await self.service.call(log_trade_prefill, self.service.market, button)

    async def complete(self, inter: Interaction[Any], kind: str, partial: str) -> list[str]:
        """Autocomplete suggestions (none while stopping or outside a server)."""
        if not self.accepting or inter.guild_id is None:
            return []
        try:
            found = await self.service.autocomplete(kind, partial, self.invocation(inter))
        except Exception:
            log.exception("autocomplete %s failed", kind)
            return []
        return [s for s in found if 0 < len(s) <= 100][:25]


async def _defer(inter: Interaction[Any]) -> None:
    """Defer with a "thinking…" message of its own: a button's command (a draft's Save or Try it)
    answers in a new message, never by editing the message that carries the button."""
    if inter.type == disnake.InteractionType.component:
        await inter.response.defer(with_message=True)
    else:
        await inter.response.defer()
