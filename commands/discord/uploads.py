"""Files members send with a slash command (an ``attachment`` option), read into the ``Upload``
the command service takes.

The declared size and content type are checked before anything is downloaded: a file over
``MAX_UPLOAD`` or of a type that is not text is passed on without its bytes, and the command
refuses it by what was declared (``commands.strategies.library.file_text``), so no member can make
the bot download a large or binary file.
"""

from __future__ import annotations

from collections.abc import Mapping

import disnake

from commands.core.models import Upload
from commands.core.values import MAX_UPLOAD, TEXT_TYPES


def wanted(attachment: disnake.Attachment) -> bool:
    """Whether the file may be downloaded: within ``MAX_UPLOAD`` bytes and text (or untyped)."""
    declared = (attachment.content_type or "").split(";")[0].strip().lower()
    return attachment.size <= MAX_UPLOAD and (not declared or declared.startswith(TEXT_TYPES))


async def read_upload(attachment: disnake.Attachment) -> Upload:
    """The attachment as an ``Upload``: its bytes when ``wanted``, else only what it declared;
    a failed download is named in ``problem``."""
    declared = Upload(
        filename=attachment.filename, size=attachment.size, content_type=attachment.content_type
    )
    if not wanted(attachment):
        return declared
    try:
        data = await attachment.read()
    except disnake.HTTPException as exc:
        return Upload(
            filename=attachment.filename,
            size=attachment.size,
            content_type=attachment.content_type,
            problem=f"Discord did not hand over the file (HTTP {exc.status})",
        )
    return Upload(
        filename=attachment.filename,
        data=data,
        size=max(attachment.size, len(data)),
        content_type=attachment.content_type,
    )


async def read_uploads(options: Mapping[str, object]) -> dict[str, object]:
    """``options`` with every attachment read (``read_upload``); other values as they are."""
    return {
        k: await read_upload(v) if isinstance(v, disnake.Attachment) else v
        for k, v in options.items()
    }
