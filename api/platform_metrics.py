"""The platform's state as Prometheus metrics, read when ``/metrics`` is scraped (see :mod:`api.metrics`).

Nothing here is counted as it happens: jobs, collections and models are looked at
when Prometheus asks, so the rest of the platform knows nothing of metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rag.jobs.runner import KEEP_FINISHED
from rag.platform import Platform
from rag.store.catalog import JOB_STATES

__all__ = ["ChunksEmbedded", "PlatformCollector", "ingest_job_states"]

INGEST_STATES = tuple(s for s in JOB_STATES if s != "running")  # "running" is a benchmark's


def ingest_job_states(platform: Platform) -> dict[str, int]:
    """How many ingest jobs the catalog holds in each state (every state named, 0 where none is)."""
    return {**dict.fromkeys(INGEST_STATES, 0), **platform.store.catalog.job_counts("ingest")}


class ChunksEmbedded:
    """A counter of chunks embedded by this process's ingest jobs, advanced at each scrape.

    Jobs count their chunks as they embed them (in memory only); the counter adds what each
    job counted since the last scrape. The runner keeps the last :data:`KEEP_FINISHED`
    finished jobs, so a job that ends between two scrapes is still counted in full.
    """

    def __init__(self) -> None:
        self.total = 0
        self._seen: dict[int, int] = {}  # job id -> chunks embedded at the last scrape
        self._lock = threading.Lock()  # two scrapes at once must not count a job twice

    def advance(self, platform: Platform) -> int:
        if "jobs" not in platform.__dict__:  # no job runner yet: no job has run
            return self.total
        jobs = platform.jobs.list("ingest", limit=KEEP_FINISHED)
        with self._lock:
            seen = {}
            for job in jobs:
                before = self._seen.get(job.id, 0)
                seen[job.id] = max(before, job.chunks_embedded)  # a job read back from the catalog counts 0
                self.total += seen[job.id] - before
            self._seen = seen
            return self.total


class PlatformCollector(Collector):
    """Jobs, collections and models of the app's platform, read at each scrape (nothing before the app starts)."""

    def __init__(self, platform: Callable[[], Platform | None]) -> None:
        self.platform = platform
        self.chunks = ChunksEmbedded()

    def describe(self) -> list[Metric]:
        return []  # the metrics are known only once collected; registering needs no names

    def collect(self) -> Iterator[Metric]:
        platform = self.platform()
        if platform is None:
            return
        jobs = GaugeMetricFamily("rag_ingest_jobs", "Ingest jobs in the catalog, by state", labels=["state"])
        for state, n in ingest_job_states(platform).items():
            jobs.add_metric([state], n)
        yield jobs
        yield CounterMetricFamily(
            "rag_ingest_chunks_embedded", "Chunks embedded by this process's ingest jobs", self.chunks.advance(platform)
        )
        yield from _collection_sizes(platform)
        models = GaugeMetricFamily("rag_model_loaded", "1 if the model is loaded in this process", labels=["model"])
        for model, loaded in platform.loaded_models().items():
            models.add_metric([model], float(loaded))
        yield models


def _collection_sizes(platform: Platform) -> Iterator[Metric]:
    catalog = platform.store.catalog
    documents = GaugeMetricFamily("rag_collection_documents", "Documents per collection", labels=["collection"])
    chunks = GaugeMetricFamily("rag_collection_chunks", "Chunks per collection", labels=["collection"])
    for collection in catalog.list_collections():
        documents.add_metric([collection.name], catalog.count("documents", collection.id))
        chunks.add_metric([collection.name], catalog.count("chunks", collection.id))
    yield documents
    yield chunks
