"""Documents as MCP resources: ``localrag://<collection>/<document_id>``, listed and read as their parsed text.

Reading goes through a resource template, so any document the caller may read can be read by its URI (search
results and citations carry it). ``MCPServer`` lists only resources registered one by one, and a store's
documents come and go, so ``resources/list`` is answered here by a server middleware that lists, per call, the
documents of the collections the caller's key may read (the first :data:`MAX_LISTED` of each).
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import ListResourcesResult, Resource

from api.mcp_server.access import Access
from api.mcp_server.results import resource_uri
from core.errors import NotFoundError, RAGError

TEMPLATE = "localrag://{collection}/{document_id}"
MAX_LISTED = 1000  # documents listed per collection; the others are still read by their URI
TEXT = "text/plain"


class ListDocuments:
    """Server middleware: answers ``resources/list`` with the documents the caller may read."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "resources/list":
            return await call_next(ctx)
        return ListResourcesResult(resources=await anyio.to_thread.run_sync(self.documents, ctx.request))

    def documents(self, request: Any | None) -> list[Resource]:
        catalog = self.access.platform.store.catalog
        listed = []
        for collection in self.access.readable(request):
            for doc in catalog.list_documents(collection.id, 0, MAX_LISTED):
                listed.append(
                    Resource(
                        uri=resource_uri(collection.name, doc.id),
                        name=doc.filename,
                        title=doc.title or doc.filename,
                        description=f"{doc.filename} in collection {collection.name!r} ({doc.n_chunks} chunks)",
                        mime_type=TEXT,
                    )
                )
        return listed


def register_documents(server: MCPServer, access: Access) -> None:
    """Add the documents to ``server``: the template that reads one, and the middleware that lists them."""

    async def read_document(collection: str, document_id: str, ctx: Context) -> str:
        """A document's parsed text (the text that citations' character offsets point into)."""
        if not document_id.isdigit():
            raise ResourceNotFoundError(f"{document_id!r} is no document id: the URI is {TEMPLATE}, the id a number")
        request = ctx.request_context.request

        def text() -> str:
            found = access.collection(request, collection)
            return access.platform.store.catalog.get_document(found.id, int(document_id), with_text=True).text or ""

        try:
            return await anyio.to_thread.run_sync(text)
        except NotFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except RAGError as exc:
            raise ResourceError(str(exc)) from exc

    server.resource(TEMPLATE, name="document", description="a document's parsed text", mime_type=TEXT)(read_document)
    server.middleware.append(ListDocuments(access))
