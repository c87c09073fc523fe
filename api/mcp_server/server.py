"""The platform as an MCP server (the official ``mcp`` SDK's ``MCPServer``): four tools and the documents.

Tools: ``search`` (passages with citations), ``ask`` (an answer with its citations, or an abstention and
why), ``list_collections`` and ``get_document`` (a document's parsed text, or the span a citation points
at). Each returns a typed record (:mod:`api.mcp_server.results`), which the SDK sends as structured content with
its schema and as JSON text. Documents are resources ``localrag://<collection>/<document_id>``
(:mod:`api.mcp_server.resources`). One server object serves both transports: stdio (:mod:`api.mcp_server.stdio`, for
desktop assistants) and streamable HTTP inside the REST app (:mod:`api.mcp_server.http`).

A failure the caller can fix (an unknown collection, a key that does not cover it, a bad argument) comes
back as a tool error (``isError``) whose text says what to change; the server keeps serving. Work that
waits on a model or the catalog runs on a thread: answers on :data:`api.answers.ANSWERS`, as REST answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from api.answers import ANSWERS
from api.mcp_server.access import Access
from api.mcp_server.resources import register_documents
from api.mcp_server.results import (
    AskResult,
    CollectionList,
    DocumentText,
    SearchResult,
    ask_result,
    collection_out,
    passage_out,
)
from core.errors import InvalidInputError, RAGError
from rag.platform import Platform

NAME = "localrag"
INSTRUCTIONS = (
    "Local retrieval-augmented generation over the user's document collections. Call list_collections to see "
    "them; search returns passages with their document, page and character range; ask answers a question from "
    "a collection and cites its passages as [n], or abstains and says why; get_document returns a document's "
    "text or the span (start, end) a citation points at."
)
MAX_TEXT_CHARS = 100_000  # get_document without a span: more than this is cut (read on with start/end)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

CollectionArg = Annotated[
    str | None,
    Field(description="the collection to use (list_collections names them); default: the server's or the key's"),
]


@contextmanager
def tool_errors() -> Iterator[None]:
    """The platform's errors as MCP tool errors, their message as it is (it says what to change)."""
    try:
        yield
    except RAGError as exc:
        raise ToolError(str(exc)) from exc


class Tools:
    """The tools over one platform; each resolves its collection through :class:`Access` first."""

    def __init__(self, platform: Platform, access: Access) -> None:
        self.platform = platform
        self.access = access

    async def search(
        self,
        query: Annotated[str, Field(description="what to look for, in words")],
        ctx: Context,
        collection: CollectionArg = None,
        k: Annotated[int, Field(description="how many passages to return")] = 5,
    ) -> SearchResult:
        """Search a collection: the k passages most relevant to the query (dense and BM25 retrieval fused),
        each with its document id, filename, page, character range in the document, text and score."""
        request = ctx.request_context.request
        pipeline = self.platform.query_pipeline
        with tool_errors():
            found = await anyio.to_thread.run_sync(self.access.collection, request, collection)
            result = await anyio.to_thread.run_sync(pipeline.search, found.name, query, k)
        hits = [passage_out(found.name, rank, hit) for rank, hit in enumerate(result.hits, start=1)]
        return SearchResult(found.name, query, hits)

    async def ask(
        self,
        question: Annotated[str, Field(description="the question, in words")],
        ctx: Context,
        collection: CollectionArg = None,
        k: Annotated[int, Field(description="how many passages the answer may read")] = 5,
    ) -> AskResult:
        """Answer a question from a collection. The answer cites its passages as [n]; citations say which
        document, page and characters each one is. When nothing relevant supports an answer it abstains:
        abstained is true and abstain_reason says why (then the answer says so in words)."""
        request = ctx.request_context.request
        pipeline = self.platform.query_pipeline
        with tool_errors():
            found = await anyio.to_thread.run_sync(self.access.collection, request, collection)
            prepared = await anyio.to_thread.run_sync(pipeline.prepare, found.name, question, k)
            answer = await ANSWERS.run(pipeline.answer, prepared)
        return ask_result(found.name, question, answer)

    async def list_collections(self, ctx: Context) -> CollectionList:
        """The collections this caller may read, with their numbers of documents and chunks."""
        request = ctx.request_context.request
        with tool_errors():
            return await anyio.to_thread.run_sync(self._collections, request)

    async def get_document(
        self,
        document_id: Annotated[int, Field(description="the document's id, as search and citations give it")],
        ctx: Context,
        collection: CollectionArg = None,
        start: Annotated[int | None, Field(description="first character of a span (a citation's char_start)")] = None,
        end: Annotated[int | None, Field(description="character after the span (a citation's char_end)")] = None,
    ) -> DocumentText:
        """A document's parsed text, or the span start..end of it (the character offsets that search results
        and citations give). Without a span, a long text is cut; truncated says so."""
        request = ctx.request_context.request
        with tool_errors():
            return await anyio.to_thread.run_sync(self._document, request, collection, document_id, start, end)

    def _collections(self, request: Any | None) -> CollectionList:
        store = self.platform.store
        return CollectionList([collection_out(store.collection_info(c)) for c in self.access.readable(request)])

    def _document(
        self, request: Any | None, collection: str | None, document_id: int, start: int | None, end: int | None
    ) -> DocumentText:
        found = self.access.collection(request, collection)
        doc = self.platform.store.catalog.get_document(found.id, document_id, with_text=True)
        text = doc.text or ""
        whole = start is None and end is None
        first = 0 if start is None else start
        last = min(len(text), first + MAX_TEXT_CHARS) if whole else (len(text) if end is None else end)
        if not 0 <= first <= last <= len(text):
            raise InvalidInputError(
                f"the span {first}..{last} is not inside document {document_id}, whose text has {len(text)} "
                "characters: give 0 <= start <= end <= that length"
            )
        record = doc.document
        return DocumentText(
            found.name, record.id, record.filename, record.title, record.n_pages, len(text), first, last,
            text[first:last], whole and last < len(text),
        )  # fmt: skip


def _quiet_server() -> MCPServer:
    """An ``MCPServer`` that leaves the process's logging alone.

    The SDK calls ``logging.basicConfig`` (a rich handler at INFO on the root logger) when it builds one; the
    process's logging belongs to its entry point (uvicorn and the app, the CLI), so that call is made a no-op
    by a handler present on the root logger while the server is built.
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        return MCPServer(NAME, instructions=INSTRUCTIONS)
    finally:
        root.removeHandler(placeholder)


def build_server(platform: Platform, default_collection: str | None = None) -> MCPServer:
    """The MCP server over ``platform``; ``default_collection`` serves calls that name none."""
    access = Access(platform, default_collection)
    server = _quiet_server()
    tools = Tools(platform, access)
    for tool in (tools.search, tools.ask, tools.list_collections, tools.get_document):
        server.add_tool(tool, annotations=READ_ONLY)
    register_documents(server, access)
    return server
