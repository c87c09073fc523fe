"""Ingest of many files from disk (``rag ingest``): a part of :class:`IngestPipeline`, batch by batch."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from core.errors import RAGError
from rag.pipeline.ingest.records import IngestResult, PreparedDocument, Progress

if TYPE_CHECKING:
    from rag.store import Collection


class IngestFiles:
    """``ingest_files``; the host class provides ``check_file``, ``prepare``, ``open_collection`` and
    ``commit_batch``."""

    def ingest_files(
        self,
        collection: str,
        files: Iterable[tuple[str, Callable[[], bytes]]],
        batch: int = 16,
        progress: Progress | None = None,
        index_spec: str | None = None,
        password: str | None = None,
    ) -> Iterator[tuple[str, IngestResult | Exception]]:
        """Ingest many files, ``batch`` at a time, each batch one write (:meth:`commit_batch`).

        Each file is checked as its bytes are read (the bytes enter here); the collection's name is
        the caller's to check (the CLI does, once). The next batch is read and parsed on a worker
        thread while this one is chunked, embedded and stored (the embedding runs in torch, outside
        the GIL), so parsing costs no wall time beside a long embedding. The collection is opened
        (created if missing) with the first batch that has a good file.

        Args:
            files: (filename, a function that reads its bytes) per file.
            password: opens the encrypted Office files among them (kept in memory only).
        Yields:
            (filename, its result, or the error that kept it out) per file, in order. A file
            that cannot be read or parsed is skipped; an error storing a batch fails its files.
        """
        groups = iter(lambda it=iter(files): list(itertools.islice(it, batch)), [])
        target: Collection | None = None

        def prepare_group(group):
            out = []
            for name, read in group:
                try:
                    data = read()
                    out.append((name, self.prepare(name, data, self.check_file(name, data), password=password)))
                except (RAGError, OSError) as exc:
                    out.append((name, exc))
            return out

        with ThreadPoolExecutor(1, thread_name_prefix="rag-parse") as pool:
            pending = pool.submit(prepare_group, next(groups, []))
            while prepared := pending.result():
                pending = pool.submit(prepare_group, next(groups, []))
                good = [p for _, p in prepared if isinstance(p, PreparedDocument)]
                try:
                    if good and target is None:
                        target = self.open_collection(collection, index_spec)
                    stored = iter(self.commit_batch(target, good, progress) if good else [])
                except RAGError as exc:
                    stored = iter([exc] * len(good))
                for name, p in prepared:
                    yield name, next(stored) if isinstance(p, PreparedDocument) else p
