"""Documents of a collection: upload (multipart field ``files``) and listing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, Parameter

from api.schemas import DocumentInfo, DocumentList, StoredDocument, UploadResponse
from indexes.errors import PayloadTooLargeError
from rag.platform import Platform
from rag.store import check_collection_name


@dataclass
class UploadForm:
    """One or more files in the multipart field ``files`` (.txt, .md, .html, .pdf)."""

    files: list[UploadFile]


def _read(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(
            f"{upload.filename} is larger than the {limit / 1e6:.1f} MB limit (raise RAG_MAX_UPLOAD_MB or split it)"
        )
    return data


class DocumentController(Controller):
    path = "/v1/collections/{name:str}/documents"
    tags = ["documents"]

    @post(
        operation_id="uploadDocuments",
        status_code=201,
        sync_to_thread=True,
        summary="Upload documents (creates the collection if needed)",
    )
    def upload(
        self,
        name: str,
        state: State,
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
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
        uploads = data.files if isinstance(data.files, list) else [data.files]
        if not uploads:
            raise ValidationException("send at least one file in the multipart field 'files'")
        limit = platform.settings.max_upload_bytes
        files = [(u.filename or "upload", _read(u, limit), _media_type(u)) for u in uploads]
        results = platform.ingest_pipeline.ingest_batch(name, files, index_spec)
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


def _media_type(upload: UploadFile) -> str | None:
    # Browsers and curl send application/octet-stream for unknown files: let the extension decide then.
    ct = (upload.content_type or "").split(";")[0].strip().lower()
    return None if ct in ("", "application/octet-stream") else ct
