"""Store facade: one object that owns the catalog and each collection's vectors.

Write order for a batch of documents: chunk ids are allocated, the vectors of
all of them are published as one run (segment + index + manifest switch), and
only then are the document and chunk rows committed in one transaction. A
reader never sees a chunk without its vector or a half-written document. A
failed commit removes the vectors it published at once; a crash in between
leaves vectors whose ids have no chunk row, which searches skip and
:meth:`Store.repair` (run when a platform opens the store) removes, so they
never take the place of real results.

Documents are unique per collection by content (sha256): the check and the
insert happen under one lock, so concurrent uploads of the same bytes store
one document and report the others as duplicates.

Each collection also has a BM25 index over its chunks (:meth:`Store.search_text`),
published with the vectors in the same manifest switch; its terms come from the
analyzer named in the manifest (:mod:`ingest.lexical`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import InvalidInputError, MissingDependencyError
from indexes import parse_spec
from indexes.errors import DimensionMismatchError
from indexes.lexical import BM25Index
from ingest.lexical import Analyzer, analyzer_for
from rag.store.catalog import Catalog, Collection
from rag.store.lifecycle import CollectionLifecycle, check_index_choice
from rag.store.records import AddedDocument, DocumentToAdd, NewDocument, catalog_rows
from rag.store.search import StoreSearch
from rag.store.tables import StoredTable, list_tables, save_tables
from rag.store.vectors import VectorStore

log = logging.getLogger(__name__)

_LEXICAL_BATCH = 4096  # chunks analysed at a time when a lexical index is rebuilt from the catalog


def lexical_text(text: str, title: str | None) -> str:
    """What BM25 indexes for a chunk: its document's title, then its text.

    BEIR's BM25 baselines index title + text, and a title's words describe every
    chunk of its document, so each chunk carries the title once.
    """
    return f"{title}\n{text}" if title else text


class Store(CollectionLifecycle, StoreSearch):
    """Everything under ``data_dir``: ``catalog.duckdb`` and ``collections/<id>/``.

    Args:
        open_sharded: opens the vector store of a collection split over shards
            (``Collection.shards > 1``; :func:`rag.distributed.vectors.sharded_opener`, given
            when the platform runs with Ray). Without it such collections cannot be created
            or opened, and every other collection works as usual.
    """

    def __init__(
        self,
        data_dir: Path,
        default_index_spec: str = "HNSW32",
        open_sharded: Callable[[Path, Collection], VectorStore] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.default_index_spec = default_index_spec
        self.open_sharded = open_sharded
        self.catalog = Catalog(self.data_dir / "catalog.duckdb")
        self._vectors: dict[int, VectorStore] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.analyzer: Analyzer = analyzer_for(Analyzer.name)  # for collections without a lexical index yet

    def close(self) -> None:
        """Close the collections' vector stores (merges in flight finish; shard actors stop), then the catalog."""
        with self._lock:
            stores, self._vectors = list(self._vectors.values()), {}
        for vs in stores:
            vs.close()
        self.catalog.close()

    # -- collections ------------------------------------------------------
    def get_or_create_collection(
        self, name: str, dim: int, embed_model: str, metric: str = "cosine", index_spec: str | None = None
    ) -> Collection:
        """The collection ``name``, created with ``index_spec`` (or the default) if missing."""
        with self._write_lock:
            found = self.catalog.find_collection(name)
            if found is not None:
                if found.dim != dim:
                    raise DimensionMismatchError(
                        f"collection {name!r} holds {found.dim}-d vectors from {found.embed_model}; "
                        f"these are {dim}-d: use another collection"
                    )
                check_index_choice(found, index_spec)
                return found
            spec = parse_spec(index_spec or self.default_index_spec).spec()
            return self.catalog.create_collection(name, spec, metric, dim, embed_model)

    def vectors(self, collection: Collection) -> VectorStore:
        """The collection's vectors and BM25 index (opened on first use, then kept)."""
        with self._lock:
            vs = self._vectors.get(collection.id)
            if vs is None:
                root = self.data_dir / "collections" / str(collection.id)
                if collection.shards > 1:
                    if self.open_sharded is None:
                        raise MissingDependencyError(
                            f"collection {collection.name!r} is split over {collection.shards} shards that Ray "
                            "actors serve, and this process runs without Ray: start it with RAG_RAY_ADDRESS set "
                            "('local', or the address of the cluster)"
                        )
                    vs = self.open_sharded(root, collection)
                else:
                    vs = VectorStore(root, collection.dim, collection.metric, collection.index_spec)
                self._vectors[collection.id] = vs
            return vs

    # -- documents --------------------------------------------------------
    def add_document(
        self,
        collection: Collection,
        doc: NewDocument,
        chunks: list,
        vectors: np.ndarray,
        embed_model: str | None = None,
    ) -> AddedDocument:
        """Store one parsed document, its chunks and their vectors (see :meth:`add_documents`)."""
        return self.add_documents(collection, [DocumentToAdd(doc, chunks, vectors)], embed_model)[0]

    def add_documents(
        self, collection: Collection, docs: list[DocumentToAdd], embed_model: str | None = None
    ) -> list[AddedDocument]:
        """Store parsed documents, their chunks and vectors, in one append and one catalog transaction.

        A document whose bytes (sha256) the collection already holds, or that an
        earlier document of ``docs`` has, is not stored again: its result names
        the stored one (``duplicate``). The vectors of every new document are
        published as one run, so a batch of many small files costs one append.

        Args:
            embed_model: the embedder that made the vectors; it must be the one the collection
                records (vectors of two embedders, or of one model in fp32 and int8, never mix).
        Returns:
            one result per document, in order.
        """
        if embed_model is not None and embed_model != collection.embed_model:
            raise InvalidInputError(
                f"collection {collection.name!r} holds vectors of {collection.embed_model}; these are of "
                f"{embed_model}: embed with the collection's embedder or use another collection"
            )
        for item in docs:
            if item.vectors.shape[0] != len(item.chunks):
                raise ValueError(f"{len(item.chunks)} chunks but {item.vectors.shape[0]} vectors")
        with self._write_lock:
            results: list[AddedDocument | None] = [None] * len(docs)
            fresh: dict[str, int] = {}  # sha256 -> position of the document of this batch that stores it
            for i, item in enumerate(docs):
                existing = self.catalog.find_by_sha(collection.id, item.doc.sha256)
                if existing is not None:
                    results[i] = AddedDocument(existing, True)
                elif item.doc.sha256 not in fresh:
                    fresh[item.doc.sha256] = i
            new = [docs[i] for i in fresh.values()]
            doc_ids = self.catalog.allocate_ids("document_ids", len(new)) if new else []
            n_chunks = sum(len(item.chunks) for item in new)
            ids = np.asarray(self.catalog.allocate_ids("chunk_ids", n_chunks) if n_chunks else [], dtype=np.int64)
            rows, table = catalog_rows(collection.id, new, doc_ids, ids)
            if n_chunks:
                vs = self.vectors(collection)
                self._ensure_lexical(collection, vs)  # so the new chunks join a complete index
                analyzer = self._analyzer_of(vs)
                texts = [lexical_text(c.text, item.doc.title) for item in new for c in item.chunks]
                vectors = np.concatenate([item.vectors for item in new]).astype(np.float32, copy=False)
                keys = np.repeat(np.asarray(doc_ids, np.int64), [len(item.chunks) for item in new])
                vs.append(vectors, ids, analyzer.terms_batch(texts), analyzer=analyzer.name, keys=keys)
            try:
                if rows:
                    self.catalog.insert_documents(rows, table)
            except BaseException:
                # The vectors are published but their rows are not: take them back now
                # (repair() would at the next start, but until then they take result slots).
                if n_chunks:
                    self.vectors(collection).remove(ids)
                raise
        for i, doc_id in zip(fresh.values(), doc_ids):
            results[i] = AddedDocument(doc_id, False)
        by_sha = dict(zip(fresh, doc_ids))  # a repeat within the batch names the document stored first
        return [r if r is not None else AddedDocument(by_sha[item.doc.sha256], True) for r, item in zip(results, docs)]

    def replace_document(self, collection: Collection, old_id: int, new_id: int | None) -> bool:
        """Finish a replacement: delete ``old_id`` now that ``new_id`` holds its successor, as one step.

        The check and the delete happen under the write lock, so of two uploads that
        replace one document only the first does: when ``old_id`` is gone already
        (deleted, or replaced by another upload), ``new_id`` (the document the
        replacing upload stored; None: it stored none of its own) is deleted instead
        and False is returned.
        """
        with self._write_lock:
            replaced = self.catalog.has_document(collection.id, old_id)
            gone = old_id if replaced else new_id
            if gone is not None:
                self._delete(collection, [gone])  # with its attachments
        return replaced

    # -- tables (for the SQL tool) -------------------------------------------
    def tables_dir(self, collection: Collection) -> Path:
        return self.data_dir / "tables" / str(collection.id)

    def save_tables(self, collection: Collection, document_id: int, filename: str, tables: list) -> list[StoredTable]:
        """Store a document's extracted tables (``ingest.tables.ExtractedTable``) as Parquet."""
        if not tables:
            return []
        with self._write_lock:
            return save_tables(self.tables_dir(collection), document_id, filename, tables)

    def tables(self, collection: Collection) -> list[StoredTable]:
        """The tables of the collection's documents, for the SQL tool."""
        return list_tables(self.tables_dir(collection))

    def recover(self) -> None:
        """Finish what a stopped process left: unfinished jobs fail, orphan vectors and folders go.

        Ingest jobs are left to the job runner, which resumes them from their saved
        uploads (:mod:`rag.jobs`). Collections published before lexical indexes
        existed get theirs here (see :meth:`repair`).

        Call once when a process opens the store to serve it (the platform does).
        """
        failed = self.catalog.fail_interrupted_jobs(keep_kinds=("ingest",))
        if failed:
            log.warning("marked %d job(s) of a stopped process as failed (interrupted)", failed)
        stray = self.remove_stray_folders()
        if stray:
            log.warning("removed %d folder(s) of collections deleted by a stopped process", stray)
        self.repair()

    def repair(self) -> int:
        """Remove vectors whose chunk rows never committed (a crash mid-upload); return how many.

        Their ids leave the BM25 index too. A collection whose manifest names no
        lexical index (published before they existed) gets one built from the
        catalog's chunk texts and published. Run when the store is opened by a
        process that owns it (the server or a CLI command), before it serves requests.
        """
        removed = 0
        with self._write_lock:
            for collection in self.catalog.list_collections():
                if collection.shards > 1 and self.open_sharded is None:
                    log.warning(
                        "collection %r is sharded and this process runs without Ray: not opened", collection.name
                    )
                    continue
                vs = self.vectors(collection)
                # Every vector has its chunk row unless there are more vectors than rows: only
                # then are the ids compared (a start-up reads two counts per collection).
                if vs.stored_count() > self.catalog.count("chunks", collection.id):
                    orphans = np.setdiff1d(vs.stored_ids(), self.catalog.chunk_ids(collection.id))
                    if orphans.size:
                        n = vs.remove(orphans)
                        removed += n
                        log.warning(
                            "collection %r: removed %d vectors of an upload that did not finish", collection.name, n
                        )
                self._ensure_lexical(collection, vs)
        return removed

    def _analyzer_of(self, vs: VectorStore) -> Analyzer:
        """The analyzer of a collection's lexical index (the store's own for a collection without one)."""
        return analyzer_for(vs.analyzer or self.analyzer.name)

    def _ensure_lexical(self, collection: Collection, vs: VectorStore) -> None:
        """Build and publish the BM25 index of a collection that has vectors but none (caller holds the lock).

        Collections published before lexical indexes existed are migrated so, from
        the catalog's chunk texts; chunks without a catalog row (an unfinished
        upload) are left out, as :meth:`repair` removes their vectors.
        """
        if vs.has_lexical or vs.stored_count() == 0:
            return
        ids, texts, titles = self.catalog.chunk_texts(collection.id)
        lexical = BM25Index(analyzer=self.analyzer.name)
        for start in range(0, len(texts), _LEXICAL_BATCH):
            end = start + _LEXICAL_BATCH
            docs = [lexical_text(t, ti) for t, ti in zip(texts[start:end], titles[start:end])]
            lexical.add(self.analyzer.terms_batch(docs), ids[start:end])
        lexical.compact()  # one segment
        vs.replace_lexical(lexical)
        log.info("collection %r: built its BM25 index from %d chunk texts", collection.name, len(texts))
