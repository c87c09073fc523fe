"""Documents of a collection: upload as a job (multipart field ``files``), list, get, delete, replace."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Parameter

from api.auth import request_grant
from api.controllers.jobs import job_out
from api.openapi import error_responses
from api.schemas import AttachmentOut, DocumentInfo, DocumentList, StoredDocument, UploadResponse
from api.service_schemas import ChunkOut, DocumentDeleted, DocumentDetail, FileOut, UploadAccepted
from api.uploads import FIELD, PASSWORD_FIELD, read_uploads
from ingest.parse import SUPPORTED_TYPES
from rag.jobs import Job, failed_upload_error
from rag.platform import Platform
from rag.store import Catalog, ChunkRecord, Collection, DocumentRecord, DocumentWithChunks, Store


@dataclass
class UploadOperation(Operation):
    """The upload's OpenAPI operation: the body is read by :func:`read_uploads`, so it is described here."""

    def __post_init__(self) -> None:
        file_list = Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, format="binary"))
        password = Schema(
            type=OpenAPIType.STRING,
            description="opens encrypted Office files of the upload; kept in memory for the job only, never stored",
        )
        self.request_body = RequestBody(
            required=True,
            description=f"one or more files ({', '.join(sorted(SUPPORTED_TYPES))}) in the field '{FIELD}', "
            f"and optionally the field '{PASSWORD_FIELD}'",
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties={FIELD: file_list, PASSWORD_FIELD: password},
                        required=[FIELD],
                    )
                )
            },
        )


WAIT = Parameter(
    query="wait",
    description="true: answer when the job has ended (201 with the stored documents) instead of at once (202)",
)
INDEX_SPEC = Parameter(
    query="index_spec", description="index of a collection this upload creates, e.g. HNSW32 or Flat (default: settings)"
)


WAIT_POLL_SECONDS = 0.05  # how often a wait=true upload looks whether its job has ended
MAX_OFFSET = 2**63 - 1  # the catalog's ids are 64-bit: no collection has more documents to skip

SYNCHRONOUS = ResponseSpec(
    data_container=UploadResponse, description="with wait=true: the job has ended and every file is stored"
)


async def submit_upload(platform: Platform, request: Request, name: str, wait: bool, **how) -> Response:
    """Read the request's files and submit their ingest job (``how``: index_spec, replace); 202 at once, or
    with ``wait`` the job's outcome."""
    form = await read_uploads(request, platform.settings.max_upload_bytes)
    files = [(u.filename, u.data, u.media_type) for u in form.files]
    grant = request_grant(request)  # checked again against the collection the name names once the body is read
    submit = platform.ingest_jobs.submit
    job = await anyio.to_thread.run_sync(lambda: submit(name, files, grant=grant, password=form.password, **how))
    return await finished(platform, job) if wait else accepted(job)


