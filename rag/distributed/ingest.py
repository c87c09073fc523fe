"""``rag ingest --engine ray``: parsing and embedding as a Ray Data pipeline, stored by the driver.

Pipeline, per file (rows stream through; nothing waits for the whole set)::

    from_items([{path}])                        the driver lists the files
      .map(parse_and_chunk)                    Ray tasks: read, check, parse (sandboxed), chunk;
                                               an error is caught and kept in the row, never raised
      .map_batches(EmbedActor, concurrency=N)  N actors, each holding the embedding model: one
                                               embed call per batch of documents
      -> driver: IngestPipeline.store_batch    every ``batch`` documents: one run of vectors and
                                               one catalog transaction, the local path's own write

The driver is the only writer: the catalog is a DuckDB file (one process) and a
collection's runs are published by one writer. The rows become the
:class:`EmbeddedDocument` s the local path's ``embed_batch`` makes and go to the same
``store_batch``, so a Ray ingest leaves exactly the segments and catalog rows of
``IngestPipeline.ingest_files`` (document and chunk ids in file order, as Ray Data is
told to preserve order), duplicates included.

Checks: a file's size and type are checked in its parse task where its bytes enter
(files from disk); saved uploads of a job (``SavedFile.checked``) were checked when
submitted and are only parsed.

Failures: a file that cannot be read or parsed is reported failed with its reason
while the others go on. A parse task that dies is retried (``max_retries``); an
embedding actor that dies is restarted and its batch retried (``max_restarts``,
``max_task_retries``), so a killed worker costs time, not documents. A document is
acknowledged (yielded) only once its batch is committed; an interrupted run leaves
every acknowledged document stored, and running it again stores the rest (the
others are recognised as duplicates by their sha256).
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import RAGError
from rag.pipeline.ingest.records import SavedFile

if TYPE_CHECKING:
    from rag.pipeline.ingest import EmbeddedDocument, IngestPipeline, IngestResult
    from rag.store.catalog import Collection


class RemoteIngestError(RAGError):
    """A file failed in a Ray worker with an error that could not be sent back as itself."""


@lru_cache(maxsize=4)
def _chunker(tokens: int, overlap: int):
    """One chunker per worker process and setting (the tokenizer loads once per process)."""
    from ingest.chunk import Chunker
    from ingest.embed import load_tokenizer

    return Chunker(load_tokenizer(), tokens, overlap)


def _error_bytes(exc: BaseException) -> bytes:
    try:
        return pickle.dumps(exc)
    except Exception:
        return pickle.dumps(RemoteIngestError(f"{type(exc).__name__}: {exc}"))


def parse_and_chunk(row: dict, *, tokens: int, overlap: int, max_bytes: int, sandbox: bool = True) -> dict:
    """Read, check (unless checked when uploaded), parse and chunk one file (a Ray Data ``map`` function);
    errors are returned, not raised."""
    from ingest.check import check_file
    from ingest.parse import parse_bytes
    from ingest.parse.sandbox import parse_sandboxed
    from rag.pipeline.ingest.records import PreparedDocument, embedding_input

    path, name = Path(row["path"]), row["name"]
    out = {"path": str(path), "name": name, "error": b"", "doc": b"", "texts": []}
    try:
        data = path.read_bytes()
        media = row["media"] if row["checked"] else check_file(name, data, row["media"] or None, max_bytes)
        t0 = time.perf_counter()
        parsed = parse_sandboxed(data, name, media) if sandbox else parse_bytes(data, name, media)
        prepared = PreparedDocument(name, hashlib.sha256(data).hexdigest(), len(data), parsed, time.perf_counter() - t0)
        t0 = time.perf_counter()
        chunks = _chunker(tokens, overlap).chunk(parsed)
        chunk_seconds = time.perf_counter() - t0
        out["texts"] = [embedding_input(parsed.title, c.heading_path, c.text) for c in chunks]
        out["doc"] = pickle.dumps((prepared, chunks, chunk_seconds))
    except (RAGError, OSError) as exc:
        out["error"] = _error_bytes(exc)
    return out


class EmbedActor:
    """Holds the embedding model in a Ray actor; embeds a batch of documents' chunk texts in one call."""

    def __init__(self, quant: str | None, batch_size: int, threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from ingest.embed import Embedder

        self.embedder = Embedder(batch_size=batch_size, quant=quant)

    def __call__(self, batch):
        texts_per_row = [list(t) if t is not None else [] for t in batch["texts"]]
        flat = [t for texts in texts_per_row for t in texts]
        t0 = time.perf_counter()
        vectors = self.embedder.embed(flat) if flat else np.zeros((0, self.embedder.dim), np.float32)
        seconds = time.perf_counter() - t0
        out_vectors, out_seconds, at = [], [], 0
        for texts in texts_per_row:
            v = np.ascontiguousarray(vectors[at : at + len(texts)], dtype=np.float32)
            at += len(texts)
            out_vectors.append(v.tobytes())
            out_seconds.append(seconds * len(texts) / max(len(flat), 1))
        batch = batch.drop(columns=["texts"])
        batch["vectors"] = out_vectors
        batch["dim"] = self.embedder.dim
        batch["model"] = self.embedder.model_name
        batch["embed_seconds"] = out_seconds
        return batch


def _model_name(kind: str) -> str:
    from ingest.embed import MODEL_NAME

    return MODEL_NAME + ("" if kind == "fp32" else f"@{kind}")


def ray_ingest(
    pipeline: IngestPipeline,
    collection: str,
    paths: Sequence[Path | str | SavedFile],
    *,
    address: str | None = None,
    workers: int = 2,
    batch: int = 16,
    index_spec: str | None = None,
    embed_batch_size: int = 32,
    embed_batch_docs: int = 8,
    sandbox: bool = True,
    actor_cpus: float = 1.0,
) -> Iterator[tuple[str, IngestResult | Exception]]:
    """Ingest ``paths`` into ``collection`` with parsing and embedding on Ray; yield (path, result or error).

    Args:
        pipeline: the local ingest pipeline: its store receives the documents (this process writes it,
            through :meth:`IngestPipeline.store_batch`); its chunker and upload limit are the settings.
        paths: files to ingest, each named by its own name, or saved uploads (:class:`SavedFile`)
            named by the name they were uploaded with.
        address: the Ray cluster (``ray://host:10001``, ``auto``); None starts a local one.
        workers: embedding actors (each holds one copy of the model).
        batch: documents per store write (one run and one catalog transaction each).
        embed_batch_size: texts per forward pass in an actor (RAG_EMBED_BATCH_SIZE).
        embed_batch_docs: documents per embedding call in an actor.
        sandbox: parse in a limited subprocess, as the local path does.
        actor_cpus: CPUs each embedding actor reserves (torch uses as many threads).
    Yields:
        per file, in order: its :class:`IngestResult`, or the exception that kept it out.
    """
    from rag.distributed import init_ray

    init_ray(address)
    coll = pipeline.store.catalog.find_collection(collection)
    tokens, overlap, kind = _settings(pipeline, coll)
    writer = _Writer(pipeline, collection, coll, _model_name(kind), index_spec)
    parse_args = {"tokens": tokens, "overlap": overlap, "max_bytes": pipeline.max_upload_bytes, "sandbox": sandbox}
    ds = _parse_stage(_source(paths), parse_args, workers)
    ds = _embed_stage(ds, kind, workers, embed_batch_size, embed_batch_docs, actor_cpus)
    yield from _store_in_batches(writer, ds, batch)


def _settings(pipeline: IngestPipeline, coll: Collection | None) -> tuple[int, int, str]:
    """The chunk window, overlap and embedder kind: the collection's own when it exists, else the server's."""
    from ingest.embed import kind_of, resolve_kind
    from rag.store.lifecycle import chunking_of

    tokens, overlap = pipeline.chunker.max_tokens, pipeline.chunker.overlap
    if coll is not None:
        tokens, overlap = chunking_of(coll, tokens, overlap)
    kind = kind_of(coll.embed_model) if coll is not None else resolve_kind(None)
    return tokens, overlap, kind


def _source(paths: Sequence[Path | str | SavedFile]):
    """A Ray dataset of one row per file, in order (the context keeps that order through the stages)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # ids in file order, as the local path allocates them
    ctx.enable_progress_bars = False
    files = [p if isinstance(p, SavedFile) else SavedFile(Path(p), Path(p).name) for p in paths]
    rows = [{"path": str(f.path), "name": f.filename, "media": f.media_type or "", "checked": f.checked} for f in files]
    return ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 64)))


def _parse_stage(ds, parse_args: dict, workers: int):
    """``ds`` mapped through :func:`parse_and_chunk` by a pool of Ray tasks."""
    import ray.data

    return ds.map(
        parse_and_chunk,
        fn_kwargs=parse_args,
        num_cpus=0,  # light next to embedding; the actors hold the CPUs, and tasks must not wait behind them
        compute=ray.data.TaskPoolStrategy(size=max(1, workers)),
        max_retries=3,  # this and the actors' retry options have no named parameter yet: ray_remote_args
    )


def _embed_stage(ds, kind: str, workers: int, batch_size: int, batch_docs: int, actor_cpus: float):
    """``ds`` embedded by ``workers`` :class:`EmbedActor` s, ``batch_docs`` documents per call."""
    import ray.data

    return ds.map_batches(
        EmbedActor,
        fn_constructor_kwargs={"quant": kind, "batch_size": batch_size, "threads": max(1, int(actor_cpus))},
        batch_size=batch_docs,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=actor_cpus,
        max_restarts=-1,
        max_task_retries=3,
    )


def _store_in_batches(writer: _Writer, ds, batch: int) -> Iterator[tuple[str, IngestResult | Exception]]:
    """Store the embedded rows ``batch`` at a time as they stream in; yield each file's outcome once stored."""
    pending: list[dict] = []
    for frame in ds.iter_batches(batch_size=batch, batch_format="pandas"):
        pending.extend(frame.to_dict("records"))
        while len(pending) >= batch:
            yield from writer.store_rows(pending[:batch])
            pending = pending[batch:]
    if pending:
        yield from writer.store_rows(pending)


@dataclass
class _Writer:
    """The driver's write side: embedded rows go through the local path's ``store_batch``.

    ``coll`` is None until the first document is stored into a collection that did not exist.
    """

    pipeline: IngestPipeline
    collection: str
    coll: Collection | None
    model_name: str
    index_spec: str | None

    def store_rows(self, rows: list[dict]) -> list[tuple[str, IngestResult | Exception]]:
        """Each row's (path, result or error), in order; the good rows are stored in one batch."""
        out: list[tuple[str, IngestResult | Exception] | None] = [None] * len(rows)
        good = []  # (position, its EmbeddedDocument)
        for i, row in enumerate(rows):
            got = embedded_document(row, self.model_name)
            if isinstance(got, Exception):
                out[i] = (row["path"], got)
            else:
                good.append((i, got))
        try:
            stored = self._store([e for _, e in good]) if good else []
        except RAGError as exc:
            stored = [exc] * len(good)
        for (i, _), result in zip(good, stored):
            out[i] = (rows[i]["path"], result)
        return out  # type: ignore[return-value]

    def _store(self, embedded: list[EmbeddedDocument]) -> list[IngestResult]:
        if self.coll is None:
            dim = embedded[0].vectors.shape[1]
            self.coll = self.pipeline.store.get_or_create_collection(
                self.collection, dim, self.model_name, index_spec=self.index_spec
            )
        return self.pipeline.store_batch(self.coll, embedded, self.model_name)


def embedded_document(row: dict, model_name: str) -> EmbeddedDocument | Exception:
    """The :class:`EmbeddedDocument` an embedded row holds, or the error its file failed with."""
    from rag.pipeline.ingest import EmbeddedDocument

    if row["error"]:
        try:
            return pickle.loads(row["error"])
        except Exception as err:  # an error class this process cannot import
            return RemoteIngestError(str(err))
    if row["model"] != model_name:
        raise RAGError(f"an embedding worker made {row['model']} vectors, expected {model_name}")
    prepared, chunks, chunk_seconds = pickle.loads(row["doc"])
    vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(chunks), int(row["dim"]))
    return EmbeddedDocument(prepared, chunks, vectors, chunk_seconds, float(row["embed_seconds"]))
