"""Query latency per stage on a large collection (e.g. 100k chunks), inside the process.

Embedding 100k chunks takes about an hour on two cores, and that is the ingest's
cost, not the query's; this benchmark measures the query path. It builds (once,
cached in the data directory) a collection of ``n`` chunks from real text: the
BEIR SciFact abstracts, chunked by the platform's own chunker and embedded by
its own model (or, with ``base_store``, the chunks and vectors of a store that
holds them already, such as the cache of ``rag eval beir``). To reach ``n`` the
real chunks are repeated; each copy's vector is the original plus Gaussian
noise (``NOISE`` of its norm, re-normalised), so the copies are near
neighbours of their original, not exact duplicates, and every BM25 posting
list is as many times longer as there are copies. The
collection is written through ``Store.add_document`` in documents of
``BATCH`` chunks, so the vector index (HNSW32 by default) and the BM25 index
are the ones a real ingest builds.

Each configuration (the default dense + BM25 with convex fusion, then one added stage at a
time) runs every query ``repeats`` times through ``QueryPipeline.search``; the
report gives p50/p99 of each stage and of the total.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from core.errors import InvalidInputError
from ingest.chunk import Chunk, Chunker
from ingest.embed import load_tokenizer
from ingest.parse import parse_bytes
from rag.bench.metrics import percentiles
from rag.eval.retrieval import document_bytes
from rag.pipeline.ingest import embedding_input
from rag.pipeline.request import Query, SearchOptions
from rag.store import Store
from rag.store.store import NewDocument

NOISE = 0.05  # noise added to a copy's vector, relative to its (unit) norm
BATCH = 5000  # chunks per stored document (one publish each)

# The default path, then one added stage at a time.
CONFIGS = {
    "default": SearchOptions(),  # dense + BM25, convex fusion
    "dense": SearchOptions(fusion="dense"),
    "bm25": SearchOptions(fusion="bm25"),
    "rrf": SearchOptions(fusion="rrf"),
    "hyde": SearchOptions(hyde=True),
    "rerank": SearchOptions(rerank="minilm-scifact"),
    "maxsim": SearchOptions(rerank="maxsim"),
}


def corpus_chunks(corpus: Path, chunk_tokens: int, overlap: int) -> tuple[list, list[str]]:
    """The SciFact abstracts chunked as an ingest would: (chunks, embedding inputs)."""
    chunker = Chunker(load_tokenizer(), chunk_tokens, overlap)
    chunks, inputs = [], []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        doc = parse_bytes(document_bytes(row["title"], row["text"]), f"{row['_id']}.txt")
        for c in chunker.chunk(doc):
            chunks.append(c)
            inputs.append(embedding_input(doc.title, c.heading_path, c.text))
    return chunks, inputs


def embedded_corpus(platform, corpus: Path, log=print) -> tuple[list, np.ndarray, str]:
    """The corpus chunked and embedded as an ingest would (vectors cached in the data directory),
    and the name of the embedder that made them."""
    s = platform.settings
    model = platform.embedder.model_name
    chunks, inputs = corpus_chunks(corpus, s.chunk_tokens, s.chunk_overlap)
    key = hashlib.sha256(("\n".join([model, *inputs])).encode()).hexdigest()[:12]
    cache = s.data_dir / "bench-cache" / f"scale-base-{key}.npy"
    if cache.is_file():
        return chunks, np.load(cache), model
    log(f"embedding {len(inputs)} base chunks (once; cached in {cache})")
    base = platform.embedder.embed(inputs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, base)
    return chunks, base, model


def stored_corpus(data_dir: Path) -> tuple[list, np.ndarray, str]:
    """Chunks, vectors and embedder name of an existing store's only collection (e.g. the cache of
    ``rag eval beir``)."""
    store = Store(data_dir)
    try:
        (collection,) = store.catalog.list_collections()
        vectors, ids = store.vectors(collection).segment_vectors()
        chunk_ids, texts, _ = store.catalog.chunk_texts(collection.id)
        text_of = dict(zip(chunk_ids.tolist(), texts))
        keep = [i for i, c in enumerate(ids.tolist()) if c in text_of]
        chunks = [
            Chunk(ord=0, text=text_of[c], start=0, end=len(text_of[c]), page=None, heading_path=(), n_tokens=0)
            for c in ids[keep].tolist()
        ]
        return chunks, np.asarray(vectors[keep], dtype=np.float32), collection.embed_model
    finally:
        store.close()


def build(platform, name: str, n: int, corpus: Path, seed: int = 0, base_store: Path | None = None, log=print) -> None:
    """Create collection ``name`` with ``n`` chunks unless it already holds them."""
    store = platform.store
    found = store.catalog.find_collection(name)
    if found is not None and store.catalog.count("chunks", found.id) >= n:
        return
    chunks, base, model = stored_corpus(base_store) if base_store else embedded_corpus(platform, corpus, log)
    coll = store.get_or_create_collection(name, base.shape[1], model)
    rng = np.random.default_rng(seed)
    done = store.catalog.count("chunks", coll.id)
    while done < n:
        take = min(BATCH, n - done)
        rows = (np.arange(done, done + take)) % len(chunks)
        vectors = base[rows] + rng.standard_normal((take, base.shape[1])).astype(np.float32) * (
            NOISE / np.sqrt(base.shape[1])
        )
        first = np.arange(done, done + take) < len(chunks)  # the first copy of each chunk is the real one
        vectors[first] = base[rows[first]]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        batch, text, offset = [], [], 0
        for i, r in enumerate(rows):
            c = chunks[r]
            batch.append(dataclasses.replace(c, ord=i, start=offset, end=offset + len(c.text), prefix_chars=0))
            text.append(c.text)
            offset += len(c.text) + 2
        body = "\n\n".join(text)
        doc = NewDocument(
            filename=f"scale-{done:07d}.txt",
            media_type="text/plain",
            sha256=hashlib.sha256(f"{name}:{done}".encode()).hexdigest(),
            size_bytes=len(body),
            title=None,
            n_pages=None,
            text=body,
        )
        t0 = time.perf_counter()
        store.add_document(coll, doc, batch, vectors.astype(np.float32))
        done += take
        log(f"stored {done}/{n} chunks ({time.perf_counter() - t0:.1f} s for the last {take})")


def bench(platform, name: str, queries: list[str], configs: dict[str, SearchOptions], k: int = 10, repeats: int = 3):
    """p50/p99 per stage and in total, per configuration, over ``queries`` x ``repeats``."""
    pipeline = platform.query_pipeline
    coll = platform.store.catalog.get_collection(name)
    out = {}
    for label, options in configs.items():
        stages: dict[str, list[float]] = {}
        totals = []
        pipeline.retrieve(Query(coll, queries[0], k, options))  # warm-up: models and kernels load here
        for _ in range(repeats):
            for q in queries:
                t0 = time.perf_counter()
                r = pipeline.retrieve(pipeline.query(name, q, k, options))
                totals.append(time.perf_counter() - t0)
                for stage, seconds in r.timings.as_dict().items():
                    stages.setdefault(stage, []).append(seconds)
        out[label] = {
            "options": dataclasses.asdict(options),
            "total": percentiles(totals),
            "stages": {s: percentiles(v) for s, v in stages.items()},
        }
    return out


def run(
    platform,
    n: int,
    corpus: Path,
    queries: list[str],
    configs: list[str] | None,
    repeats: int,
    base_store: Path | None = None,
    log=print,
):
    name = f"scale-{n}"
    t0 = time.perf_counter()
    build(platform, name, n, corpus, base_store=base_store, log=log)
    built = time.perf_counter() - t0
    unknown = sorted(set(configs or ()) - set(CONFIGS))
    if unknown:
        raise InvalidInputError(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    chosen = {c: CONFIGS[c] for c in (configs or CONFIGS)}
    coll = platform.store.catalog.get_collection(name)
    return {
        "collection": name,
        "chunks": platform.store.catalog.count("chunks", coll.id),
        "index_spec": coll.index_spec,
        "build_seconds": round(built, 1),
        "queries": len(queries),
        "repeats": repeats,
        "configs": bench(platform, name, queries, chosen, repeats=repeats),
    }
