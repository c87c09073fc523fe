"""``rag ingest`` and ``rag search`` (``rag ask`` is in ``ask``; how passages print, in ``show``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InvalidInputError, RAGError
from rag.cli import GLOBAL_OPTIONS, add_server_option
from rag.cli.show import HIT_KEYS, hit_json, ordered, passage_source

if TYPE_CHECKING:
    from rag.pipeline.ingest import EmbedProgress, Progress
    from rag.server_file import ServerFile

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
    p.add_argument(
        "--password",
        help="opens encrypted Office files among the paths (kept in memory only; the files it does not open fail)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: parse and embed on a Ray cluster (pip install 'localrag[ray]')",
    )
    p.add_argument("--address", help="with --engine ray: the cluster to join (e.g. auto); default a local Ray")
    p.add_argument("--workers", type=int, default=2, help="with --engine ray: embedding actors (one model each)")
    add_server_option(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", parents=[GLOBAL_OPTIONS], help="find the passages most similar to a text")
    p.add_argument("text")
    p.add_argument("-k", type=int, default=10, help="number of results")
    p.add_argument("--collection", default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_retrieval_options(p)
    add_server_option(p)
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
    add_server_option(p)
    p.set_defaults(func=cmd_ask)


def _platform(args):
    """The local platform; a catalog locked by another process is an error that says what to do."""
    from rag.cli import settings_from
    from rag.platform import Platform

    settings = settings_from(args)
    try:
        return Platform(settings)
    except RAGError as exc:
        if not _locked(exc):
            raise
        raise RAGError(in_use_message(settings.data_dir, exc.__cause__)) from exc


def _locked(exc: RAGError) -> bool:
    import duckdb

    cause = exc.__cause__
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


def in_use_message(data_dir: Path, cause: BaseException | None = None) -> str:
    """What to do when another process holds ``data_dir``'s catalog and no server there answers."""
    from rag.server_file import read_server_file, server_file_path

    info = read_server_file(data_dir)
    found = re.search(r"\(PID (\d+)\)", str(cause or ""))
    pid = f" (pid {info.pid})" if info else f" (pid {found.group(1)})" if found else ""
    file = server_file_path(data_dir)
    message = f"the data directory {data_dir} is in use by another process{pid}. "
    if info:
        message += f"{file} names a server at {info.url} that did not answer for this directory; if it is starting, "
        message += "try again in a moment. "
    return message + (
        f"If it is `rag serve`, start it again so it writes {file}, or stop it; "
        "or use --data-dir with another directory"
    )


def running_server_for(args: argparse.Namespace) -> ServerFile | None:
    """The ``rag serve`` of ``--server``, or the one that holds the data directory (the CLI then works through
    it), or None."""
    from rag.cli import settings_from

    if getattr(args, "server", None):
        from rag.cli.remote import explicit_server

        server = explicit_server(args.server)
        print(f"using the server at {server.url} (--server)", file=sys.stderr)
        return server
    from rag.server_file import running_server

    data_dir = settings_from(args).data_dir
    server = running_server(data_dir)
    if server is not None:
        print(f"using the server at {server.url} (it holds {data_dir.resolve()})", file=sys.stderr)
    return server


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


