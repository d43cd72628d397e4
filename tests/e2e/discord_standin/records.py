"""What the stand-in records: every request, the messages the bot made, and its replies.

Times are ``time.perf_counter()`` seconds, so a test or a benchmark can subtract them from the
moment an interaction was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EPHEMERAL = 1 << 6
LOADING = 1 << 7

ReplyKind = Literal["callback", "edit", "followup", "channel_message"]


@dataclass(frozen=True)
class RecordedFile:
    """One uploaded file of a multipart body."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the bot made to the stand-in, and the status it got."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: tuple[RecordedFile, ...]
    status: int = 0
    route: str = ""

    @property
    def known(self) -> bool:
        """Whether a route of the stand-in answered it (unknown routes get a recorded 404)."""
        return self.route != "unknown"


@dataclass(frozen=True)
class Failure:
    """A problem that must fail the test: where it came from and what it was."""

    source: str
    detail: str
    error: BaseException | None = None


@dataclass
class StoredMessage:
    """A message the bot created (through an interaction or in a channel), in its Discord form."""

    id: int
    channel_id: int
    payload: dict[str, Any]
    files: dict[int, RecordedFile] = field(default_factory=dict)
    interaction_id: int | None = None

    @property
    def flags(self) -> int:
        """The message flags (64: ephemeral, 128: still loading after a defer)."""
        return int(self.payload.get("flags", 0))


@dataclass(frozen=True)
class Reply:
    """One thing the bot sent: a callback, an edit of a message, a followup or a channel post.

    ``body`` is what the bot sent (for a callback, its ``data``); ``snapshot`` is the whole
    message as it stood right after (``None`` for autocomplete results and modals). The
    convenience properties read the snapshot when there is one, else the body.
    """

    kind: ReplyKind
    type: int | None
    body: Mapping[str, Any]
    files: tuple[RecordedFile, ...]
    received_at: float
    message_id: int | None = None
    channel_id: int | None = None
    snapshot: Mapping[str, Any] | None = None
    interaction_id: int | None = None

    def _view(self) -> Mapping[str, Any]:
        return self.snapshot if self.snapshot is not None else self.body

    @property
    def content(self) -> str:
        """The message text ("" when there is none)."""
        return str(self._view().get("content") or "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        """The embeds as JSON objects."""
        return list(self._view().get("embeds") or [])

    @property
    def components(self) -> list[dict[str, Any]]:
        """The component tree (action rows and their buttons / selects)."""
        return list(self._view().get("components") or [])

    @property
    def flags(self) -> int:
        """Message flags."""
        return int(self._view().get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user sees it (flag 64)."""
        return bool(self.flags & EPHEMERAL)

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        """The ``allowed_mentions`` the bot sent with this reply, if any."""
        value = self.body.get("allowed_mentions")
        return dict(value) if value is not None else None

    @property
    def attachments(self) -> list[dict[str, Any]]:
        """Attachment objects of the message (filename, size, url)."""
        return list(self._view().get("attachments") or [])

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices (callback type 8)."""
        return list(self.body.get("choices") or [])

    @property
    def custom_id(self) -> str:
        """The modal's custom id (callback type 9)."""
        return str(self.body.get("custom_id") or "")

    def file(self, filename: str) -> RecordedFile:
        """The uploaded file called ``filename`` (KeyError if it was not sent with this reply)."""
        for recorded in self.files:
            if recorded.filename == filename:
                return recorded
        raise KeyError(filename)

    def text(self) -> str:
        """Content, embed titles, descriptions and fields as one string, for assertions."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
            for embed_field in embed.get("fields") or []:
                parts += [str(embed_field.get("name")), str(embed_field.get("value"))]
            footer = embed.get("footer") or {}
            parts.append(str(footer.get("text") or ""))
        return "\n".join(p for p in parts if p)
