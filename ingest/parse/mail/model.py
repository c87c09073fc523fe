"""What an e-mail reader extracts before it becomes text: headers, body parts, attachments, attached messages.

Both readers (``eml`` with the standard library, ``msg`` with extract-msg) fill
the same ``MailMessage``; ``render`` turns it into a ``ParsedDocument``. The
``AttachmentBudget`` bounds what one upload may carry out as attachments.
"""

from __future__ import annotations

import codecs
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..common import decode_text, has_bom, normalize_text
from ..types import Attachment

log = logging.getLogger(__name__)

# One e-mail yields at most this many attachment documents, of at most this many bytes together;
# the rest are still named in the message's text but not kept (logged, and listed in metadata).
MAX_ATTACHMENTS = 50
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
# A text/plain attachment up to this size is also shown after the body (see ``render``); at most
# this many characters of such text per message.
MAX_INLINE_ATTACHMENT_BYTES = 64 * 1024
MAX_INLINE_TEXT_CHARS = 256 * 1024
# Messages attached to messages, and multiparts within multiparts, are read this deep.
MAX_DEPTH = 20

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class MailHeaders:
    """The headers a reader asks about, as display strings ("" where absent)."""

    subject: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    date: str = ""  # as written in the message
    date_iso: str | None = None  # the same date as ISO 8601, where it parses


@dataclass
class BodyPart:
    """One piece of a message's body: plain text, or an HTML page to clean."""

    text: str
    is_html: bool = False


@dataclass
class MailMessage:
    """One message: its headers, body parts, the names of its attachments, their small texts, attached messages."""

    headers: MailHeaders
    body: list[BodyPart] = field(default_factory=list)
    attachment_names: list[str] = field(default_factory=list)
    attachment_texts: list[tuple[str, str]] = field(default_factory=list)  # (filename, text)
    nested: list[MailMessage] = field(default_factory=list)


class AttachmentBudget:
    """Collects the attachments of one upload, within ``MAX_ATTACHMENTS`` and ``MAX_ATTACHMENT_BYTES``."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.kept: list[Attachment] = []
        self.skipped: list[str] = []
        self._bytes = 0
        self._text_chars = 0

    def offer(self, attachment: Attachment) -> None:
        """Keep ``attachment`` if the limits allow, else log and record that it was left out."""
        size = len(attachment.data)
        if len(self.kept) >= MAX_ATTACHMENTS or self._bytes + size > MAX_ATTACHMENT_BYTES:
            log.warning(
                "%s: attachment %s (%d bytes) left out: an e-mail keeps at most %d attachments of %d bytes together",
                self.filename, attachment.filename, size, MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES,
            )  # fmt: skip
            self.skipped.append(attachment.filename)
            return
        self._bytes += size
        self.kept.append(attachment)

    def inline_text(self, attachment: Attachment) -> str | None:
        """The text of a small text/plain attachment to show after the body, None when too big or not plain text.

        At most ``MAX_INLINE_ATTACHMENT_BYTES`` per attachment and ``MAX_INLINE_TEXT_CHARS`` per upload.
        """
        if attachment.media_type != "text/plain" or len(attachment.data) > MAX_INLINE_ATTACHMENT_BYTES:
            return None
        text = decode_text(attachment.data).strip()
        if not text or self._text_chars + len(text) > MAX_INLINE_TEXT_CHARS:
            return None
        self._text_chars += len(text)
        return text


def safe_filename(name: str | None, media_type: str | None, index: int) -> str:
    """An attachment's name without directories or control characters; ``attachment-N.ext`` where it has none."""
    base = PurePosixPath(_UNSAFE_NAME.sub("", (name or "").replace("\\", "/"))).name.strip()
    if base and base not in {".", ".."}:
        return base[:255]
    extension = mimetypes.guess_extension(media_type or "") or ""
    return f"attachment-{index}{extension}"


def decode_declared(data: bytes, charset: str | None) -> str:
    """Decode a MIME part's bytes: its declared charset when it decodes them cleanly, else ``decode_text``'s guesses.

    An unknown charset (``x-bogus``) or bytes that do not fit the declared one (UTF-8
    sent as ``us-ascii``) fall back instead of failing, so a bad charset never loses a message.
    """
    if charset and not has_bom(data):
        try:
            return normalize_text(data.decode(codecs.lookup(charset).name))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)
