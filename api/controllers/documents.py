"""Documents of a collection: upload (multipart field ``files``) and listing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Parameter

from api.schemas import DocumentInfo, DocumentList, StoredDocument, UploadResponse
from api.uploads import FIELD, read_uploads
from rag.platform import Platform
from rag.store import check_collection_name


@dataclass
class UploadOperation(Operation):
    """The upload's OpenAPI operation: the body is read by :func:`read_uploads`, so it is described here."""

    def __post_init__(self) -> None:
        file_list = Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, format="binary"))
        self.request_body = RequestBody(
            required=True,
            description=f"one or more files (.txt, .md, .html, .pdf, .csv) in the field '{FIELD}'",
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT, properties={FIELD: file_list}, required=[FIELD])
                )
            },
        )


class DocumentController(Controller):
    path = "/v1/collections/{name:str}/documents"
    tags = ["documents"]

    @post(
        operation_id="uploadDocuments",
        status_code=201,
        summary="Upload documents (creates the collection if needed)",
        operation_class=UploadOperation,
    )
    async def upload(
        self,
        name: str,
        state: State,
        request: Request,
        index_spec: Annotated[
            str | None,
            Parameter(
                query="index_spec",
                description="index of a collection this upload creates, e.g. HNSW32 or Flat (default: settings)",
            ),
        ] = None,
    ) -> UploadResponse:
        platform: Platform = state.platform
        check_collection_name(name)
        uploads = await read_uploads(request, platform.settings.max_upload_bytes)
        files = [(u.filename, u.data, u.media_type) for u in uploads]
        ingest = partial(platform.ingest_pipeline.ingest_batch, name, files, index_spec)
        results = await anyio.to_thread.run_sync(ingest)
        return UploadResponse(
            collection=name,
            document_ids=[r.document_id for r in results],
            documents=[StoredDocument(r.document_id, r.filename, r.duplicate, r.n_chunks) for r in results],
        )

    @get(operation_id="listDocuments", sync_to_thread=True, summary="List the documents of a collection")
    def list_documents(self, name: str, state: State) -> DocumentList:
        platform: Platform = state.platform
        coll = platform.store.catalog.get_collection(name)
        rows = platform.store.catalog.list_documents(coll.id)
        docs = [DocumentInfo(**{**r, "created_at": r["created_at"].isoformat()}) for r in rows]
        return DocumentList(collection=name, documents=docs)
