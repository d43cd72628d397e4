"""Interactions the stand-in sent, and the handle a test awaits the bot's answers through.

Every wait races the bot's answer against recorded failures (a gateway parse error, a rejected
request, a crashed bot task), so a broken exchange fails at once with its cause instead of
timing out with none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import StandinFailureError, StandinTimeoutError
from .records import Failure, Reply, ReplyKind

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0


class Changes:
    """Wakes every waiter whenever the stand-in records something; fails waiters on failures."""

    def __init__(self, failures: list[Failure], describe: Callable[[], str]) -> None:
        self._failures = failures
        self._describe = describe
        self._event = asyncio.Event()

    def bump(self) -> None:
        """Something was recorded: let every waiter look again."""
        self._event.set()
        self._event = asyncio.Event()

    def raise_failures(self) -> None:
        """Raise :class:`StandinFailureError` listing every recorded failure, if there is any."""
        if self._failures:
            lines = [f"- [{f.source}] {f.detail}" for f in self._failures]
            raise StandinFailureError("the exchange with the bot failed:\n" + "\n".join(lines))

    async def wait_until(self, pick: Callable[[], T | None], timeout: float, what: str) -> T:  # noqa: ASYNC109
        """Wait until ``pick()`` returns something (not None); fail fast on a recorded failure."""
        deadline = time.perf_counter() + timeout
        while True:
            self.raise_failures()
            found = pick()
            if found is not None:
                return found
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                msg = f"timed out after {timeout:g}s waiting for {what}\n{self._describe()}"
                raise StandinTimeoutError(msg)
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue


@dataclass
class InteractionRecord:
    """One INTERACTION_CREATE the stand-in sent, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    name: str
    guild_id: int
    channel_id: int
    user_id: int
    payload: dict[str, object]
    sent_at: float = 0.0
    source_message_id: int | None = None
    original_message_id: int | None = None
    acknowledged: bool = False
    replies: list[Reply] = field(default_factory=list)


class InteractionHandle:
    """What a driver call returns: await the callback, then each edit or followup in order."""

    def __init__(self, record: InteractionRecord, changes: Changes) -> None:
        self.record = record
        self._changes = changes
        self._cursors: dict[ReplyKind, int] = {"edit": 0, "followup": 0}

    @property
    def id(self) -> int:
        """The interaction id."""
        return self.record.id

    @property
    def sent_at(self) -> float:
        """``perf_counter()`` when INTERACTION_CREATE went out."""
        return self.record.sent_at

    @property
    def replies(self) -> list[Reply]:
        """Everything the bot answered so far, in order."""
        return list(self.record.replies)

    def _of(self, kind: ReplyKind) -> list[Reply]:
        return [r for r in self.record.replies if r.kind == kind]

    async def callback(self, timeout: float = DEFAULT_TIMEOUT) -> Reply:  # noqa: ASYNC109
        """The interaction callback (types 4-9)."""

        def pick() -> Reply | None:
            found = self._of("callback")
            return found[0] if found else None

        return await self._changes.wait_until(pick, timeout, f"the callback to {self.record.name}")

    async def _next(self, kind: ReplyKind, timeout: float) -> Reply:  # noqa: ASYNC109
        def pick() -> Reply | None:
            found = self._of(kind)
            index = self._cursors[kind]
            if len(found) <= index:
                return None
            self._cursors[kind] = index + 1
            return found[index]

        what = f"{kind} #{self._cursors[kind] + 1} to {self.record.name}"
        return await self._changes.wait_until(pick, timeout, what)

    async def edit(self, timeout: float = DEFAULT_TIMEOUT) -> Reply:  # noqa: ASYNC109
        """The next edit of the original response (``PATCH .../messages/@original``)."""
        return await self._next("edit", timeout)

    async def followup(self, timeout: float = DEFAULT_TIMEOUT) -> Reply:  # noqa: ASYNC109
        """The next followup message (``POST /webhooks/{app}/{token}``)."""
        return await self._next("followup", timeout)

    async def final(self, timeout: float = DEFAULT_TIMEOUT) -> Reply:  # noqa: ASYNC109
        """What the user ends up seeing: the callback, or after a defer the first edit/followup."""
        first = await self.callback(timeout)
        if first.type not in (5, 6):
            return first

        def pick() -> Reply | None:
            return next((r for r in self.record.replies if r.kind in ("edit", "followup")), None)

        return await self._changes.wait_until(
            pick, timeout, f"the answer after deferring {self.record.name}"
        )