def _bar_progress(bar) -> Progress:
    """Moves the progress bar by the chunks embedded since the last report (a write batch starts at 0)."""
    last = 0

    def update(p: EmbedProgress) -> None:
        nonlocal last
        if p.embedded == 0:
            last = 0
        bar.update(p.embedded - last)
        last = p.embedded

    return update


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest each file; 0 when all are stored or duplicates, 1 when any failed (see INGEST_EXIT_CODES)."""
    from tqdm import tqdm

    from rag.store import check_collection_name

    check_collection_name(args.collection)  # once, here, rather than once per file in the loop
    files = expand_paths(args.paths)
    engine = getattr(args, "engine", "local")
    if engine != "local" and running_server_for(args) is not None:
        raise InvalidInputError("--engine ray writes the data directory itself: stop the server that holds it first")
    password = getattr(args, "password", None)
    if password and engine != "local":
        raise InvalidInputError("--password works with --engine local; leave --engine out to ingest encrypted files")
    server = running_server_for(args) if engine == "local" else None
    stored = duplicates = 0
    failed: list[Path] = []
    with contextlib.ExitStack() as stack:
        if server is None:
            platform = _platform(args)
            stack.callback(platform.close)
            pipeline = platform.ingest_pipeline
        # chunk counts are known only once a file is chunked, so the bar counts chunks and their rate, no total
        bar = stack.enter_context(
            tqdm(unit="chunk", desc="embedding", disable=not sys.stderr.isatty(), file=sys.stderr)
        )
        if engine == "ray":
            from rag.distributed.ingest import ray_ingest

            outcomes = ray_ingest(
                pipeline, args.collection, files, address=args.address, workers=args.workers, batch=args.batch,
                index_spec=args.index_spec, embed_batch_size=platform.settings.embed_batch_size,
            )  # fmt: skip
        elif server is None:
            readers = [(path.name, path.read_bytes) for path in files]
            outcomes = pipeline.ingest_files(
                args.collection, readers, args.batch, _bar_progress(bar), password=password
            )
        else:
            from rag.cli.remote import RemoteClient

            client = stack.enter_context(RemoteClient(server))
            how = {"password": password} if password else {}  # sent as the upload's form field
            outcomes = client.ingest(args.collection, files, args.batch, index_spec=args.index_spec, **how)
        for path, (_, result) in zip(files, outcomes, strict=True):
            if isinstance(result, Exception):
                failed.append(path)
                tqdm.write(f"skipped {path}: {result}", file=sys.stderr)
                continue
            if server is not None or engine == "ray":
                bar.update(result.n_chunks)
            if result.duplicate:
                duplicates += 1
            else:
                stored += 1
            state = "duplicate of" if result.duplicate else "stored as"
            tqdm.write(f"{path}: {state} document {result.document_id} ({result.n_chunks} chunks)", file=sys.stdout)
            for line in attachment_lines(result) if server is None else []:  # a server's answer lists none
                tqdm.write(line, file=sys.stdout)
    summary = f"ingest: stored {stored}, duplicates {duplicates}, failed {len(failed)} of {len(files)} files"
    if failed:
        summary += ": " + ", ".join(str(path) for path in failed)
    print(summary, file=sys.stderr)
    return 1 if failed else 0


def attachment_lines(result) -> list[str]:
    """``  attachment m.eml/a.pdf: stored as document 9 (3 chunks)`` or ``... skipped: why`` per attachment of a
    stored message (an :class:`IngestResult`)."""
    lines = []
    for a in result.attachments:
        state = "duplicate of" if a.duplicate else "stored as"
        lines.append(f"  attachment {a.filename}: {state} document {a.document_id} ({a.n_chunks} chunks)")
        lines += ["  " + line for line in attachment_lines(a)]
    lines += [f"  attachment {s.filename}: skipped: {s.reason}" for s in result.skipped]
    return lines


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


def cmd_search(args: argparse.Namespace) -> int:
    server = running_server_for(args)
    if server is not None:
        from rag.cli.remote import RemoteClient

        with RemoteClient(server) as client:
            body = client.search(
                args.collection, args.text, args.k, args.fusion, args.hyde, args.rerank, args.candidates
            )
        body = {"results": [ordered(h, HIT_KEYS) for h in body.get("results", [])], "timings": body.get("timings", {})}
    else:
        platform = _platform(args)
        try:
            result = platform.query_pipeline.search(args.collection, args.text, args.k, _options(platform, args))
        finally:
            platform.close()
        body = {"results": [hit_json(h) for h in result.hits], "timings": result.timings.as_dict()}
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    for rank, h in enumerate(body["results"], 1):
        snippet = " ".join(h["text"].split())[:160]
        print(f"{rank:2d}. {h['score']:.3f} {passage_source(h)}  {snippet}")
    return 0
