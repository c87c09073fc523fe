"""Request and response shapes of the REST API (msgspec Structs, documented in OpenAPI)."""

from __future__ import annotations

from typing import Any

import msgspec

from rag.pipeline import Answer, Citation, Passage
from rag.pipeline.reading import SpanAnswer
from rag.pipeline.support import SentenceSupport
from rag.pipeline.tool_calls import ToolCall


class RetrievalFields(msgspec.Struct, forbid_unknown_fields=True):
    """Per-request retrieval switches; a field left out takes the server's default."""

    fusion: str | None = None  # "rrf" | "convex" | "dense" | "bm25"
    hyde: bool | None = None  # search with a hypothetical passage written by the local model
    rerank: bool | str | None = None  # true: the default reranker; a name picks one; false: none
    candidates: int | None = None  # chunks each retriever returns before fusion and reranking


class SearchRequest(RetrievalFields, kw_only=True, forbid_unknown_fields=True):
    query: str
    k: int = 10


class QueryRequest(RetrievalFields, kw_only=True, forbid_unknown_fields=True):
    question: str
    k: int = 5
    # how the answer is found: "reader" (default: the trained span reader, no generation) | "auto" | "passages" |
    # "focus" | "extract" (written by the local model)
    mode: str | None = None
    tools: bool | list[str] | None = None  # tools the model may call: true (all), false (none), or names
    abstain: bool | None = None  # say "cannot answer" when nothing relevant or supported is found (default true)
    context: str | None = None  # "prompt" (default) | "retro": passages in the prompt, or through the CCA retrofit
    stream: bool = False  # true: Server-Sent Events (tokens, then citations, support marks, the whole response)


class AttachmentOut(msgspec.Struct):
    """What became of one attachment of an uploaded message (an e-mail's file)."""

    filename: str  # "MESSAGE/ATTACHMENT"
    state: str  # done | duplicate (stored: a document of its own, linked to the message) | skipped
    document_id: int | None = None
    n_chunks: int | None = None
    reason: str | None = None  # why it was skipped (its type is not read, OCR is not installed, ...)


class StoredDocument(msgspec.Struct):
    id: int
    filename: str
    duplicate: bool
    n_chunks: int
    attachments: list[AttachmentOut] = []  # a message's attachments, stored as documents of their own or skipped


class UploadResponse(msgspec.Struct):
    collection: str
    document_ids: list[int]
    documents: list[StoredDocument]
    job_id: int | None = None


class DocumentInfo(msgspec.Struct):
    id: int
    filename: str
    media_type: str
    sha256: str
    size_bytes: int
    title: str | None
    n_pages: int | None
    n_chunks: int
    created_at: str
    parent_id: int | None = None  # the document (an e-mail) this one was attached to; null: uploaded itself


class DocumentList(msgspec.Struct):
    collection: str
    documents: list[DocumentInfo]
    total: int = 0  # documents in the collection
    offset: int = 0
    limit: int = 0


class Hit(msgspec.Struct):
    chunk_id: int
    document_id: int
    filename: str
    page: int | None
    char_start: int
    char_end: int
    heading_path: list[str]
    text: str
    score: float  # the final score: fused (rrf, convex), reranked, or the one retriever's
    dense_score: float | None = None  # cosine similarity, when the dense retriever found it
    bm25_score: float | None = None  # BM25 score, when the lexical retriever found it
    rerank_score: float | None = None
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" where the format has no pages
    ocr_confidence: float | None = None  # 0-100: the text was read by OCR with this mean word confidence


class SearchResponse(msgspec.Struct):
    collection: str
    results: list[Hit]
    timings: dict[str, float]  # seconds per stage that ran: hyde, embed, dense, bm25, fuse, rerank


class CitationOut(msgspec.Struct):
    number: int
    document_id: int
    filename: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    score: float
    how: str  # marker | corrected | support | unsupported | attended | reader
    # mode "reader": the span's characters in the document (null where the span lies in a table header repeated
    # into the passage), the sentence that holds it, and the span's place in that sentence:
    # quote[quote_span_start:quote_span_end] is the span
    span_start: int | None = None
    span_end: int | None = None
    quote: str | None = None
    quote_span_start: int | None = None
    quote_span_end: int | None = None
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" where the format has no pages
    ocr: bool = False  # the passage's text was read by OCR (from a scan or an image)
    ocr_confidence: float | None = None  # its page's mean word confidence (0-100), when ocr


class SpanOut(msgspec.Struct):
    """Mode "reader": the span the reader found (the answer, or when it abstains the closest candidate)."""

    passage: int  # the passage it lies in (its number)
    text: str  # the span as the passage has it
    start: int  # characters of the span in the passage's text
    end: int
    sentence_start: int  # characters of the sentence that holds it, in the passage's text
    sentence_end: int
    margin: float  # span score minus the passage's "no answer" score: under the threshold, it abstains
    confidence: float  # calibrated probability that the span answers the question


class SentenceOut(msgspec.Struct):
    """One sentence of the answer and the evidence for it."""

    start: int  # character offsets in the answer
    end: int
    text: str  # without its markers
    supported: bool  # a passage supports it (model score or a word-for-word quote)
    score: float  # the support model's score for ``passage`` (MaxSim; supported from 0.632)
    quote: float  # share of the sentence's words that ``passage`` holds word for word
    passage: int | None  # the passage that supports it best
    cited: list[int]  # passage numbers its markers cite (after correction)
    how: str  # marker | corrected | support | reader | none
    # unsupported: number not in sources | term not in sources: <term> | no passage supports it | no passages
    reason: str | None = None


