"""E-mail messages (``.eml``, ``message/rfc822``) read with the standard library's ``email`` package.

The message is parsed with ``email.policy.default`` (headers decoded from their
RFC 2047 encoded words). The body is walked part by part: of a
``multipart/alternative`` the plain-text version is read, else the HTML one;
other multiparts are read in order; an attached ``message/rfc822`` becomes an
attached message, read the same way; a part with ``Content-Disposition:
attachment``, or a non-text part with a file name, becomes an attachment. Each
part's bytes are decoded with its declared charset, falling back to the guesses
of ``common.decode_text`` when the charset is unknown or wrong.
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message

from ingest.errors import DocumentParseError

from ..common import decode_text
from ..types import Attachment, ParsedDocument
from .model import MAX_DEPTH, AttachmentBudget, BodyPart, MailHeaders, MailMessage, decode_declared, safe_filename
from .render import render

MEDIA_TYPE = "message/rfc822"
# A message has at least one of these; bytes with none of them are not an e-mail.
_MAIL_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "received")
_MESSAGE_TYPES = ("message/rfc822", "message/global")  # a whole message attached


def parse_eml(data: bytes, filename: str) -> ParsedDocument:
    """Parse an e-mail message into header lines, body text and attachments.

    Args:
        data: the raw message (RFC 5322), as saved by a mail client.
        filename: used in error messages.

    Returns:
        The message as text (see ``render``), ``title`` its subject, ``metadata``
        its subject, from, to, cc and date, ``attachments`` its attached files.

    Raises:
        DocumentParseError: the bytes carry no e-mail headers, or an HTML body cannot be read.
        NoTextError: the message has neither headers nor text.
    """
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not any(name.lower() in _MAIL_HEADERS for name in message.keys()):
        raise DocumentParseError(
            f"{filename} has no e-mail headers (From, To, Subject, Date...); upload a message saved from a mail "
            "client (.eml), or give the file the extension of its content"
        )
    budget = AttachmentBudget(filename)
    return render(_read_message(message, budget, depth=0), budget, filename, MEDIA_TYPE)


def _read_message(message: Message, budget: AttachmentBudget, depth: int) -> MailMessage:
    out = MailMessage(headers=_headers(message))
    _walk(message, out, budget, depth)
    return out


def _walk(part: Message, out: MailMessage, budget: AttachmentBudget, depth: int) -> None:
    """Add one MIME part (and what it holds) to ``out``; parts deeper than ``MAX_DEPTH`` are skipped."""
    if depth > MAX_DEPTH:
        return
    content_type = part.get_content_type()
    if content_type in _MESSAGE_TYPES:
        for inner in _payload_messages(part):
            out.nested.append(_read_message(inner, budget, depth + 1))
        return
    if part.get_content_maintype() == "message":  # a bounce's delivery-status, a read receipt: header blocks
        out.body.append(BodyPart("\n\n".join(_header_block(block) for block in _payload_messages(part))))
        return
    if part.is_multipart():
        children = list(_parts(part))
        if content_type == "multipart/alternative" and children:
            children = [_best_alternative(children)]
        for child in children:
            _walk(child, out, budget, depth + 1)
        return
    filename = part.get_filename()
    if part.get_content_disposition() == "attachment" or (filename and part.get_content_maintype() != "text"):
        _attach(part, filename, out, budget)
    elif content_type == "text/html":
        out.body.append(BodyPart(_part_text(part), is_html=True))
    elif part.get_content_maintype() == "text":
        out.body.append(BodyPart(_part_text(part)))


def _best_alternative(parts: list[Message]) -> Message:
    """The version of a ``multipart/alternative`` to read: plain text, else HTML, else the last (richest)."""
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.get_content_type() == wanted and part.get_content_disposition() != "attachment":
                return part
        for part in parts:  # a multipart/related holding the HTML version and its images
            if part.is_multipart() and any(child.get_content_type() == wanted for child in _parts(part)):
                return part
    return parts[-1]


def _attach(part: Message, filename: str | None, out: MailMessage, budget: AttachmentBudget) -> None:
    media_type = part.get_content_type()
    name = safe_filename(filename, media_type, len(out.attachment_names) + 1)
    attachment = Attachment(name, part.get_payload(decode=True) or b"", media_type)
    out.attachment_names.append(name)
    budget.offer(attachment)
    if (text := budget.inline_text(attachment)) is not None:
        out.attachment_texts.append((name, text))


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return decode_declared(payload if isinstance(payload, bytes) else b"", part.get_content_charset())


def _parts(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else []


def _payload_messages(part: Message) -> list[Message]:
    """The message a ``message/rfc822`` (or ``message/global``, which the parser leaves as bytes) part carries."""
    payload = part.get_payload()
    if isinstance(payload, Message):
        return [payload]
    if parts := _parts(part):
        return parts
    data = part.get_payload(decode=True)
    return [email.message_from_bytes(data, policy=email.policy.default)] if isinstance(data, bytes) and data else []


def _header_block(block: Message) -> str:
    return "\n".join(f"{name}: {' '.join(str(value).split())}" for name, value in block.raw_items())


def _headers(message: Message) -> MailHeaders:
    date_iso = None
    try:
        date = message["date"]
        parsed = getattr(date, "datetime", None)
        date_iso = parsed.isoformat() if parsed is not None else None
    except Exception:  # the stdlib's header parser has crashed on malformed dates; keep the raw text
        pass
    return MailHeaders(
        subject=_header(message, "subject"),
        sender=_header(message, "from"),
        to=_header(message, "to"),
        cc=_header(message, "cc"),
        date=_header(message, "date"),
        date_iso=date_iso,
    )


def _header(message: Message, name: str) -> str:
    """A header's values on one line (several joined by ", "); the raw text where decoding fails.

    Raw 8-bit bytes in a header (no encoded words, as old clients send them) come out of the
    parser as U+FFFD; such values are decoded again from their bytes with ``decode_text``.
    """
    raw = [value for key, value in message.raw_items() if key.lower() == name]
    values = []
    for value in raw:
        if _has_raw_bytes(value):
            value = decode_text(value.encode("ascii", "surrogateescape"))
        try:
            values.append(str(email.policy.default.header_factory(name, value)))
        except Exception:  # the stdlib's header parser raises many types on malformed input
            values.append(value)
    return ", ".join(" ".join(value.split()) for value in values if value.strip())


def _has_raw_bytes(value: str) -> bool:
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return True
    return False
