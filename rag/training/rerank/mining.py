"""First-stage candidates for reranker training: BM25 and dense (MiniLM) search over a corpus.

They serve twice: hard negatives for training are drawn from the top of both
lists (less the judged positives), and the validation claims are reranked
from the reciprocal-rank fusion of both, as a pipeline would.

Embedding the 5,183 SciFact abstracts takes minutes on two cores, so the
corpus vectors are cached as ``.npy`` under a cache folder, keyed by the
corpus file's sha256.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BM25_K1, BM25_B = 0.9, 0.4  # the BEIR settings
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)


def mining_description(depth: int = 100) -> dict:
    """How candidates are found, for the weights' metadata."""
    return {
        "bm25": f"indexes.lexical.BM25Index(k1={BM25_K1}, b={BM25_B}) over ingest.lexical.Analyzer terms",
        "dense": "all-MiniLM-L6-v2 unit vectors (ingest.embed.Embedder), dot product",
        "depth": depth,
        "texts": 'title + " " + text',
        "validation_candidates": f"reciprocal-rank fusion (k={RRF_K}) of both lists",
    }


def default_cache_dir() -> Path:
    """``$LOCALRAG_CACHE`` or ``~/.cache/localrag``."""
    return Path(os.environ.get("LOCALRAG_CACHE", Path.home() / ".cache" / "localrag"))


@dataclass(frozen=True)
class Rankings:
    """Top-``depth`` corpus positions per query from both retrievers: int64 (n_queries, depth), -1 padded."""

    bm25: np.ndarray
    dense: np.ndarray


def corpus_vectors(texts: Sequence[str], corpus_sha256: str, cache_dir: Path) -> np.ndarray:
    """float32 (len(texts), 384) unit MiniLM vectors of the corpus, read from or written to the cache."""
    path = cache_dir / f"minilm-corpus-{corpus_sha256[:16]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(texts):
            log.info("dense corpus vectors from %s", path)
            return vectors
        log.warning("%s holds %d vectors for %d texts: embedding again", path, vectors.shape[0], len(texts))
    from ingest.embed import shared_embedder

    embedder = shared_embedder(32)
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        log.info("embedded %d/%d corpus texts", done[0], len(texts))

    vectors = embedder.embed(texts, progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)  # a reader never sees half a file
    return vectors


def dense_search(corpus: np.ndarray, query_texts: Sequence[str], depth: int) -> np.ndarray:
    """int64 (n, depth) corpus positions of the best dot products with the embedded queries."""
    from ingest.embed import shared_embedder

    queries = shared_embedder(32).embed(list(query_texts))  # (n, 384)
    sims = queries @ corpus.T  # (n, N)
    depth = min(depth, corpus.shape[0])
    top = np.argpartition(-sims, depth - 1, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1).astype(np.int64)


def bm25_search(corpus_texts: Sequence[str], query_texts: Sequence[str], depth: int) -> np.ndarray:
    """int64 (n, depth) corpus positions from BM25 (k1=0.9, b=0.4) over the native lexical index, -1 padded."""
    from indexes.lexical import BM25Index
    from ingest.lexical import Analyzer

    analyzer = Analyzer()
    index = BM25Index(k1=BM25_K1, b=BM25_B)
    index.add(analyzer.terms_batch(list(corpus_texts)), np.arange(len(corpus_texts), dtype=np.int64))
    result = index.search([analyzer.terms(q) for q in query_texts], depth)
    return np.asarray(result.ids, dtype=np.int64)


def rankings(
    corpus_texts: Sequence[str], query_texts: Sequence[str], corpus_sha256: str, cache_dir: Path, depth: int = 100
) -> Rankings:
    """BM25 and dense top-``depth`` lists for every query (rows in ``query_texts`` order)."""
    bm25 = bm25_search(corpus_texts, query_texts, depth)
    log.info("BM25 top-%d for %d queries", depth, len(query_texts))
    dense = dense_search(corpus_vectors(corpus_texts, corpus_sha256, cache_dir), query_texts, depth)
    log.info("dense top-%d for %d queries", depth, len(query_texts))
    return Rankings(bm25, dense)


def negative_pool(bm25_row: np.ndarray, dense_row: np.ndarray, positives: set[int], k: int) -> np.ndarray:
    """int64 corpus positions in the top ``k`` of either list, judged positives and padding removed."""
    seen: dict[int, None] = {}
    for i in np.concatenate([bm25_row[:k], dense_row[:k]]).tolist():
        if i >= 0 and i not in positives:
            seen.setdefault(i, None)
    return np.fromiter(seen, dtype=np.int64, count=len(seen))


def fuse(bm25_row: np.ndarray, dense_row: np.ndarray, k: int) -> np.ndarray:
    """int64 (<= k,) corpus positions: reciprocal-rank fusion of the two lists, best first."""
    score: dict[int, float] = {}
    for row in (bm25_row, dense_row):
        for rank, i in enumerate(row.tolist()):
            if i >= 0:
                score[i] = score.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    best = sorted(score, key=lambda i: (-score[i], i))[:k]
    return np.asarray(best, dtype=np.int64)
