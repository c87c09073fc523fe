"""Store facade: one object that owns the catalog and each collection's vectors.

Write order for a document: chunk ids are allocated, vectors are published
(segment + index + manifest), and only then are the document and chunk rows
committed in one transaction. A crash in between leaves vectors whose ids have
no chunk row; searches drop such ids, so a reader never sees a chunk without
its vector or a half-written document.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from indexes import parse_spec
from indexes.errors import DimensionMismatchError, InvalidInputError
from rag.store.catalog import CHUNK_SCHEMA, Catalog, Collection
from rag.store.vectors import VectorStore


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as returned by search, with its document's identity and its score."""

    chunk_id: int
    document_id: int
    filename: str
    title: str | None
    ord: int
    text: str
    page: int | None
    char_start: int
    char_end: int
    heading_path: tuple[str, ...]
    score: float


class Store:
    """Everything under ``data_dir``: ``catalog.duckdb`` and ``collections/<id>/``."""

    def __init__(self, data_dir: Path, default_index_spec: str = "HNSW32") -> None:
        self.data_dir = Path(data_dir)
        self.default_index_spec = default_index_spec
        self.catalog = Catalog(self.data_dir / "catalog.duckdb")
        self._vectors: dict[int, VectorStore] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.catalog.close()

    # -- collections ------------------------------------------------------
    def get_or_create_collection(
        self, name: str, dim: int, embed_model: str, metric: str = "cosine", index_spec: str | None = None
    ) -> Collection:
        with self._write_lock:
            found = self.catalog.find_collection(name)
            if found is not None:
                if found.dim != dim:
                    raise DimensionMismatchError(
                        f"collection {name!r} holds {found.dim}-d vectors from {found.embed_model}; "
                        f"these are {dim}-d: use another collection"
                    )
                if index_spec and parse_spec(index_spec) != parse_spec(found.index_spec):
                    raise InvalidInputError(
                        f"collection {name!r} already uses index {found.index_spec!r}; leave index_spec out "
                        f"or create a new collection for {index_spec!r}"
                    )
                return found
            spec = parse_spec(index_spec or self.default_index_spec).spec()
            return self.catalog.create_collection(name, spec, metric, dim, embed_model)

    def vectors(self, collection: Collection) -> VectorStore:
        with self._lock:
            vs = self._vectors.get(collection.id)
            if vs is None:
                vs = VectorStore(
                    self.data_dir / "collections" / str(collection.id),
                    collection.dim,
                    collection.metric,
                    collection.index_spec,
                )
                self._vectors[collection.id] = vs
            return vs

    # -- documents --------------------------------------------------------
    def add_document(self, collection: Collection, doc: dict, chunks: list, vectors: np.ndarray) -> int:
        """Store a parsed document, its chunks and their vectors; return the new document id.

        Args:
            doc: document fields (filename, media_type, sha256, size_bytes, title, n_pages, text).
            chunks: ``ingest.chunk.Chunk`` objects, in order.
            vectors: float32 (len(chunks), dim), one per chunk.
        """
        if vectors.shape[0] != len(chunks):
            raise ValueError(f"{len(chunks)} chunks but {vectors.shape[0]} vectors")
        with self._write_lock:
            doc_id = self.catalog.allocate_ids("document_ids", 1)[0]
            chunk_ids = self.catalog.allocate_ids("chunk_ids", len(chunks)) if chunks else []
            if chunks:
                self.vectors(collection).append(vectors, np.asarray(chunk_ids, dtype=np.int64))
            table = pa.table(
                {
                    "id": chunk_ids,
                    "document_id": [doc_id] * len(chunks),
                    "collection_id": [collection.id] * len(chunks),
                    "ord": [c.ord for c in chunks],
                    "text": [c.text for c in chunks],
                    "page": [c.page for c in chunks],
                    "char_start": [c.start for c in chunks],
                    "char_end": [c.end for c in chunks],
                    "heading_path": [list(c.heading_path) for c in chunks],
                    "n_tokens": [c.n_tokens for c in chunks],
                },
                schema=CHUNK_SCHEMA,
            )
            self.catalog.insert_document(dict(doc, id=doc_id, collection_id=collection.id, n_chunks=len(chunks)), table)
        return doc_id

    # -- search -----------------------------------------------------------
    def search(self, collection: Collection, query_vectors: np.ndarray, k: int, **params) -> list[list[StoredChunk]]:
        """Top-k chunks for each float32 (n, dim) query vector, best first."""
        result = self.vectors(collection).search(query_vectors, k, **params)
        wanted = sorted({int(i) for i in result.ids.ravel() if i >= 0})
        rows = self.catalog.chunks_by_id(wanted)
        out = []
        for ids, scores in zip(result.ids, result.scores):
            hits = []
            for cid, score in zip(ids, scores):
                row = rows.get(int(cid))
                if row is None:  # -1 padding, or a vector whose catalog rows never committed
                    continue
                hits.append(
                    StoredChunk(
                        chunk_id=row["id"],
                        document_id=row["document_id"],
                        filename=row["filename"],
                        title=row["title"],
                        ord=row["ord"],
                        text=row["text"],
                        page=row["page"],
                        char_start=row["char_start"],
                        char_end=row["char_end"],
                        heading_path=tuple(row["heading_path"] or ()),
                        score=float(score),
                    )
                )
            out.append(hits)
        return out
