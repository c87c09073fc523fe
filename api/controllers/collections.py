"""Collections: create (index spec, chunking), list, get (counts, model, bytes on disk), delete, compact."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.datastructures import State

from api.openapi import error_responses
from api.service_schemas import CollectionDeleted, CollectionIn, CollectionList, CollectionOut, CompactionOut
from rag.platform import Platform
from rag.store import Collection
from rag.store.lifecycle import chunking_of


def collection_out(platform: Platform, collection: Collection) -> CollectionOut:
    info = platform.store.collection_info(collection)
    tokens, overlap = chunking_of(collection, platform.settings.chunk_tokens, platform.settings.chunk_overlap)
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
    def create(self, data: CollectionIn, state: State) -> CollectionOut:
        platform: Platform = state.platform
        collection = platform.ingest_pipeline.create_collection(
            data.name, data.index_spec, data.chunk_tokens, data.chunk_overlap, data.shards
        )
        return collection_out(platform, collection)

    @get(
        operation_id="listCollections",
        responses=error_responses(400, 401, 403, 500),
        sync_to_thread=True,
        summary="List the collections with their counts",
    )
    def list_collections(self, state: State) -> CollectionList:
        platform: Platform = state.platform
        return CollectionList([collection_out(platform, c) for c in platform.store.catalog.list_collections()])

    @get(
        "/{name:str}",
        operation_id="getCollection",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        sync_to_thread=True,
        summary="A collection's settings and size",
    )
    def get_collection(self, name: str, state: State) -> CollectionOut:
        platform: Platform = state.platform
        return collection_out(platform, platform.store.catalog.get_collection(name))

    @delete(
        "/{name:str}",
        operation_id="deleteCollection",
        responses=error_responses(400, 401, 403, 404, 409, 422, 500),
        status_code=200,
        sync_to_thread=True,
        summary="Delete a collection, its documents and its files",
    )
    def delete_collection(self, name: str, state: State) -> CollectionDeleted:
        platform: Platform = state.platform
        collection = platform.store.catalog.get_collection(name)
        with platform.ingest_jobs.deleting(collection):  # 409 while a job is queued or running on it
            deleted = CollectionDeleted(name, platform.store.delete_collection(collection))
        platform.keys.forget()  # its keys went with it
        return deleted

    @post(
        "/{name:str}/compact",
        operation_id="compactCollection",
        responses=error_responses(400, 401, 403, 404, 422, 500, 503),
        status_code=200,
        sync_to_thread=True,
        summary="Reclaim the space of deleted documents now (merges runs, drops BM25 tombstones)",
    )
    def compact(self, name: str, state: State) -> CompactionOut:
        platform: Platform = state.platform
        c = platform.store.compact(platform.store.catalog.get_collection(name))
        return CompactionOut(name, c.bytes_before, c.bytes_after, c.merges, c.lexical_compacted)
