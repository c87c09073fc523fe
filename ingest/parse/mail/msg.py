"""Outlook messages (``.msg``, an OLE compound file) read with extract-msg.

extract-msg is the maintained reader of the format (it also decodes the RTF
body Outlook often stores alone, and embedded messages). The bytes must start
with the OLE signature before they reach it: given bytes it does not recognise,
extract-msg would try them as a file path. The body is the plain-text one, else
the HTML one through the HTML cleaner, else the RTF one as text (striprtf);
``DATA`` attachments become attachments and embedded messages attached
messages, as for ``.eml``. String properties lose the terminating NUL some
writers store (Outlook does not), which would otherwise end the subject or
hide that an attachment is ``text/plain``. The file is closed whatever happens.
"""

from __future__ import annotations

import email.utils
import io
from datetime import datetime

import extract_msg
from extract_msg.enums import AttachmentType
from striprtf.striprtf import rtf_to_text

from ingest.errors import DocumentParseError

from ..common import decode_text, normalize_text
from ..container import CFB_MAGIC
from ..types import Attachment, ParsedDocument
from .model import MAX_DEPTH, AttachmentBudget, BodyPart, MailHeaders, MailMessage, safe_filename
from .render import render

MEDIA_TYPE = "application/vnd.ms-outlook"


def parse_msg(data: bytes, filename: str) -> ParsedDocument:
    """Parse an Outlook ``.msg`` message into header lines, body text and attachments.

    Args:
        data: the file's bytes.
        filename: used in error messages.

    Returns:
        The message as text (see ``render``), with the same title, metadata and
        attachments as ``parse_eml`` gives.

    Raises:
        DocumentParseError: the bytes are not an OLE file, or extract-msg cannot read them.
        NoTextError: the message has neither headers nor text.
    """
    if not data.startswith(CFB_MAGIC):
        raise DocumentParseError(
            f"{filename} is not an Outlook message (no OLE compound-file signature); save it again from Outlook, "
            "or give the file the extension of its content"
        )
    budget = AttachmentBudget(filename)
    try:
        message = extract_msg.openMsg(io.BytesIO(data))
    except Exception as exc:  # olefile and extract-msg raise many types on corrupt files
        raise _unreadable(filename, exc) from exc
    try:
        read = _read_message(message, budget, depth=0)
    except DocumentParseError:
        raise
    except Exception as exc:  # as above, for streams read lazily
        raise _unreadable(filename, exc) from exc
    finally:
        message.close()
    return render(read, budget, filename, MEDIA_TYPE)


def _unreadable(filename: str, exc: Exception) -> DocumentParseError:
    return DocumentParseError(
        f"{filename} could not be read as an Outlook message ({type(exc).__name__}: {exc}); check that it opens "
        "in Outlook, or save it again as .msg or .eml"
    )


def _read_message(message, budget: AttachmentBudget, depth: int) -> MailMessage:
    out = MailMessage(headers=_headers(message))
    if body := _body(message):
        out.body.append(body)
    for attachment in getattr(message, "attachments", None) or []:
        kind = getattr(attachment, "type", None)
        if kind == AttachmentType.MSG and depth < MAX_DEPTH:
            out.nested.append(_read_message(attachment.data, budget, depth + 1))
        elif kind == AttachmentType.DATA and isinstance(attachment.data, bytes):
            _attach(attachment, out, budget)
    return out


def _body(message) -> BodyPart | None:
    """The plain-text body, else the HTML one, else the RTF one as text; None when the message has none."""
    if text := (getattr(message, "body", None) or "").strip():
        return BodyPart(normalize_text(text))
    if html := getattr(message, "htmlBody", None):
        return BodyPart(decode_text(html) if isinstance(html, bytes) else html, is_html=True)
    if rtf := getattr(message, "rtfBody", None):
        return BodyPart(normalize_text(rtf_to_text(rtf.decode("cp1252", errors="replace"), errors="ignore")))
    return None


def _attach(attachment, out: MailMessage, budget: AttachmentBudget) -> None:
    media_type = _one_line(getattr(attachment, "mimetype", None)) or None
    raw_name = getattr(attachment, "longFilename", None) or getattr(attachment, "shortFilename", None)
    name = safe_filename(raw_name, media_type, len(out.attachment_names) + 1)
    file = Attachment(name, attachment.data, media_type)
    out.attachment_names.append(name)
    budget.offer(file)
    if (text := budget.inline_text(file)) is not None:
        out.attachment_texts.append((name, text))


def _headers(message) -> MailHeaders:
    date = getattr(message, "date", None)
    return MailHeaders(
        subject=_one_line(getattr(message, "subject", None)),
        sender=_one_line(getattr(message, "sender", None)),
        to=_one_line(getattr(message, "to", None)),
        cc=_one_line(getattr(message, "cc", None)),
        date=email.utils.format_datetime(date) if isinstance(date, datetime) else "",
        date_iso=date.isoformat() if isinstance(date, datetime) else None,
    )


def _one_line(value: object) -> str:
    """A string property on one line, without the NULs some writers end string streams with."""
    return " ".join(str(value).replace("\x00", " ").split()) if value else ""
