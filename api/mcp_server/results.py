"""What the MCP tools return: typed records the SDK turns into structured content (with its JSON schema) and text.

They are the MCP face of the pipeline's records (:mod:`rag.pipeline`), as ``api/schemas.py`` is their REST
face: every passage and citation names its document (id and filename), its page, and the characters of the
document's parsed text it covers, so a client can fetch that span with ``get_document`` and quote it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.pipeline import Answer, Citation, Hit
from rag.store.lifecycle import CollectionInfo


@dataclass
class PassageOut:
    """A retrieved passage: ``text`` is ``char_start``..``char_end`` of document ``document_id``'s parsed text."""

    rank: int  # 1 = best
    document_id: int
    filename: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    score: float
    resource: str  # the document as an MCP resource (localrag://collection/document_id)
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" where the format has no pages


@dataclass
class SearchResult:
    collection: str
    query: str
    passages: list[PassageOut]


@dataclass
class CitationOut:
    """A passage an answer cites as ``[number]``; ``how`` says how the citation was set (rag.pipeline.citations)."""

    number: int
    document_id: int
    filename: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    score: float
    how: str
    resource: str
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" where the format has no pages
    ocr: bool = False  # the passage's text was read by OCR


@dataclass
class AskResult:
    """An answer with its citations, or an abstention: ``abstained`` true, ``abstain_reason`` saying why."""

    collection: str
    question: str
    answer: str
    citations: list[CitationOut]
    abstained: bool
    abstain_reason: str | None
    mode: str


@dataclass
class CollectionOut:
    name: str
    documents: int
    chunks: int
    embed_model: str
    index_spec: str


@dataclass
class CollectionList:
    collections: list[CollectionOut]


@dataclass
class DocumentText:
    """A document's parsed text, or the span ``start``..``end`` of it (the offsets citations use)."""

    collection: str
    document_id: int
    filename: str
    title: str | None
    n_pages: int | None
    length: int  # characters of the whole parsed text
    start: int
    end: int
    text: str  # text[start:end] of the parsed text
    truncated: bool  # the whole text was asked for but is longer: read on with start/end


def resource_uri(collection: str, document_id: int) -> str:
    return f"localrag://{collection}/{document_id}"


def passage_out(collection: str, rank: int, hit: Hit) -> PassageOut:
    c = hit.chunk
    assert c is not None  # the pipeline reads the rows of the hits it returns
    return PassageOut(
        rank, c.document_id, c.filename, c.page, c.char_start, c.char_end, c.text, float(hit.score),
        resource_uri(collection, c.document_id), c.location,
    )  # fmt: skip


def citation_out(collection: str, c: Citation) -> CitationOut:
    return CitationOut(
        c.number, c.document_id, c.filename, c.page, c.char_start, c.char_end, c.text, float(c.score), c.how,
        resource_uri(collection, c.document_id), c.location, c.ocr,
    )  # fmt: skip


def ask_result(collection: str, question: str, answer: Answer) -> AskResult:
    citations = [citation_out(collection, c) for c in answer.citations]
    return AskResult(
        collection, question, answer.answer, citations, answer.abstained, answer.abstain_reason, answer.mode
    )


def collection_out(info: CollectionInfo) -> CollectionOut:
    c = info.collection
    return CollectionOut(c.name, info.documents, info.chunks, c.embed_model, c.index_spec)