class PassageOut(msgspec.Struct):
    """A passage the answer was written from (or, when it abstains, one of the closest found)."""

    number: int
    chunk_id: int  # -1 for a tool result
    document_id: int  # -1 for a tool result that has no source document
    filename: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    score: float
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" where the format has no pages
    ocr_confidence: float | None = None  # 0-100: the text was read by OCR with this mean word confidence


class ToolCallOut(msgspec.Struct):
    name: str
    arguments: dict
    result: str | None  # what the model read; None when the call failed
    value: Any = None  # the result as JSON (numbers, rows ...), or null (Any: ``object | None`` documents a bad oneOf)
    error: str | None = None


class QueryResponse(msgspec.Struct):
    answer: str
    citations: list[CitationOut]
    timings: dict[str, float]  # seconds per stage that ran, generate included
    usage: dict[str, int]
    sentences: list[SentenceOut] = []
    abstained: bool = False
    abstain_reason: str | None = None  # no_relevant_passage | unsupported | no_passages | no_answer_found
    tool_calls: list[ToolCallOut] = []
    passages: list[PassageOut] = []
    # how the answer was found: reader | passages | focus | extract (mode auto answers in focus or extract) |
    # free (context retro) | none (abstained before answering)
    mode: str = "passages"
    relevance: float | None = None  # best sentence's relevance to the question (compared for abstention); null: reader
    context: str = "prompt"  # how the passages entered the model: prompt | retro
    span: SpanOut | None = None  # mode "reader": the span that answers (or, abstaining, the closest one)


class ErrorBody(msgspec.Struct):
    code: str  # stable snake_case name to branch on: not_found, validation_error, busy, internal_error, ...
    message: str  # a sentence saying what to change
    # Specifics: an object (e.g. the failed job), the list of bad body fields, or null when there are none.
    # Typed as exactly these (not ``object``): ``object | None`` is documented as oneOf [{}, null], which null
    # matches twice, so no error body with "detail": null would conform to the document.
    detail: dict[str, Any] | list[Any] | None = None


class ErrorResponse(msgspec.Struct):
    """Every error response: ``{"error": {"code", "message", "detail"}}``."""

    error: ErrorBody


# -- the typed answer of rag.pipeline as the /query response ----------------------------------------------------
# The REST shape lives here, not in rag: the pipeline's Answer is plain typed data, read field by field.


def query_response(answer: Answer) -> QueryResponse:
    """The /query response of a pipeline answer (also the ``done`` event of a streamed one)."""
    return QueryResponse(
        answer=answer.answer,
        citations=[citation_out(c) for c in answer.citations],
        timings=answer.timings.as_dict(),
        usage={"prompt_tokens": answer.usage.prompt_tokens, "generated_tokens": answer.usage.generated_tokens},
        sentences=[sentence_out(s) for s in answer.sentences],
        abstained=answer.abstained,
        abstain_reason=answer.abstain_reason,
        tool_calls=[tool_call_out(c) for c in answer.tool_calls],
        passages=[passage_out(p) for p in answer.passages],
        mode=answer.mode,
        relevance=None if answer.relevance is None else float(answer.relevance),
        context=answer.context,
        span=None if answer.span is None else span_out(answer.span),
    )


def citation_out(c: Citation) -> CitationOut:
    return CitationOut(
        number=c.number,
        document_id=c.document_id,
        filename=c.filename,
        page=c.page,
        char_start=c.char_start,
        char_end=c.char_end,
        text=c.text,
        score=float(c.score),
        how=c.how,
        span_start=c.span_start,
        span_end=c.span_end,
        quote=c.quote,
        quote_span_start=c.quote_span_start,
        quote_span_end=c.quote_span_end,
        location=c.location,
        ocr=c.ocr,
        ocr_confidence=c.ocr_confidence,
    )


def sentence_out(s: SentenceSupport) -> SentenceOut:
    return SentenceOut(
        start=s.start,
        end=s.end,
        text=s.text,
        supported=s.supported,
        score=float(s.score),
        quote=float(s.quote),
        passage=s.passage,
        cited=list(s.cited),
        how=s.how,
        reason=s.reason,
    )


def tool_call_out(c: ToolCall) -> ToolCallOut:
    result = c.result
    return ToolCallOut(
        name=c.name,
        arguments=c.arguments,
        result=None if result is None else result.text,
        value=None if result is None else result.value,
        error=c.error,
    )


def passage_out(p: Passage) -> PassageOut:
    c = p.chunk
    return PassageOut(
        number=p.number,
        chunk_id=c.chunk_id,
        document_id=c.document_id,
        filename=c.filename,
        page=c.page,
        char_start=c.char_start,
        char_end=c.char_end,
        text=c.text,
        score=float(c.score),
        location=c.location,
        ocr_confidence=c.ocr_confidence,
    )


def span_out(s: SpanAnswer) -> SpanOut:
    return SpanOut(
        passage=s.passage,
        text=s.text,
        start=s.start,
        end=s.end,
        sentence_start=s.sentence_start,
        sentence_end=s.sentence_end,
        margin=float(s.margin),
        confidence=float(s.confidence),
    )
