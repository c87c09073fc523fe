"""End-to-end RAG benchmark: ingest throughput and per-stage query latency.

Ingest: documents/s and chunks/s of files ingested in batches (one write per
batch, as a multi-file upload), with the time split into parse, chunk, embed
and write, and the ingest efficiency = ingest chunks/s divided by the raw
embedding throughput of the model alone on the same texts (what was embedded).

Search during an ingest: while the files are ingested, a few threads search
the collection in a loop (as clients of the server would); their latency
percentiles show whether a query ever waits for the ingest. The same queries
are then timed on the idle collection for comparison.

Query: for each question, p50/p99 of each stage that the pipeline runs (embed
query, retrieve, generate; HyDE, rerank and fusion are reported once the
pipeline has them), time to first token and decode tokens/s from the
generator's streaming interface.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np

from core.errors import InvalidInputError
from rag.bench.metrics import percentiles
from rag.pipeline.budget import answer_config


def read_questions(path: Path) -> list[str]:
    """Questions from a .jsonl file (field ``question`` or ``text``) or one per line of a text file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            row = json.loads(line)
            out.append(row.get("question") or row.get("text") or "")
        else:
            out.append(line)
    return [q for q in out if q]


# Searches issued during an ingest when no questions file is given: plain, varied queries.
PROBE_QUERIES = (
    "how does the method work",
    "what are the main results",
    "installation and requirements",
    "who wrote this and when",
    "limitations of the approach",
    "definition of the key term",
)


class SearchProbe:
    """Threads that search ``collection`` in a loop and record each search's seconds.

    Args:
        search: ``search(query)`` runs one search.
        queries: cycled through by every thread.
        threads: how many clients search at once.
        pause: seconds a client waits after each answer before its next search,
            so the probe is a load of users, not a flood that starves the ingest.
    """

    def __init__(self, search, queries: list[str], threads: int = 4, pause: float = 0.25) -> None:
        self.search, self.queries, self.pause = search, list(queries), pause
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    def _loop(self, offset: int) -> None:
        i = offset
        while not self._stop.is_set():
            t0 = time.perf_counter()
            self.search(self.queries[i % len(self.queries)])
            self.seconds.append(time.perf_counter() - t0)
            i += 1
            self._stop.wait(self.pause)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join()

    def report(self) -> dict:
        out = {
            "searches": len(self.seconds),
            "threads": len(self._threads),
            "pause_s": self.pause,
            **percentiles(self.seconds),
        }
        out["max_ms"] = round(max(self.seconds) * 1000.0, 1) if self.seconds else 0.0
        return out


def bench_ingest(
    platform,
    collection: str,
    paths: list[Path],
    probe_queries: list[str] | None = None,
    probe_threads: int = 4,
    k=5,
    batch: int = 16,
) -> dict:
    """Ingest ``paths`` in batches of ``batch`` files (one write each, as a multi-file upload is; the
    next batch parsed meanwhile); from the second batch on, ``probe_threads`` threads search the
    collection concurrently.

    The raw rate embeds the very texts the ingest embedded (each chunk with its title and
    headings), in one call, so the efficiency compares like with like.
    """
    pipeline = platform.ingest_pipeline
    totals = {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "write": 0.0}
    n_docs = n_chunks = 0
    failed: list[str] = []
    queries = list(probe_queries or PROBE_QUERIES)
    probe = SearchProbe(lambda q: platform.query_pipeline.search(collection, q, k), queries, probe_threads)
    t0 = time.perf_counter()
    try:
        readers = [(path.name, path.read_bytes) for path in paths]
        for i, (name, result) in enumerate(pipeline.ingest_files(collection, readers, batch)):
            if i == batch and probe_threads:  # the collection exists once the first batch is stored
                probe.start()
            if isinstance(result, InvalidInputError):  # an encrypted or image-only file: the benchmark goes on
                failed.append(name)
                continue
            if isinstance(result, Exception):
                raise result
            if result.duplicate:
                continue
            n_docs += 1
            n_chunks += result.n_chunks
            for key in totals:
                totals[key] += getattr(result.seconds, key)
    finally:
        probe.stop()
    wall = time.perf_counter() - t0
    idle = []
    for q in queries * 3:
        t = time.perf_counter()
        platform.query_pipeline.search(collection, q, k)
        idle.append(time.perf_counter() - t)
    texts = embedded_texts(platform.store, collection)
    raw = 0.0
    if texts:
        t = time.perf_counter()
        platform.embedder.embed(texts)
        raw = len(texts) / (time.perf_counter() - t)
    chunks_per_s = n_chunks / wall if wall > 0 else 0.0
    return {
        "documents": n_docs,
        "failed": failed,
        "chunks": n_chunks,
        "batch_files": batch,
        "probe_threads": probe_threads,
        "embedder": platform.embedder.model_name,
        "seconds": round(wall, 3),
        "documents_per_s": round(n_docs / wall, 3) if wall > 0 else 0.0,
        "chunks_per_s": round(chunks_per_s, 2),
        "stage_seconds": {k: round(v, 3) for k, v in totals.items()},
        "raw_embed_chunks_per_s": round(raw, 2),
        "ingest_efficiency": round(chunks_per_s / raw, 3) if raw else None,
        "search_during_ingest": probe.report(),
        "search_idle": percentiles(idle),
    }


