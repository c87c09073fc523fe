"""Collections: create (index spec, chunking), list, get (counts, model, bytes on disk), delete, compact."""

from __future__ import annotations

from litestar import Controller, delete, get, post

from api.openapi import error_responses
from api.service_schemas import CollectionDeleted, CollectionIn, CollectionList, CollectionOut, CompactionOut
from rag.access import Keys
from rag.jobs import IngestJobs
from rag.pipeline import IngestPipeline
from rag.settings import Settings
from rag.store import Catalog, Collection, Store
from rag.store.lifecycle import CollectionInfo, chunking_of


def collection_out(info: CollectionInfo, settings: Settings) -> CollectionOut:
    """The response shape of a collection: its settings (the server's chunking where it has none) and size."""
    collection = info.collection
    tokens, overlap = chunking_of(collection, settings.chunk_tokens, settings.chunk_overlap)
    return CollectionOut(
        name=collection.name,
        index_spec=collection.index_spec,
        metric=collection.metric,
        embed_model=collection.embed_model,
        dim=collection.dim,
        chunk_tokens=tokens,
        chunk_overlap=overlap,
        shards=collection.shards,
        documents=info.documents,
        chunks=info.chunks,
        bytes_on_disk=info.bytes_on_disk,
        created_at=info.created_at.isoformat(),
    )


class CollectionController(Controller):
    path = "/v1/collections"
    tags = ["collections"]

    @post(
        operation_id="createCollection",
        responses=error_responses(400, 401, 403, 409, 413, 415, 422, 500),
        status_code=201,
        sync_to_thread=True,
        summary="Create an empty collection",
    )
    def create(
        self, data: CollectionIn, ingest_pipeline: IngestPipeline, store: Store, settings: Settings
    ) -> CollectionOut:
        collection = ingest_pipeline.create_collection(
            data.name, data.index_spec, data.chunk_tokens, data.chunk_overlap, data.shards
        )
        return collection_out(store.collection_info(collection), settings)

    @get(
        operation_id="listCollections",
        responses=error_responses(400, 401, 403, 500),
        sync_to_thread=True,
        summary="List the collections with their counts",
    )
    def list_collections(self, catalog: Catalog, store: Store, settings: Settings) -> CollectionList:
        return CollectionList([collection_out(store.collection_info(c), settings) for c in catalog.list_collections()])

    @get(
        "/{name:str}",
        operation_id="getCollection",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        sync_to_thread=True,
        summary="A collection's settings and size",
    )
    def get_collection(self, collection: Collection, store: Store, settings: Settings) -> CollectionOut:
        return collection_out(store.collection_info(collection), settings)

    @delete(
        "/{name:str}",
        operation_id="deleteCollection",
        responses=error_responses(400, 401, 403, 404, 409, 422, 500),
        status_code=200,
        sync_to_thread=True,
        summary="Delete a collection, its documents and its files",
    )
    def delete_collection(
        self, collection: Collection, store: Store, ingest_jobs: IngestJobs, keys: Keys
    ) -> CollectionDeleted:
        with ingest_jobs.deleting(collection):  # 409 while a job is queued or running on it
            deleted = CollectionDeleted(collection.name, store.delete_collection(collection))
        keys.forget()  # its keys went with it
        return deleted

    @post(
        "/{name:str}/compact",
        operation_id="compactCollection",
        responses=error_responses(400, 401, 403, 404, 422, 500, 503),
        status_code=200,
        sync_to_thread=True,
        summary="Reclaim the space of deleted documents now (merges runs, drops BM25 tombstones)",
    )
    def compact(self, collection: Collection, store: Store) -> CompactionOut:
        c = store.compact(collection)
        return CompactionOut(collection.name, c.bytes_before, c.bytes_after, c.merges, c.lexical_compacted)
