"""The Litestar application: controllers, error mapping, and the platform on ``app.state``."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.datastructures import State

from api.auth import authorize
from api.controllers.benchmarks import BenchmarkController
from api.controllers.collections import CollectionController
from api.controllers.documents import DocumentController
from api.controllers.jobs import JobController
from api.controllers.keys import KeyController
from api.controllers.meta import meta
from api.controllers.query import QueryController
from api.controllers.render import RenderController
from api.controllers.web import WEB_ROUTES
from api.dependencies import DEPENDENCIES
from api.errors import EXCEPTION_HANDLERS, JSONRequest
from api.limits import JSON_BODY_LIMIT, ReadBeforeAnswering, ids_in_range
from api.mcp_server.http import MCP_ROUTE, serve_mcp
from api.metrics import Metrics, RequestMetrics, scrape
from api.openai_compat import OpenAIController
from api.openapi import openapi_config
from api.origin import RequestChecks
from api.tracing import RequestIds, install_logging
from core.errors import RAGError
from rag.heap import Trimmer
from rag.jobs.sync import check_sync_dirs, start_sync_dirs
from rag.platform import Platform
from rag.server_file import data_dir_id, remove_server_file, write_server_file
from rag.settings import Settings

log = logging.getLogger(__name__)


@get("/healthz", operation_id="health", tags=["health"], sync_to_thread=False)
def healthz(state: State) -> dict[str, str]:
    # data_dir_id, not the path (this route needs no key): the CLI recomputes it from server.json's secret to
    # find the server that holds its data directory
    return {"status": "ok", "data_dir_id": state.data_dir_id}


OPEN_SERVER_WARNING = (
    "RAG_ADMIN_KEY is not set: API keys are not enforced and anyone who can reach this server may use it; "
    "`rag serve` listens on 127.0.0.1 only. Set RAG_ADMIN_KEY to require keys."
)


def announce(settings: Settings) -> str:
    """Write the server file through which the CLI finds this server (it holds the catalog while it runs);
    returns the data directory's id that /healthz shows."""
    secret = secrets.token_hex(32)
    write_server_file(settings.data_dir, settings.host, settings.port, secret)
    return data_dir_id(settings.data_dir, secret)


def preload_models(platform: Platform) -> threading.Thread:
    """Load and run once, on a thread of its own, what the default query path (mode "reader") uses: the
    embedder and the span reader. The first question then finds them loaded and their kernels warm; a question
    asked sooner waits for the load under their locks, as it would have. The generator is not loaded: the
    default path never calls it, and it would hold about 150 MB for nothing (the modes that write load it on
    their first question)."""

    def load() -> None:
        try:
            platform.embedder.embed_query("warm up")
            platform.query_pipeline.reading.reader().read("warm up?", ["warm up."])
        except RAGError as exc:  # the first question that needs them says so again, to its asker
            log.warning("the query models did not load at start: %s", exc)

    thread = threading.Thread(target=load, name="preload-models", daemon=True)
    thread.start()
    return thread


def serve_app() -> Litestar:
    """The app ``rag serve`` runs: settings from the environment, the query models loaded at start."""
    return create_app(preload=True)


def create_app(settings: Settings | None = None, platform: Platform | None = None, preload: bool = False) -> Litestar:
    """Build the app; ``platform`` may be given (tests), else one is opened from ``settings``.

    ``preload``: load the query models in the background once the platform is open (:func:`preload_models`).
    """
    settings = settings or (platform.settings if platform else Settings.from_env())
    metrics = Metrics(lambda: app.state.get("platform"))
    check_sync_dirs(settings.sync_folders)  # RAG_SYNC_DIRS names folders that exist, before anything opens

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = platform is None
        opened = app.state.platform = platform or Platform(settings)  # handed to handlers by api.dependencies
        opened.resume_jobs()
        if preload:
            preload_models(opened)
        stop_syncing = start_sync_dirs(settings.sync_folders, opened.jobs, lambda: opened.ingest_pipeline)
        if not opened.keys.enforced:
            log.warning(OPEN_SERVER_WARNING)
        app.state.data_dir_id = announce(settings)
        stop_listening = metrics.listen(opened.query_pipeline.listeners)  # searches and answers, whatever the door
        # each answer's activations (and a model loaded for it) go back to the OS, off the answer's path
        opened.query_pipeline.listeners.answered.append(trimmer := Trimmer().soon)
        try:
            async with serve_mcp(app, opened):  # the MCP sessions of /mcp (api.mcp_server.http)
                yield
        finally:
            stop_syncing()  # the watchers stop; a pass under way stops with the jobs (its next start redoes it)
            stop_listening()
            opened.query_pipeline.listeners.answered.remove(trimmer)
            remove_server_file(settings.data_dir)
            if owned:
                opened.close()  # running jobs stop at a safe point; the next start resumes them

    app = Litestar(
        route_handlers=[
            healthz,
            scrape,
            meta,
            CollectionController,
            DocumentController,
            JobController,
            KeyController,
            QueryController,
            OpenAIController,
            RenderController,
            BenchmarkController,
            *WEB_ROUTES,
            MCP_ROUTE,
        ],
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        # a page's request is refused before its key is looked at; an id no row can have, before it is looked up
        guards=[RequestChecks(settings), ids_in_range, authorize],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JSONRequest,
        request_max_body_size=JSON_BODY_LIMIT,  # the upload routes set their own (api/uploads.py)
        middleware=[ReadBeforeAnswering()],
        openapi_config=openapi_config(),
    )
    app.state.metrics = metrics
    install_logging(settings.log_format)  # request ids in every log line; after Litestar configured the root's
    # Around the whole app, not in middleware= (Litestar runs that per route, after routing): a 404 has an id too
    app.asgi_handler = RequestIds(RequestMetrics(app.asgi_handler, metrics))
    return app
