"""A ``MailMessage`` as text: header lines, the body, small text attachments, attached messages.

The text starts with the headers a reader searches for ("Subject: ...",
"From: ...", "To: ...", "Cc: ...", "Date: ...") and an "Attachments: ..." line
naming every attachment, as their own section; the body follows (plain text as
it is, HTML through the HTML cleaner, keeping its headings and tables). Small
text/plain attachments are stored as their own documents (``attachments``) and
their text is also shown here under "Attachment NAME": someone asking about the
message ("what did the notes attached to it say?") is answered from the message
itself, with the message's headers at hand. Attached messages follow under
"Attached message: SUBJECT", rendered the same way.
"""

from __future__ import annotations

from ingest.errors import NoTextError

from ..builder import TextBuilder
from ..common import clip_heading
from ..html import parse_body
from ..types import ParsedDocument
from .model import AttachmentBudget, MailHeaders, MailMessage


def render(message: MailMessage, budget: AttachmentBudget, filename: str, media_type: str) -> ParsedDocument:
    """The parsed document of one message, with the attachments ``budget`` kept.

    Raises:
        DocumentParseError: an HTML body lxml cannot read.
        NoTextError: the message has neither headers nor body text.
    """
    builder = TextBuilder()
    _render(builder, message, filename, heading_path=(), location=None)
    text, sections, tables = builder.build()
    if not text:
        raise NoTextError(f"{filename} has no headers and no text; upload an e-mail message with content")
    metadata = _metadata(message.headers)
    if budget.skipped:
        metadata["attachments_left_out"] = budget.skipped
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=media_type,
        title=clip_heading(message.headers.subject) if message.headers.subject else None,
        metadata=metadata,
        tables=tables,
        attachments=budget.kept,
    )


def header_lines(headers: MailHeaders, attachment_names: list[str]) -> str:
    """The searchable header block: one "Name: value" line per header present, then the attachments."""
    fields = [("Subject", headers.subject), ("From", headers.sender), ("To", headers.to), ("Cc", headers.cc)]
    fields += [("Date", headers.date), ("Attachments", ", ".join(attachment_names))]
    return "\n".join(f"{name}: {value}" for name, value in fields if value)


def _render(
    builder: TextBuilder,
    message: MailMessage,
    filename: str,
    heading_path: tuple[str, ...],
    location: str | None,
) -> None:
    """Append one message, its attachments' texts and its attached messages."""
    headers = header_lines(message.headers, message.attachment_names)
    builder.add(headers, heading_path=heading_path, location=location, own_section=True)
    for part in message.body:
        if not part.is_html:
            builder.add(part.text, heading_path=heading_path, location=location)
        elif (page := parse_body(part.text, filename)) is not None:
            builder.add_document(page, heading_prefix=heading_path, location=location)
    for name, text in message.attachment_texts:
        builder.add(text, heading_path=(*heading_path, f"Attachment {name}"), location=f"attachment {name}")
    for index, inner in enumerate(message.nested, 1):
        title = f"Attached message: {inner.headers.subject or index}"
        where = f"attached message {index}" if location is None else f"{location}, attached message {index}"
        _render(builder, inner, filename, (*heading_path, title), where)


def _metadata(headers: MailHeaders) -> dict:
    values = {
        "subject": headers.subject,
        "from": headers.sender,
        "to": headers.to,
        "cc": headers.cc,
        "date": headers.date_iso or headers.date,
    }
    return {key: value for key, value in values.items() if value}
