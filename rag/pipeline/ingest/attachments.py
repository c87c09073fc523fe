"""A message's attachments (an e-mail's files), each ingested as a document of its own, linked to the message.

An attachment is named ``MESSAGE/ATTACHMENT`` ("report.eml/budget.xlsx"), checked as an upload is (size, type)
and parsed with its message, in the same sandboxed worker with the same limits and password. Once the message is
stored, its attachments are stored as one more write, each with ``parent_id`` the message's id, so deleting the
message deletes them (:meth:`rag.store.Store.delete_documents`). One that cannot be stored (a type no parser
reads, a zip, an image where OCR is not installed) is skipped with its reason in the message's result; it never
fails the message. A forwarded message's own attachments are followed, up to ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath

from core.errors import RAGError
from ingest.parse.types import ParsedDocument
from rag.pipeline.ingest.records import IngestResult, PreparedDocument, Progress, SkippedAttachment

MAX_DEPTH = 3  # a message attached to a message attached to a message: deeper ones are skipped
# (name, bytes, media type) -> the checked and parsed attachment; raises a RAGError for one that cannot be
PrepareOne = Callable[[str, bytes, str | None], PreparedDocument]


def attachment_name(message: str, name: str, number: int) -> str:
    """``MESSAGE/ATTACHMENT``: the attachment's own name cut to its last path part and printable characters
    (``attachment-N`` where none is left), after its message's name."""
    own = PurePosixPath(name.replace("\\", "/")).name
    own = unicodedata.normalize("NFC", "".join(ch for ch in own if ch.isprintable())).strip()
    return f"{message}/{own if own.strip('.') else f'attachment-{number}'}"


def declared_type(media_type: str | None) -> str | None:
    """The type a container declares for an attachment, None where it says nothing (octet-stream)."""
    essence = (media_type or "").split(";", 1)[0].strip().lower()
    return None if essence in ("", "application/octet-stream") else essence


def prepare_attachments(
    message: str, parsed: ParsedDocument, prepare: PrepareOne, depth: int
) -> tuple[tuple[PreparedDocument, ...], tuple[SkippedAttachment, ...]]:
    """Check and parse each attachment of a parsed message (``prepare``: the pipeline's check and parse).

    Returns:
        the attachments that can be stored and those that cannot, with the reason; the message's
        ``parsed.attachments`` are emptied, so their bytes are not held while it is embedded.
    """
    ready, skipped = [], []
    for number, attachment in enumerate(parsed.attachments, start=1):
        name = attachment_name(message, attachment.filename, number)
        if depth >= MAX_DEPTH:
            skipped.append(SkippedAttachment(name, f"attached {depth} levels deep; the limit is {MAX_DEPTH}"))
            continue
        try:
            ready.append(prepare(name, attachment.data, declared_type(attachment.media_type)))
        except RAGError as exc:
            skipped.append(SkippedAttachment(name, str(exc)))
    parsed.attachments = []
    return tuple(ready), tuple(skipped)


class IngestAttachments:
    """Storing the attachments of stored messages; the host class provides ``commit_batch``."""

    def commit_attachments(
        self, collection, prepared: list[PreparedDocument], results: list[IngestResult], progress: Progress | None
    ) -> list[IngestResult]:
        """Store the attachments of the messages of a batch just stored, as one more write, linked to them.

        A message stored before (a duplicate) keeps the attachments it was stored with. When the write fails,
        every attachment is skipped with the reason; the messages stay stored.

        Returns:
            ``results`` with each message's ``attachments`` and ``skipped`` filled in.
        """
        linked: list[list[PreparedDocument]] = []
        for p, r in zip(prepared, results):
            fresh = not r.duplicate
            linked.append([dataclasses.replace(a, parent_id=r.document_id) for a in p.attachments] if fresh else [])
        todo = [a for group in linked for a in group]
        try:
            stored = iter(self.commit_batch(collection, todo, progress) if todo else [])
            failure = None
        except RAGError as exc:
            stored, failure = iter(()), str(exc)
        out = []
        for p, r, group in zip(prepared, results, linked):
            if r.duplicate:
                out.append(r)
                continue
            kept = tuple(next(stored) for _ in group) if failure is None else ()
            lost = tuple(SkippedAttachment(a.filename, failure) for a in group) if failure is not None else ()
            out.append(dataclasses.replace(r, attachments=kept, skipped=p.skipped + lost))
        return out
