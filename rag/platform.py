"""Wiring: one object that owns the store and lazily loads the models.

The CLI and the REST app both build a :class:`Platform` from
:class:`rag.settings.Settings`. Models load on first use (the embedder on the
first ingest or search, the generator on the first question) and are shared
by every platform in the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property

from ingest.chunk import Chunker
from ingest.embed import Embedder, embedder_for, embedders_loaded, load_tokenizer, shared_embedder
from rag.access import Keys
from rag.generate import Generator, shared_generator
from rag.heap import release_free_heap
from rag.jobs import BenchmarkJobs, IngestJobs, JobRunner
from rag.pipeline import IngestPipeline, QueryPipeline
from rag.pipeline.ingest import SavedFile
from rag.private import private_dir, private_file
from rag.settings import Settings
from rag.store import Store


class LazyEmbedder:
    """The embedder of new collections, loaded when one of its attributes is first read."""

    def __init__(self, load: Callable[[], Embedder]) -> None:
        self._load = load

    def __getattr__(self, name: str):
        return getattr(self._load(), name)


def _trimmed_after_load(get: Callable[[], Embedder]) -> Embedder:
    """``get()``; where it loaded an embedder, the heap its fp32 weights were read into goes back to the OS."""
    loaded = embedders_loaded()
    embedder = get()
    if embedders_loaded() != loaded:
        release_free_heap()
    return embedder


class Platform:
    def __init__(self, settings: Settings, generator: Generator | None = None) -> None:
        self.settings = settings
        open_sharded = None
        if settings.ray_address:
            from rag.distributed.shards import sharded_opener

            open_sharded = sharded_opener(settings.ray_cluster)
        private_dir(settings.data_dir)  # the documents, the catalog and the key hashes: the owner's only
        self.store = Store(settings.data_dir, default_index_spec=settings.index_spec, open_sharded=open_sharded)
        for path in settings.data_dir.glob("catalog.duckdb*"):  # the catalog and its write-ahead log
            private_file(path)
        self.store.recover()
        self._generator = generator
        self._lock = threading.RLock()
        self._resumed = False

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.close()  # running jobs stop at a safe point; the next start resumes them
        self.store.close()

    @cached_property
    def jobs(self) -> JobRunner:
        """The runner of ingest and benchmark jobs (its workers start with the first job)."""
        return JobRunner(self.store.catalog)

    @cached_property
    def ingest_jobs(self) -> IngestJobs:
        engine = self.ray_ingest if self.settings.ray_address else None
        return IngestJobs(self.jobs, self.store, lambda: self.ingest_pipeline, engine)

    def ray_ingest(self, collection: str, files: list[SavedFile], index_spec: str | None = None):
        """Parse and embed ``files`` on the Ray of RAG_RAY_ADDRESS, storing them here; yields (file, result or
        error) in order (:func:`rag.distributed.ingest.ray_ingest`)."""
        from rag.distributed.ingest import ray_ingest

        s = self.settings
        return ray_ingest(
            self.ingest_pipeline,
            collection,
            files,
            address=s.ray_cluster,
            workers=s.ray_workers,
            index_spec=index_spec,
            embed_batch_size=s.embed_batch_size,
        )

    @cached_property
    def keys(self) -> Keys:
        """The API keys (enforced when the settings have an admin key)."""
        return Keys(self.store.catalog, self.settings.admin_key)

    @cached_property
    def benchmarks(self) -> BenchmarkJobs:
        return BenchmarkJobs(self.jobs, self.store)

    def resume_jobs(self) -> int:
        """Queue the ingest jobs a stopped process left unfinished (the server calls this when it starts;
        later calls do nothing)."""
        with self._lock:
            if self._resumed:
                return 0
            self._resumed = True
        return self.ingest_jobs.resume()

    @property
    def embedder(self) -> Embedder:
        """The embedder of new collections (its kind from RAG_EMBED_QUANT)."""
        with self._lock:
            return _trimmed_after_load(lambda: shared_embedder(self.settings.embed_batch_size))

    def embedder_for(self, model_name: str) -> Embedder:
        """The embedder that wrote a collection (``Collection.embed_model``): its queries and uploads use it."""
        with self._lock:
            return _trimmed_after_load(lambda: embedder_for(model_name, self.settings.embed_batch_size))

    def loaded_models(self) -> dict[str, bool]:
        """Which of the embedder, the span reader and the generator this process has loaded (loads nothing)."""
        reader = self.__dict__.get("query_pipeline")  # a cached_property: None until a request built it
        return {
            "embedder": embedders_loaded() > 0,
            "reader": reader is not None and reader.reading.reader().loaded,
            "generator": self._generator is not None,
        }

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                s = self.settings
                server = None
                if s.generator == "openai":
                    from rag.generate.openai_backend import OpenAIServer

                    server = OpenAIServer(s.openai_base_url, s.openai_api_key, s.openai_model)
                from rag.model.catalog import resolve_model  # reads GGUF headers only

                path = None if s.generator == "openai" else resolve_model(s.model, s.models_path)
                self._generator = shared_generator(
                    s.generator, gguf_path=path, quant=s.quant, threads=s.threads or None, server=server
                )
            return self._generator

    @cached_property
    def ingest_pipeline(self) -> IngestPipeline:
        """The ingest pipeline; building it loads no model (the embedder loads when it is first used), so an
        upload to an existing collection is checked and acknowledged at once even while the embedder is still to
        load. An upload that creates its collection waits for it (the collection's row needs the model's
        dimension; its job carries the collection's id from the start)."""
        s = self.settings
        chunker = Chunker(load_tokenizer(), s.chunk_tokens, s.chunk_overlap)
        embedder = LazyEmbedder(lambda: self.embedder)
        return IngestPipeline(self.store, embedder, chunker, s.max_upload_bytes, self.embedder_for)

    @cached_property
    def query_pipeline(self) -> QueryPipeline:
        """Search and answers; building it loads no model (each stage loads its own on first use)."""
        return QueryPipeline(
            self.store,
            lambda: self.embedder,
            lambda: self.generator,
            embedder_for=self.embedder_for,
            max_answer_tokens=self.settings.max_answer_tokens,
        )
