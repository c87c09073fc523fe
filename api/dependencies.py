"""What the handlers are given, by name, through Litestar's dependency injection (``Provide``).

The lifespan opens one :class:`rag.platform.Platform` onto ``app.state``; :func:`provide_platform` is the only
code that reads it there, and the other providers take their part of it. A handler names what it uses
(``catalog: Catalog``, ``jobs: JobRunner``, ``collection: Collection``...) and is handed that part, so it
neither takes the raw ``State`` nor walks ``state.platform.store.catalog``, and its signature says what it
touches.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import Provide

from rag.access import Keys
from rag.jobs import BenchmarkJobs, IngestJobs, JobRunner
from rag.pipeline import IngestPipeline, QueryPipeline
from rag.platform import Platform
from rag.settings import Settings
from rag.store import Catalog, Collection, Store


def provide_platform(state: State) -> Platform:
    """The whole platform, for the few handlers that hand it on (an upload's job, a query's stream)."""
    return state.platform


def provide_settings(platform: Platform) -> Settings:
    return platform.settings


def provide_store(platform: Platform) -> Store:
    return platform.store


def provide_catalog(platform: Platform) -> Catalog:
    return platform.store.catalog


def provide_jobs(platform: Platform) -> JobRunner:
    return platform.jobs


def provide_ingest_jobs(platform: Platform) -> IngestJobs:
    return platform.ingest_jobs


def provide_ingest_pipeline(platform: Platform) -> IngestPipeline:
    return platform.ingest_pipeline


def provide_query_pipeline(platform: Platform) -> QueryPipeline:
    return platform.query_pipeline


def provide_keys(platform: Platform) -> Keys:
    return platform.keys


def provide_benchmarks(platform: Platform) -> BenchmarkJobs:
    return platform.benchmarks


def provide_collection(name: str, catalog: Catalog) -> Collection:
    """The collection the path's ``{name}`` names: 404 when there is none, 400 when the name is not valid."""
    return catalog.get_collection(name)


# Reading an attribute is instant: those run on the event loop. The collection is a catalog read, which may
# wait for the catalog's lock behind a write, and the ingest pipeline's first use loads the tokenizer: those
# run on a worker thread, as the sync handlers do.
DEPENDENCIES = {
    "platform": Provide(provide_platform, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "store": Provide(provide_store, sync_to_thread=False),
    "catalog": Provide(provide_catalog, sync_to_thread=False),
    "jobs": Provide(provide_jobs, sync_to_thread=False),
    "ingest_jobs": Provide(provide_ingest_jobs, sync_to_thread=False),
    "ingest_pipeline": Provide(provide_ingest_pipeline, sync_to_thread=True),
    "query_pipeline": Provide(provide_query_pipeline, sync_to_thread=False),
    "keys": Provide(provide_keys, sync_to_thread=False),
    "benchmarks": Provide(provide_benchmarks, sync_to_thread=False),
    "collection": Provide(provide_collection, sync_to_thread=True),
}
