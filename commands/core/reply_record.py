"""The reply a command keeps in its ``command_handled`` event, so a retried command id answers the
same even after a restart (``CommandService`` writes and reads it).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from commands.core.models import Reply

log = logging.getLogger(__name__)

REPLY_RECORD_MAX = 8000
"""Characters of a reply kept in its ``command_handled`` event (a Discord embed holds 6000)."""


def _reply_doc(reply: Reply) -> dict[str, Any]:
    """``reply`` as JSON-ready data without attachments and without default-valued parts."""
    plain = msgspec.to_builtins(msgspec.structs.replace(reply, attachments=[], pages=[]))
    doc = {k: v for k, v in plain.items() if v != _REPLY_DEFAULTS[k]}
    if reply.pages:
        doc["pages"] = [_reply_doc(p) for p in reply.pages]
    return doc


_REPLY_DEFAULTS: dict[str, Any] = msgspec.to_builtins(Reply())


def reply_record(reply: Reply, limit: int = REPLY_RECORD_MAX) -> str:
    """The reply as kept in ``command_handled``: compact JSON of what the member saw, at most
    ``limit`` characters. Attachments (charts, CSV) are never kept: they can be large, and the
    journal is shipped to blob storage. Too long: further pages go first, then fields, then the
    description is cut; "" when even that does not fit. Replies never carry secrets (provider
    errors are scrubbed at the fetcher edge), so neither does this."""
    cut = msgspec.structs.replace(reply, pages=[], fields=[])
    for candidate in (
        reply,
        msgspec.structs.replace(reply, pages=[]),
        cut,
        msgspec.structs.replace(cut, description=cut.description[: limit // 4]),
    ):
        text = msgspec.json.encode(_reply_doc(candidate)).decode()
        if len(text) <= limit:
            return text
    return ""


def reply_from_record(text: str) -> Reply | None:
    """The reply ``reply_record`` kept (``None`` for events written before it was kept)."""
    if not text:
        return None
    try:
        return msgspec.json.decode(text, type=Reply)
    except msgspec.DecodeError:
        log.warning("an audit event keeps a reply this version cannot read: %.80s", text)
        return None
