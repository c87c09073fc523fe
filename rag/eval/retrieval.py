"""Retrieval quality of the query pipeline on a BEIR-format set: nDCG@10, recall@100, MRR@10, p50 latency per stage.

The corpus goes into a store once, through the platform's own ingest path (one
collection, each document as ``<id>.txt`` holding its title and text), and the
store is cached under a name that holds the corpus digest and the chunk size.
Each configuration (:data:`CONFIGS`) is a :class:`SearchOptions` run over every
query through the platform's query pipeline. The pipeline returns chunks; a
document is ranked by its best chunk, and, as BEIR's evaluator does, a document
whose id equals the query's id is not counted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from rag.bench.ann import machine
from rag.eval.beir import RetrievalSet
from rag.eval.ingest import ingest_texts
from rag.metrics import mrr_at, ndcg_at, recall_at_docs
from rag.pipeline.request import Query, SearchOptions, check_text
from rag.settings import Settings

log = logging.getLogger(__name__)

CHUNK_DEPTH = 300  # chunks asked per query: recall@100 needs 100 distinct documents, and a document has several chunks
DOC_DEPTH = 100  # documents kept per query (recall@100)
COLLECTION = "corpus"
INGEST_BATCH = 64  # files per ingest job
DONE_MARKER = "beir-done.json"
STAGES = ("hyde", "embed", "dense", "bm25", "fuse", "fetch", "rerank")
CACHE_ROOT = Path("benchmarks/results/cache")

CONFIGS: dict[str, SearchOptions] = {
    "dense": SearchOptions(fusion="dense"),
    "bm25": SearchOptions(fusion="bm25"),
    "hybrid": SearchOptions(fusion="rrf"),
    "hybrid-convex": SearchOptions(fusion="convex"),
    "hybrid+hyde": SearchOptions(fusion="rrf", hyde=True),
    "hybrid+rerank": SearchOptions(fusion="rrf", rerank="minilm-scifact", candidates=50),
    "hybrid+maxsim": SearchOptions(fusion="rrf", rerank="maxsim"),
    "full": SearchOptions(fusion="rrf", hyde=True, rerank="minilm-scifact"),
}

# Rerankers fitted on training data: reranker -> (the set it was fitted on, what it was fitted on).
# On that set (its test split) the numbers are in-domain, not zero-shot.
TRAINED_ON = {"minilm-scifact": ("scifact", "SciFact train qrels")}


def configs(names: Iterable[str] | None = None) -> dict[str, SearchOptions]:
    """The named configurations in the order given (all when ``names`` is None); unknown names raise."""
    if names is None:
        return dict(CONFIGS)
    names = list(names)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ConfigError(f"unknown configuration(s) {', '.join(unknown)}; use some of {', '.join(CONFIGS)}")
    return {n: CONFIGS[n] for n in names}


# -- the store ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCorpus:
    """A set's corpus in a store: which test-set ids each stored document stands for.

    Attributes:
        ids: stored document id -> the set's ids of every identical text it holds
            (the store keeps identical bytes once and reports the others as duplicates).
        chunks: chunks in the collection.
    """

    collection: str
    ids: dict[int, list[str]]
    documents: int
    chunks: int
    index_spec: str
    skipped: tuple[str, ...] = ()  # ids of documents with neither title nor text


def default_store_dir(dataset: RetrievalSet, chunk_tokens: int, root: Path = CACHE_ROOT) -> Path:
    return root / f"beir-{dataset.name}-{dataset.corpus_sha256()[:12]}-{chunk_tokens}"


def document_bytes(title: str, text: str) -> bytes:
    return (f"{title}\n\n{text}" if title else text).encode("utf-8")


def build_store(platform, dataset: RetrievalSet, progress: Callable[[int, int], None] | None = None) -> StoredCorpus:
    """Ingest the corpus into ``platform``'s store unless its done-marker says it is there already.

    An interrupted build is finished by running this again: documents already stored come
    back as duplicates of themselves (same bytes), which also rebuilds their id lists.
    """
    marker = platform.settings.data_dir / DONE_MARKER
    digest = dataset.corpus_sha256()
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.pop("corpus_sha256") != digest:
            raise ConfigError(f"{marker.parent} holds another corpus; pass another --store or delete that folder")
        done["ids"] = {int(k): v for k, v in done["ids"].items()}
        return StoredCorpus(**dict(done, skipped=tuple(done["skipped"])))
    docs = [d for d in dataset.corpus if d.title.strip() or d.text.strip()]
    ids: dict[int, list[str]] = {}
    for start in range(0, len(docs), INGEST_BATCH):
        batch = docs[start : start + INGEST_BATCH]
        files = [(f"{d.id}.txt", document_bytes(d.title, d.text)) for d in batch]
        for doc, result in zip(batch, ingest_texts(platform.ingest_pipeline, COLLECTION, files)):
            ids.setdefault(result.document_id, []).append(doc.id)
        log.info("stored %d of %d documents", start + len(batch), len(docs))
        if progress is not None:
            progress(start + len(batch), len(docs))
    coll = platform.store.catalog.get_collection(COLLECTION)
    chunks = platform.store.catalog.count("chunks", coll.id)
    skipped = tuple(d.id for d in dataset.corpus if not (d.title.strip() or d.text.strip()))
    stored = StoredCorpus(COLLECTION, ids, len(ids), chunks, coll.index_spec, skipped)
    # written last: the marker exists only once every document is stored
    marker.write_text(json.dumps(dict(dataclasses.asdict(stored), corpus_sha256=digest)), encoding="utf-8")
    return stored


# -- one configuration -------------------------------------------------------------


def rank_documents(hits, ids: dict[int, list[str]], query_id: str, depth: int = DOC_DEPTH) -> list[str]:
    """Test-set document ids, best first, from chunk hits: each document at its best chunk's rank.

    A document whose id is the query's own id is left out (BEIR's evaluator does the same).
    """
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        for doc in ids.get(hit.chunk.document_id, ()):
            if doc not in seen and doc != query_id:
                seen.add(doc)
                ranked.append(doc)
        if len(ranked) >= depth:
            break
    return ranked[:depth]


def p50_ms(seconds: list[float]) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000.0, 50)), 2) if seconds else 0.0


def evaluate(pipeline, stored: StoredCorpus, dataset: RetrievalSet, options: SearchOptions) -> dict:
    """Mean nDCG@10, recall@100, MRR@10 over the set's queries, and p50 milliseconds per stage and in total."""
    collection = pipeline.store.catalog.get_collection(stored.collection)
    queries = [(qid, check_text(text)) for qid, text in dataset.queries.items()]
    if queries:  # load the models this configuration needs before timing anything
        pipeline.retrieve(Query(collection, queries[0][1], CHUNK_DEPTH, options))
    ndcg, recall, mrr, total = [], [], [], []
    stages: dict[str, list[float]] = {}
    for qid, text in queries:
        t0 = time.perf_counter()
        retrieval = pipeline.retrieve(Query(collection, text, CHUNK_DEPTH, options))
        total.append(time.perf_counter() - t0)
        for stage, seconds in retrieval.timings.as_dict().items():
            stages.setdefault(stage, []).append(seconds)
        ranked = rank_documents(retrieval.hits, stored.ids, qid)
        relevant = dataset.relevant(qid)
        ndcg.append(ndcg_at(ranked, dataset.qrels[qid], 10))
        recall.append(recall_at_docs(ranked, relevant, 100))
        mrr.append(mrr_at(ranked, relevant, 10))
    latency = {s: p50_ms(stages[s]) for s in STAGES if s in stages}
    latency["total"] = p50_ms(total)
    return {
        "ndcg@10": round(float(np.mean(ndcg)), 4) if ndcg else 0.0,
        "recall@100": round(float(np.mean(recall)), 4) if recall else 0.0,
        "mrr@10": round(float(np.mean(mrr)), 4) if mrr else 0.0,
        "latency_ms_p50": latency,
    }