def accepted(job: Job) -> Response[UploadAccepted]:
    files = [msgspec.convert(f, FileOut) for f in job.as_dict()["files"]]
    body = UploadAccepted(job.id, job.status, job.collection, f"/v1/jobs/{job.id}", f"/v1/jobs/{job.id}/events", files)
    return Response(body, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


async def finished(platform: Platform, job: Job) -> Response:
    """Wait for ``job`` to end; its stored documents (201), or an error naming each failed file."""
    # Polled, not waited for on a thread: a job takes seconds to minutes, and a thread held all that time per
    # waiting upload would starve the handlers that share the pool. The runner updates this same object.
    job = platform.jobs.get(job.id)
    while not job.final:
        await asyncio.sleep(WAIT_POLL_SECONDS)
    if job.status == "failed":
        raise failed_upload_error(job)
    docs = [
        StoredDocument(
            f.document_id,
            f.filename,
            f.state == "duplicate",
            f.n_chunks or 0,
            msgspec.convert(f.attachments, list[AttachmentOut]),
        )
        for f in job.files
    ]
    body = UploadResponse(job.collection, [d.id for d in docs], docs, job.id)
    return Response(body, status_code=201)


def document_info(doc: DocumentRecord) -> DocumentInfo:
    """The response shape of a listed document."""
    return DocumentInfo(
        id=doc.id,
        filename=doc.filename,
        media_type=doc.media_type,
        sha256=doc.sha256,
        size_bytes=doc.size_bytes,
        title=doc.title,
        n_pages=doc.n_pages,
        n_chunks=doc.n_chunks,
        created_at=doc.created_at.isoformat(),
        parent_id=doc.parent_id,
    )


def chunk_out(chunk: ChunkRecord) -> ChunkOut:
    """The response shape of a document's chunk (its repeated header's length stays inside the server)."""
    return ChunkOut(
        id=chunk.id,
        ord=chunk.ord,
        text=chunk.text,
        page=chunk.page,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        heading_path=list(chunk.heading_path),
        n_tokens=chunk.n_tokens,
        location=chunk.location,
        ocr_confidence=chunk.ocr_confidence,
    )


def document_detail(found: DocumentWithChunks) -> DocumentDetail:
    """The response shape of one document: its listed fields, its chunks, and its text where it was asked for."""
    doc = found.document
    return DocumentDetail(
        **msgspec.structs.asdict(document_info(doc)), chunks=[chunk_out(c) for c in found.chunks], text=found.text
    )


class DocumentController(Controller):
    path = "/v1/collections/{name:str}/documents"
    tags = ["documents"]

    @post(
        operation_id="uploadDocuments",
        responses={**error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500), 201: SYNCHRONOUS},
        summary="Upload documents as a background ingest job (creates the collection if needed)",
        description="Answers 202 once every file is checked and saved; follow the job at status_url or events_url. "
        "With wait=true it answers when the job has ended: 201 with the documents, or an error naming each file "
        "that failed (the others are stored).",
        operation_class=UploadOperation,
        request_max_body_size=None,  # read_uploads applies the upload's own limit, with its own message
        status_code=202,
    )
    async def upload(
        self,
        name: str,
        platform: Platform,
        request: Request,
        index_spec: Annotated[str | None, INDEX_SPEC] = None,
        wait: Annotated[bool, WAIT] = False,
    ) -> Response[UploadAccepted]:
        return await submit_upload(platform, request, name, wait, index_spec=index_spec)

    @get(
        operation_id="listDocuments",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        sync_to_thread=True,
        summary="List the documents of a collection, a page at a time",
    )
    def list_documents(
        self,
        collection: Collection,
        catalog: Catalog,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="documents to skip (by id order)")] = 0,
        limit: Annotated[int, Parameter(ge=1, le=1000, description="page size")] = 100,
    ) -> DocumentList:
        docs = [document_info(d) for d in catalog.list_documents(collection.id, offset, limit)]
        total = catalog.count("documents", collection.id)
        return DocumentList(collection=collection.name, documents=docs, total=total, offset=offset, limit=limit)

    @get(
        "/{document_id:int}",
        operation_id="getDocument",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        sync_to_thread=True,
        summary="A document and its chunks",
    )
    def get_document(
        self,
        collection: Collection,
        document_id: int,
        catalog: Catalog,
        text: Annotated[bool, Parameter(description="include the parsed text the chunks' offsets point into")] = False,
    ) -> DocumentDetail:
        return document_detail(catalog.get_document(collection.id, document_id, with_text=text))

    @delete(
        "/{document_id:int}",
        operation_id="deleteDocument",
        responses=error_responses(400, 401, 403, 404, 422, 500, 503),
        status_code=200,
        sync_to_thread=True,
        summary="Delete a document: gone from the catalog, BM25 and the vector index at once",
    )
    def delete_document(
        self, collection: Collection, document_id: int, catalog: Catalog, store: Store
    ) -> DocumentDeleted:
        catalog.get_document(collection.id, document_id)  # 404 for a document that is not there
        attached = catalog.with_attachments(collection.id, [document_id])
        deleted = store.delete_documents(collection, [document_id])  # with its attachments
        return DocumentDeleted(collection.name, document_id, deleted, [d for d in attached if d != document_id])

    @put(
        "/{document_id:int}",
        operation_id="replaceDocument",
        responses={**error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500), 201: SYNCHRONOUS},
        summary="Replace a document by one uploaded file (the old one is deleted once the new one is stored)",
        operation_class=UploadOperation,
        request_max_body_size=None,  # read_uploads applies the upload's own limit, with its own message
        status_code=202,
    )
    async def replace(
        self, name: str, document_id: int, platform: Platform, request: Request, wait: Annotated[bool, WAIT] = False
    ) -> Response[UploadAccepted]:
        return await submit_upload(platform, request, name, wait, replace=document_id)


__all__ = ["DocumentController", "job_out"]
