"""``rag ingest``, ``rag search`` and ``rag ask``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from indexes.errors import InvalidInputError
from rag.cli import GLOBAL_OPTIONS

if TYPE_CHECKING:
    from rag.pipeline.citations import Citation
    from rag.store import StoredChunk

INGEST_EXIT_CODES = """exit status:
  0  every file was stored, or was stored before (a duplicate)
  1  at least one file failed; the others were stored, and the summary
     on stderr names the failed files
  2  nothing was ingested: a path does not exist, the collection name or
     a setting is invalid, or the arguments are wrong"""


def register(sub) -> None:
    p = sub.add_parser(
        "ingest",
        parents=[GLOBAL_OPTIONS],
        help="parse, chunk, embed and store files",
        epilog=INGEST_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", help="files or directories (searched recursively for supported types)")
    p.add_argument("--collection", default="default", help="collection name (created if missing)")
    p.add_argument("--batch", type=int, default=16, help="files stored per write (the next batch is parsed meanwhile)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", parents=[GLOBAL_OPTIONS], help="find the passages most similar to a text")
    p.add_argument("text")
    p.add_argument("-k", type=int, default=10, help="number of results")
    p.add_argument("--collection", default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_retrieval_options(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "ask", parents=[GLOBAL_OPTIONS], help="answer a question from the stored documents, with citations"
    )
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="passages given to the model")
    p.add_argument("--collection", default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_retrieval_options(p)
    from rag.cli.ask import add_answer_options, cmd_ask

    add_answer_options(p)
    p.set_defaults(func=cmd_ask)


def _platform(args):
    from rag.cli import settings_from
    from rag.platform import Platform

    return Platform(settings_from(args))


def expand_paths(paths: list[str]) -> list[Path]:
    from ingest.parse import SUPPORTED_TYPES

    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_TYPES))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"{raw} does not exist")
    return files


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest each file; 0 when all are stored or duplicates, 1 when any failed (see INGEST_EXIT_CODES)."""
    from tqdm import tqdm

    from rag.store import check_collection_name

    check_collection_name(args.collection)  # once, here, rather than once per file in the loop
    files = expand_paths(args.paths)
    platform = _platform(args)
    stored = duplicates = 0
    failed: list[Path] = []
    try:
        pipeline = platform.ingest_pipeline
        # chunk counts are known only once a file is chunked, so the bar counts chunks and their rate, no total
        with tqdm(unit="chunk", desc="embedding", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            readers = [(path.name, path.read_bytes) for path in files]
            outcomes = pipeline.ingest_files(args.collection, readers, args.batch, progress=lambda n: bar.update(n))
            for path, (_, result) in zip(files, outcomes, strict=True):
                if isinstance(result, Exception):
                    failed.append(path)
                    tqdm.write(f"skipped {path}: {result}", file=sys.stderr)
                    continue
                if result.duplicate:
                    duplicates += 1
                else:
                    stored += 1
                state = "duplicate of" if result.duplicate else "stored as"
                tqdm.write(f"{path}: {state} document {result.document_id} ({result.n_chunks} chunks)", file=sys.stdout)
    finally:
        platform.close()
    summary = f"ingest: stored {stored}, duplicates {duplicates}, failed {len(failed)} of {len(files)} files"
    if failed:
        summary += ": " + ", ".join(str(path) for path in failed)
    print(summary, file=sys.stderr)
    return 1 if failed else 0


def add_retrieval_options(p: argparse.ArgumentParser) -> None:
    """The per-request retrieval switches (the same as the REST fields); left out, the defaults apply."""
    g = p.add_argument_group("retrieval")
    g.add_argument("--fusion", choices=("rrf", "convex", "dense", "bm25"), help="how dense and BM25 results combine")
    g.add_argument("--hyde", action="store_true", default=None, help="search with a hypothetical passage (HyDE)")
    g.add_argument(
        "--rerank",
        nargs="?",
        const=True,
        metavar="NAME",
        help="re-score candidates with a reranker (the default one, or NAME: minilm-scifact, maxsim)",
    )
    g.add_argument("--no-rerank", dest="rerank", action="store_false", help="no reranking")
    g.add_argument("--candidates", type=int, help="chunks each retriever returns before fusion and reranking")


def _options(platform, args: argparse.Namespace):
    return platform.query_pipeline.defaults.replace(
        fusion=args.fusion, hyde=args.hyde, rerank=args.rerank, candidates=args.candidates
    )


def hit_json(h) -> dict:
    """One search hit as JSON: the chunk's fields, its final score and each stage's."""
    return dict(
        dataclasses.asdict(h.chunk),
        heading_path=list(h.chunk.heading_path),
        score=h.score,
        dense_score=h.dense,
        bm25_score=h.bm25,
        rerank_score=h.rerank,
    )


def cmd_search(args: argparse.Namespace) -> int:
    platform = _platform(args)
    try:
        result = platform.query_pipeline.search(args.collection, args.text, args.k, _options(platform, args))
    finally:
        platform.close()
    if args.json:
        print(
            json.dumps({"results": [hit_json(h) for h in result.hits], "timings": result.timings.as_dict()}, indent=2)
        )
        return 0
    for rank, h in enumerate(result.hits, 1):
        snippet = " ".join(h.chunk.text.split())[:160]
        print(f"{rank:2d}. {h.score:.3f} {passage_source(h.chunk)}  {snippet}")
    return 0


def passage_source(source: Citation | StoredChunk) -> str:
    """Where a passage comes from, e.g. ``notes.md (document 7), page 3, chars 120-480``.

    The document id tells apart files that share a name; pages are left out for types without them.
    """
    if source.document_id < 0:
        return source.filename  # a tool's result with no source document ("calculator tool")
    page = f", page {source.page}" if source.page is not None else ""
    return f"{source.filename} (document {source.document_id}){page}, chars {source.char_start}-{source.char_end}"


def citation_line(citation: Citation) -> str:
    """One line of ``rag ask``'s sources, e.g. ``[1] notes.md (document 7), page 3, chars 120-480``."""
    return f"[{citation.number}] {passage_source(citation)}"