def embedded_texts(store, collection: str) -> list[str]:
    """What the ingest embedded for each chunk of ``collection`` (text with its title and headings)."""
    from rag.pipeline.ingest import embedding_input

    coll = store.catalog.get_collection(collection)
    with store.catalog.cursor() as cur:
        rows = cur.execute(
            "SELECT d.title, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.collection_id = ? ORDER BY c.id",
            [coll.id],
        ).fetchall()
    return [embedding_input(title, tuple(path or ()), text) for title, path, text in rows]


def bench_queries(platform, collection: str, questions: list[str], k: int = 5, context: str = "prompt") -> dict:
    """Stage latencies, time to first token and decode speed per question.

    ``context="retro"`` writes each answer through the CCA retrofit instead of the prompt: the
    ``fusion`` stage (choosing and encoding neighbours) is timed apart from ``generate``, and the
    decode speed is the decoder's own count with the CCA layers on (no streaming: no first-token time).
    """
    pipeline = platform.query_pipeline
    stages: dict[str, list[float]] = {}
    ttft, tok_s = [], []
    for q in questions:
        retrieval = pipeline.retrieve(pipeline.query(collection, q, k, what="question"))
        timings = retrieval.timings.as_dict()
        if context == "retro":
            _, passages = pipeline.prompt(q, [h.chunk for h in retrieval.hits])
            t0 = time.perf_counter()
            focus = pipeline.focus(q, passages)
            timings["focus"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            written = pipeline.retro(platform.generator, q, passages, focus, answer_config(pipeline.generation, q))
            timings["fusion"] = written.fusion_seconds
            timings["generate"] = time.perf_counter() - t0 - written.fusion_seconds
            if written.decode_tokens_per_s > 0:
                tok_s.append(written.decode_tokens_per_s)
        else:
            messages, _ = pipeline.prompt(q, [h.chunk for h in retrieval.hits])
            t0 = time.perf_counter()
            first = None
            pieces = []
            for piece in platform.generator.stream(messages, answer_config(pipeline.generation, q)):
                if first is None:
                    first = time.perf_counter() - t0
                pieces.append(piece)
            gen_s = time.perf_counter() - t0
            timings["generate"] = gen_s
            ttft.append(first if first is not None else gen_s)
            n_tok = platform.generator.count_tokens("".join(pieces))
            # Decode speed counts the tokens after the first over the time after it;
            # a backend that does not stream (one piece) gives tokens over total time.
            decode_s = gen_s - first if len(pieces) > 1 and first is not None else gen_s
            if decode_s > 0 and n_tok > 1:
                tok_s.append((n_tok - 1 if len(pieces) > 1 else n_tok) / decode_s)
        for stage, seconds in timings.items():
            stages.setdefault(stage, []).append(seconds)
    return {
        "questions": len(questions),
        "k": k,
        "context": context,
        "stages": {s: percentiles(v) for s, v in stages.items()},
        "time_to_first_token": percentiles(ttft) if ttft else None,
        "decode_tokens_per_s_mean": round(float(np.mean(tok_s)), 2) if tok_s else None,
    }


def run(
    platform,
    collection: str,
    questions_file: Path | None,
    ingest_paths: list[Path],
    out: Path | None,
    k: int = 5,
    batch: int = 16,
    probe_threads: int = 4,
    context: str = "prompt",
) -> dict:
    report: dict = {"collection": collection, "generator": platform.settings.generator}
    if ingest_paths:
        questions = read_questions(questions_file) if questions_file is not None else None
        report["ingest"] = bench_ingest(platform, collection, ingest_paths, questions, probe_threads, k, batch)
    if questions_file is not None:
        report["query"] = bench_queries(platform, collection, read_questions(questions_file), k, context)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "rag_bench.json").write_text(json.dumps(report, indent=2))
    return report
