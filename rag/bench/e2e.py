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
from dataclasses import dataclass, field
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
    queries = list(probe_queries or PROBE_QUERIES)
    probe = SearchProbe(lambda q: platform.query_pipeline.search(collection, q, k), queries, probe_threads)
    tally, wall = _ingest(platform.ingest_pipeline, collection, paths, batch, probe)
    idle = []
    for q in queries * 3:
        t = time.perf_counter()
        platform.query_pipeline.search(collection, q, k)
        idle.append(time.perf_counter() - t)
    raw = _raw_embed_rate(platform, collection)
    chunks_per_s = tally.chunks / wall if wall > 0 else 0.0
    return {
        "documents": tally.documents,
        "failed": tally.failed,
        "chunks": tally.chunks,
        "batch_files": batch,
        "probe_threads": probe_threads,
        "embedder": platform.embedder.model_name,
        "seconds": round(wall, 3),
        "documents_per_s": round(tally.documents / wall, 3) if wall > 0 else 0.0,
        "chunks_per_s": round(chunks_per_s, 2),
        "stage_seconds": {k: round(v, 3) for k, v in tally.stages.items()},
        "raw_embed_chunks_per_s": round(raw, 2),
        "ingest_efficiency": round(chunks_per_s / raw, 3) if raw else None,
        "search_during_ingest": probe.report(),
        "search_idle": percentiles(idle),
    }


@dataclass
class _Tally:
    """What the benchmark's ingest stored: documents, chunks, seconds per stage, and the files refused."""

    documents: int = 0
    chunks: int = 0
    failed: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("parse", "chunk", "embed", "write"), 0.0))

    def add(self, name: str, result) -> None:
        """Count one file's :class:`IngestResult`; an error other than a refused file is raised."""
        if isinstance(result, InvalidInputError):  # an encrypted or image-only file: the benchmark goes on
            self.failed.append(name)
        elif isinstance(result, Exception):
            raise result
        elif not result.duplicate:
            self.documents += 1
            self.chunks += result.n_chunks
            for key in self.stages:
                self.stages[key] += getattr(result.seconds, key)


def _ingest(pipeline, collection: str, paths: list[Path], batch: int, probe: SearchProbe) -> tuple[_Tally, float]:
    """Ingest ``paths``, the probe searching from the second batch on; the tally and the wall seconds."""
    tally = _Tally()
    t0 = time.perf_counter()
    try:
        readers = [(path.name, path.read_bytes) for path in paths]
        for i, (name, result) in enumerate(pipeline.ingest_files(collection, readers, batch)):
            if i == batch:  # the collection exists once the first batch is stored (a probe of 0 threads is idle)
                probe.start()
            tally.add(name, result)
    finally:
        probe.stop()
    return tally, time.perf_counter() - t0


def _raw_embed_rate(platform, collection: str) -> float:
    """Chunks/s of the embedder alone on the texts the ingest embedded (0 when there are none)."""
    texts = embedded_texts(platform.store, collection)
    if not texts:
        return 0.0
    t = time.perf_counter()
    platform.embedder.embed(texts)
    return len(texts) / (time.perf_counter() - t)


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
        chunks = [h.chunk for h in retrieval.hits]
        if context == "retro":
            speed = _time_retro(pipeline, platform.generator, q, chunks, timings)
        else:
            first, speed = _time_prompt(pipeline, platform.generator, q, chunks, timings)
            ttft.append(first)
        if speed is not None:
            tok_s.append(speed)
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


def _time_retro(pipeline, generator, q: str, chunks: list, timings: dict[str, float]) -> float | None:
    """Answer ``q`` through the retrofit, adding its focus, fusion and generate seconds to ``timings``;
    the decoder's tokens/s (None when it counted none)."""
    _, passages = pipeline.prompt(q, chunks)
    t0 = time.perf_counter()
    focus = pipeline.focus(q, passages)
    timings["focus"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    written = pipeline.retro(generator, q, passages, focus, answer_config(pipeline.generation, q))
    timings["fusion"] = written.fusion_seconds
    timings["generate"] = time.perf_counter() - t0 - written.fusion_seconds
    return written.decode_tokens_per_s if written.decode_tokens_per_s > 0 else None


def _time_prompt(pipeline, generator, q: str, chunks: list, timings: dict[str, float]) -> tuple[float, float | None]:
    """Stream an answer to ``q`` from the prompt, adding its generate seconds to ``timings``; the time to
    the first piece and the decode tokens/s (None when too few tokens or no time to measure)."""
    messages, _ = pipeline.prompt(q, chunks)
    t0 = time.perf_counter()
    first, pieces = None, []
    for piece in generator.stream(messages, answer_config(pipeline.generation, q)):
        if first is None:
            first = time.perf_counter() - t0
        pieces.append(piece)
    gen_s = time.perf_counter() - t0
    timings["generate"] = gen_s
    n_tok = generator.count_tokens("".join(pieces))
    # Decode speed counts the tokens after the first over the time after it;
    # a backend that does not stream (one piece) gives tokens over total time.
    decode_s = gen_s - first if len(pieces) > 1 and first is not None else gen_s
    speed = (n_tok - 1 if len(pieces) > 1 else n_tok) / decode_s if decode_s > 0 and n_tok > 1 else None
    return (first if first is not None else gen_s), speed


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
