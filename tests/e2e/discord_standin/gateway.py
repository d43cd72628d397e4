"""One gateway websocket connection: opcodes, sequence numbers, shards and zlib-stream transport.

disnake asks for ``compress=zlib-stream`` by default; then every payload goes out as a binary
frame from one shared compressor, flushed with ``Z_SYNC_FLUSH`` so each frame ends in
``00 00 ff ff`` (what disnake's inflater waits for). Without it, payloads are text frames.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
HEARTBEAT_INTERVAL_MS = 41_250


@dataclass
class GatewaySession:
    """A gateway session: survives a reconnect when the client RESUMEs it."""

    id: str
    intents: int
    seq: int = 0
    shard: tuple[int, int] = (0, 1)
    """``[shard_id, num_shards]`` from IDENTIFY (``[0, 1]`` without one, as Discord)."""

    def carries(self, guild_id: int) -> bool:
        """Whether Discord sends this guild's events to this session: its shard is
        ``(guild_id >> 22) % num_shards`` (written out here, apart from the bot's own code)."""
        shard_id, num_shards = self.shard
        return (guild_id >> 22) % num_shards == shard_id


@dataclass
class GatewayConnection:
    """A connected websocket and the session it carries once identified or resumed."""

    ws: web.WebSocketResponse
    zlib_stream: bool
    session: GatewaySession | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    dispatched: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Every DISPATCH sent on this connection: (event name, data)."""
    _compressor: Any = field(default_factory=zlib.compressobj)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def live(self) -> bool:
        """Identified (or resumed) and still open: events can be dispatched to it."""
        return self.session is not None and not self.ws.closed

    async def send(self, op: int, d: Any, *, t: str | None = None, s: int | None = None) -> None:
        """Send one gateway payload."""
        text = json.dumps({"op": op, "d": d, "s": s, "t": t})
        # One lock: compressing and writing must happen in the same order for zlib-stream.
        async with self._lock:
            if self.zlib_stream:
                data = self._compressor.compress(text.encode())
                data += self._compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH (op 0) event with the session's next sequence number."""
        assert self.session is not None, "dispatch before IDENTIFY"
        self.session.seq += 1
        self.dispatched.append((event, data))
        await self.send(DISPATCH, data, t=event, s=self.session.seq)