def trained_on(options: SearchOptions, dataset: RetrievalSet) -> str | None:
    """What the configuration's reranker was fitted on, and whether that is this set's domain; None: zero-shot."""
    if options.rerank not in TRAINED_ON:
        return None
    domain, data = TRAINED_ON[options.rerank]
    return f"{data} ({'in-domain' if domain in dataset.name.lower() else 'out-of-domain'})"


def reranker_metadata(name: str) -> dict | None:
    """The scalar fields of a trained reranker's metadata file (``rag/rerank/weights/<name>.json``), if present."""
    from rag.rerank.cross_encoder import WEIGHTS_DIR

    path = WEIGHTS_DIR / f"{name}.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool) and k != "weights_sha256"}


# -- the run -----------------------------------------------------------------------


def run(
    settings: Settings,
    dataset: RetrievalSet,
    names: Iterable[str] | None,
    out: Path,
    store_dir: Path | None = None,
    sample: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Evaluate the named configurations on ``dataset`` (``sample`` queries, seed 0); write ``out`` and a plot."""
    from rag.platform import Platform

    chosen = configs(names)
    queries = dataset.sample(sample, seed=0)
    store_dir = store_dir or default_store_dir(dataset, settings.chunk_tokens)
    store_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(settings.replace(data_dir=store_dir))
    try:
        stored = build_store(platform, dataset, progress)
        rows = []
        for name, options in chosen.items():
            log.info("evaluating %s on %d queries", name, len(queries.queries))
            row = {"name": name, **evaluate(platform.query_pipeline, stored, queries, options)}
            row["trained_on"] = trained_on(options, dataset)
            if row["trained_on"]:
                row["reranker"] = reranker_metadata(options.rerank)
            rows.append(row)
    finally:
        platform.close()
    report = {
        "dataset": dataset.name,
        "split": dataset.split,
        "queries": len(queries.queries),
        "sample": sample,
        "seed": 0,
        "corpus_docs": len(dataset.corpus),
        "chunks": stored.chunks,
        "stored_documents": stored.documents,
        "index_spec": stored.index_spec,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_depth": CHUNK_DEPTH,
        "machine": machine(),
        "configs": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, out.with_suffix(""))
    return report


def markdown_table(report: dict) -> str:
    lines = [
        "| config | nDCG@10 | recall@100 | MRR@10 | p50 ms | trained on |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["configs"]:
        trained = r["trained_on"] or "zero-shot"
        lines.append(
            f"| {r['name']} | {r['ndcg@10']:.3f} | {r['recall@100']:.3f} | {r['mrr@10']:.3f} "
            f"| {r['latency_ms_p50']['total']:.1f} | {trained} |"
        )
    return "\n".join(lines)


def plot(report: dict, out_stem: Path) -> list[Path]:
    """Write ``out_stem``.png and .svg: one nDCG@10 bar per configuration (in-domain rerankers hatched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rag.bench.plot import save_figure

    rows = report["configs"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4.5))
    bars = ax.bar([r["name"] for r in rows], [r["ndcg@10"] for r in rows], color="tab:blue")
    for bar, r in zip(bars, rows):
        if r["trained_on"]:
            bar.set_hatch("//")
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1)
    sample = ", seeded sample" if report["sample"] else ""
    ax.set_title(f"{report['dataset']} ({report['split']}, {report['queries']} queries{sample})")
    if any(r["trained_on"] for r in rows):
        ax.annotate(
            "hatched: reranker fitted on training data (trained_on in the JSON)",
            (0.01, 0.97),
            xycoords="axes fraction",
            va="top",
            fontsize=8,
        )
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save_figure(fig, out_stem)
