"""Sharded vector search on Ray: N shard actors, one query fanned out, top-k merged exactly.

Layout: ``root/shards.json`` (shard count, dim, metric, index spec) and one
directory per shard, ``root/shard-000/`` ..., each an ordinary
:class:`rag.store.vectors.VectorStore` (runs, manifest, copy-on-write publishes).
Each shard is served by a :class:`ShardServer` running as a Ray actor; it opens
its indexes memory-mapped (``indexes.load(..., mmap=True)``), so a restarted actor
reopens what was published and the page cache, not the actor's heap, holds the
vectors.

Routing: a vector goes to shard ``mix64(key) % N``, where ``key`` is its document
id when the caller gives one (:meth:`ShardedIndex.add` ``keys``) and its own id
otherwise. Keying by document keeps all chunks of a document on one shard (a
document's re-ingest or delete then rewrites one shard's runs), and the 64-bit
mix (splitmix64's finaliser) spreads ids that are allocated in strides or ranges
evenly, where a bare ``id % N`` would follow any pattern in the allocation.
Deletes and filters do not rely on routing: :meth:`ShardedIndex.remove` and the
``allow`` filter are sent to every shard.

Merging: every shard returns its own top-k (the global top-k is a subset of the
union of the shards' top-k), and :func:`merge_topk` keeps the k best by score,
ties broken by the smaller id. Over Flat shards that is exactly the single index's
answer; over HNSW shards each shard's graph is smaller than one graph over all the
data, so recall at the same ``ef_search`` is as good or better.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import indexes
from core.errors import ConfigError

_MANIFEST = "shards.json"
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(keys: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over int64 keys, as uint64 (a fixed, process-independent hash)."""
    z = np.asarray(keys, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def shard_of(keys: np.ndarray, n_shards: int) -> np.ndarray:
    """The shard (0 .. n_shards-1) of each routing key."""
    return (mix64(keys) % np.uint64(n_shards)).astype(np.int64)


def merge_topk(results: Sequence[indexes.SearchResult], k: int) -> indexes.SearchResult:
    """The k best of several (n, k_i) results per query, by score then smaller id; padding (-1) last."""
    ids = np.concatenate([r.ids for r in results], axis=1)
    scores = np.concatenate([r.scores for r in results], axis=1).astype(np.float32, copy=False)
    n = ids.shape[0]
    out_ids = np.full((n, k), -1, dtype=np.int64)
    out_scores = np.full((n, k), -np.inf, dtype=np.float32)
    if ids.shape[1] == 0:
        return indexes.SearchResult(out_ids, out_scores)
    # padding sorts last: its score is -inf; real ids are >= 0, so an id key of +inf-like size for -1
    id_key = np.where(ids < 0, np.iinfo(np.int64).max, ids)
    order = np.lexsort((id_key, -scores), axis=-1)[:, :k]
    kk = order.shape[1]
    out_ids[:, :kk] = np.take_along_axis(ids, order, axis=1)
    out_scores[:, :kk] = np.take_along_axis(scores, order, axis=1)
    out_scores[out_ids < 0] = -np.inf
    return indexes.SearchResult(out_ids, out_scores)


class ShardServer:
    """One shard: a VectorStore (vectors and BM25 index) over its own directory, run as a Ray actor."""

    def __init__(self, root: str, dim: int, metric: str, index_spec: str, background_merges: bool = False) -> None:
        from rag.store.vectors import VectorStore

        self.store = VectorStore(Path(root), dim, metric, index_spec, background_merges=background_merges)

    def append(self, vectors: np.ndarray, ids: np.ndarray, terms=None, analyzer: str | None = None) -> int:
        self.store.append(vectors, ids, terms, analyzer)
        return len(self.store)

    def search(self, q: np.ndarray, k: int, allow=None, params: dict | None = None) -> indexes.SearchResult:
        return self.store.search(q, k, allow, **(params or {}))

    def search_text(self, queries: list[list[str]], k: int, allow=None) -> indexes.SearchResult:
        return self.store.search_text(queries, k, allow)

    def remove(self, ids: np.ndarray) -> int:
        return self.store.remove(ids)

    def count(self) -> int:
        return len(self.store)

    def stored(self) -> tuple[int, str | None]:
        """(vectors in the published segments, the BM25 index's analyzer or None)."""
        return self.store.stored_count(), self.store.analyzer

    def stored_ids(self) -> np.ndarray:
        return self.store.stored_ids()

    def segment_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        return self.store.segment_vectors()

    def merge(self) -> int:
        """Merge the shard's runs (fewer indexes per query); a merge in flight finishes first."""
        self.store.wait_for_merges()
        return self.store.merge()

    def compact_lexical(self) -> bool:
        return self.store.compact_lexical()

    def wait_for_merges(self) -> bool:
        self.store.wait_for_merges()
        return True

    def close(self) -> bool:
        self.store.close()
        return True

    def ping(self) -> bool:
        return True


def _read_layout(root: Path) -> dict | None:
    path = root / _MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


class ShardedIndex:
    """A vector collection split into ``n_shards`` shards, each served by a Ray actor.

    Args:
        root: directory of the shards (created; an existing layout is reopened and must match).
        n_shards: how many shards.
        dim, metric, index_spec: as for one index (``"Flat"``, ``"HNSW32"``, ...).
        actor_options: extra ``ray.remote`` options for the shard actors (e.g. ``num_cpus``,
            a ``scheduling_strategy`` to spread them over nodes). By default they reserve no
            CPU, so N shards fit a cluster of any size; a restarted actor reopens its directory.
        background_merges: each shard merges its runs in a thread of its actor (True), or
            only when :meth:`merge` is called (False: a deterministic layout).
    """

    def __init__(
        self,
        root: Path | str,
        n_shards: int,
        dim: int,
        metric: str = "cosine",
        index_spec: str = "Flat",
        actor_options: dict | None = None,
        background_merges: bool = False,
    ) -> None:
        from rag.distributed import require_ray

        ray = require_ray()
        if n_shards < 1:
            raise ConfigError(f"n_shards must be at least 1, got {n_shards}")
        self.root = Path(root)
        self.n_shards, self.dim, self.metric = n_shards, dim, metric
        self.index_spec = indexes.parse_spec(index_spec).spec()
        layout = {"n_shards": n_shards, "dim": dim, "metric": metric, "index_spec": self.index_spec}
        found = _read_layout(self.root)
        if found is not None and found != layout:
            raise ConfigError(f"{self.root} holds shards laid out as {found}, not {layout}: resharding is unsupported")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _MANIFEST).write_text(json.dumps(layout))
        options = {"num_cpus": 0, "max_restarts": -1, "max_task_retries": 3, **(actor_options or {})}
        actor = ray.remote(**options)(ShardServer)
        self._ray = ray
        self._analyzer: str | None = None
        self.shards = [
            actor.remote(str(self.root / f"shard-{i:03d}"), dim, metric, self.index_spec, background_merges)
            for i in range(n_shards)
        ]
        ray.get([s.ping.remote() for s in self.shards])

    def add(self, vectors: np.ndarray, ids: np.ndarray, keys: np.ndarray | None = None) -> None:
        """Add float32 (n, dim) vectors under int64 ids, each to the shard of its routing key (default: its id)."""
        self.append(vectors, ids, keys=keys)

    def append(
        self,
        vectors: np.ndarray,
        ids: np.ndarray,
        terms: list[list[str]] | None = None,
        analyzer: str | None = None,
        keys: np.ndarray | None = None,
    ) -> None:
        """:meth:`add` with each vector's BM25 terms (as ``VectorStore.append``): they go to the vector's shard."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        keys = ids if keys is None else np.asarray(keys, dtype=np.int64)
        if not (vectors.shape[0] == ids.shape[0] == keys.shape[0]):
            raise ValueError(f"{vectors.shape[0]} vectors, {ids.shape[0]} ids and {keys.shape[0]} keys")
        if terms is not None and len(terms) != ids.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids but {len(terms)} term lists")
        where = shard_of(keys, self.n_shards)
        calls = []
        for s, actor in enumerate(self.shards):
            rows = np.flatnonzero(where == s)
            if rows.size:
                part = None if terms is None else [terms[r] for r in rows]
                calls.append(actor.append.remote(vectors[rows], ids[rows], part, analyzer))
        self._ray.get(calls)

    def search(self, q: np.ndarray, k: int, allow=None, **params) -> indexes.SearchResult:
        """Top-k over every shard, merged exactly as one index would rank them (ties by smaller id).

        ``allow`` (allowed ids, or a boolean mask indexed by id) reaches every shard;
        ``params`` (e.g. ``ef_search``) are the index's search-time parameters.
        """
        q = np.atleast_2d(np.asarray(q, dtype=np.float32))
        ray = self._ray
        q_ref = ray.put(q)
        allow_ref = ray.put(allow) if allow is not None else None
        parts = ray.get([s.search.remote(q_ref, k, allow_ref, params) for s in self.shards])
        return parts[0] if len(parts) == 1 else merge_topk(parts, k)

    def search_text(self, queries: list[list[str]], k: int, allow=None) -> indexes.SearchResult:
        """BM25 top-k over every shard, merged by score.

        Each shard scores with its own statistics (N, avgdl, df), as Elasticsearch's default
        ``query_then_fetch`` does: with documents routed by hash the shards' statistics agree
        closely once each holds a few thousand chunks, but the merge is not the exact ranking
        of one index over all of them (the dense search's is).
        """
        allow_ref = self._ray.put(allow) if allow is not None else None
        parts = self._ray.get([s.search_text.remote(queries, k, allow_ref) for s in self.shards])
        return parts[0] if len(parts) == 1 else merge_topk(parts, k)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids`` from every shard (routing is not assumed); return how many vectors went."""
        ids = np.asarray(ids, dtype=np.int64)
        ref = self._ray.put(ids)
        return int(sum(self._ray.get([s.remove.remote(ref) for s in self.shards])))

    def counts(self) -> list[int]:
        """Vectors per shard."""
        return self._ray.get([s.count.remote() for s in self.shards])

    def __len__(self) -> int:
        return int(sum(self.counts()))

    # -- what rag.store.Store reads of a collection's vector store --------------
    has_lexical = True  # every append from the store carries terms, so each shard's first one makes its index

    @property
    def analyzer(self) -> str | None:
        """The shards' BM25 analyzer; asked of the shards until one has an index, then kept (an index never
        changes its analyzer), so queries and writes do not pay a fan-out for it."""
        if self._analyzer is None:
            self._analyzer = next((a for _, a in self._ray.get([s.stored.remote() for s in self.shards]) if a), None)
        return self._analyzer

    def stored_count(self) -> int:
        return int(sum(n for n, _ in self._ray.get([s.stored.remote() for s in self.shards])))

    def stored_ids(self) -> np.ndarray:
        return np.concatenate(self._ray.get([s.stored_ids.remote() for s in self.shards]))

    def segment_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        parts = self._ray.get([s.segment_vectors.remote() for s in self.shards])
        return np.concatenate([x for x, _ in parts]), np.concatenate([i for _, i in parts])

    def merge(self) -> int:
        """Merge each shard's runs (one index per shard: the fewest per query); return how many merges."""
        return int(sum(self._ray.get([s.merge.remote() for s in self.shards])))

    def wait_for_merges(self) -> None:
        self._ray.get([s.wait_for_merges.remote() for s in self.shards])

    def compact_lexical(self) -> bool:
        return any(self._ray.get([s.compact_lexical.remote() for s in self.shards]))

    def close(self) -> None:
        """Stop the shard actors once their merges finish (the directories stay; a new ShardedIndex over
        ``root`` reopens them)."""
        try:
            self._ray.get([s.close.remote() for s in self.shards])
        finally:
            for s in self.shards:
                self._ray.kill(s, no_restart=True)
            self.shards = []


def sharded_opener(address: str | None):
    """``Store(open_sharded=...)``: opens a sharded collection's :class:`ShardedIndex` on the Ray at ``address``
    (None: a local Ray, started in this process), its shard actors merging their runs in the background."""

    def open_sharded(root: Path, collection) -> ShardedIndex:
        from rag.distributed import init_ray

        init_ray(address)
        spec = collection.index_spec
        return ShardedIndex(root, collection.shards, collection.dim, collection.metric, spec, background_merges=True)

    return open_sharded
