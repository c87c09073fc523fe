"""Markdown rendered on the server, safely, for the web page: answers and passages, and whole documents.

The page never puts text it was sent into the DOM as HTML unless it came from these routes
(see :mod:`api.render`): raw HTML in a text is escaped, and the result is cleaned against an
allow-list. A highlighted range is a pair of character offsets into the text, the offsets of
a citation's span (``span_start``/``span_end``) or of a chunk (``char_start``/``char_end``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter

from api.openapi import error_responses
from api.render import render_markdown
from core.errors import InvalidInputError
from ingest.errors import PayloadTooLargeError
from rag.store import Catalog, Collection

__all__ = ["MAX_RENDER_BYTES", "DocumentHtml", "RenderController", "RenderIn", "RenderOut"]

# An answer or a passage is a few KB; a whole document is rendered from the store instead (its own route).
MAX_RENDER_BYTES = 64 * 1024  # answers and passages are a few kB; a stored document has its own route (GET .../html)


class RenderIn(msgspec.Struct, forbid_unknown_fields=True):
    markdown: str
    # [start, end) character offsets into ``markdown`` to highlight, each as <mark data-mark="i">
    marks: list[tuple[int, int]] = msgspec.field(default_factory=list)


class RenderOut(msgspec.Struct):
    html: str  # sanitised: safe to insert as HTML


class DocumentHtml(msgspec.Struct):
    html: str  # sanitised: safe to insert as HTML
    marked: bool  # whether the range (if one was asked for) shows as a <mark id="mark-0"> in ``html``


START = Parameter(query="start", description="start of the range to highlight: a character offset into the text")
END = Parameter(query="end", description="end (exclusive) of the range to highlight; give it with start")


def check_size(markdown: str) -> None:
    """Raise a 413 for a text over :data:`MAX_RENDER_BYTES` (UTF-8)."""
    size = len(markdown) if len(markdown) * 4 <= MAX_RENDER_BYTES else len(markdown.encode())
    if size > MAX_RENDER_BYTES:
        raise PayloadTooLargeError(
            f"the Markdown is {size:,} bytes; send at most {MAX_RENDER_BYTES:,} (a stored document is rendered "
            "whole by GET /v1/collections/{name}/documents/{document_id}/html)"
        )


def one_range(start: int | None, end: int | None) -> list[tuple[int, int]]:
    """The range of ``start`` and ``end`` (none when neither is given)."""
    if start is None and end is None:
        return []
    if start is None or end is None:
        raise InvalidInputError("give both start and end to highlight a range, or neither")
    return [(start, end)]


class RenderController(Controller):
    path = "/v1"
    tags = ["render"]

    @post(
        "/render",
        operation_id="renderMarkdown",
        responses=error_responses(400, 401, 403, 413, 415, 422, 500),
        status_code=200,
        sync_to_thread=True,  # CPU work: about 1.5 s a MB of Markdown
        summary="Render Markdown as sanitised HTML, with character ranges highlighted",
        description="Raw HTML in the text is shown as text; links keep http, https and mailto URLs only; images "
        'become links. Each range [start, end) becomes one or more <mark class="cite" data-mark="i"> elements, '
        'the first with id="mark-i".',
    )
    def render(self, data: RenderIn) -> RenderOut:
        check_size(data.markdown)
        return RenderOut(render_markdown(data.markdown, data.marks).html)

    @get(
        "/collections/{name:str}/documents/{document_id:int}/html",
        operation_id="getDocumentHtml",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        sync_to_thread=True,  # CPU work: about 1.5 s a MB of text
        summary="A document's parsed text rendered as sanitised HTML, one range highlighted",
        description="start and end are character offsets into the document's parsed text (those of a citation's "
        'span or of a chunk); the range becomes <mark class="cite" data-mark="0"> elements, the first with '
        'id="mark-0".',
    )
    def document_html(
        self,
        collection: Collection,
        document_id: int,
        catalog: Catalog,
        start: Annotated[int | None, START] = None,
        end: Annotated[int | None, END] = None,
    ) -> DocumentHtml:
        marks = one_range(start, end)
        text = catalog.get_document(collection.id, document_id, with_text=True).text or ""
        rendered = render_markdown(text, marks)
        return DocumentHtml(rendered.html, rendered.marked)
