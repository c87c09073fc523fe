"""E-mail parsers: ``.eml`` (the standard library's ``email``) and Outlook ``.msg`` (extract-msg).

Each returns the message as text that starts with its searchable header lines
("Subject: ...", "From: ...", "To: ...", "Cc: ...", "Date: ...",
"Attachments: ..."), then the body (plain text preferred, else the HTML body
through the HTML cleaner), small text attachments and attached messages; the
subject is the title, the headers are ``metadata``, and the attached files are
``ParsedDocument.attachments`` (ingested as their own documents, linked to the
message). See ``render`` for the layout and ``model`` for the limits.
"""

from __future__ import annotations

from .eml import parse_eml
from .msg import parse_msg

__all__ = ["parse_eml", "parse_msg"]
