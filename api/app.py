"""The Litestar application: controllers, error mapping, and the platform on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from api.controllers.benchmarks import BenchmarkController
from api.controllers.documents import DocumentController
from api.controllers.query import QueryController
from api.errors import EXCEPTION_HANDLERS, JSONRequest
from rag.bench_jobs import BenchmarkJobs
from rag.platform import Platform
from rag.settings import Settings

# Up to this many maximum-size files fit in one upload request.
MAX_FILES_PER_REQUEST = 4


@get("/healthz", operation_id="health", tags=["health"], sync_to_thread=False)
def healthz(state: State) -> dict[str, str]:
    return {"status": "ok", "data_dir": str(state.platform.settings.data_dir)}


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> Litestar:
    """Build the app; ``platform`` may be given (tests), else one is opened from ``settings``."""
    settings = settings or (platform.settings if platform else Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = platform is None
        app.state.platform = platform or Platform(settings)
        app.state.benchmarks = BenchmarkJobs(app.state.platform.store)
        try:
            yield
        finally:
            if owned:
                app.state.platform.close()

    return Litestar(
        route_handlers=[healthz, DocumentController, QueryController, BenchmarkController],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JSONRequest,
        request_max_body_size=settings.max_upload_bytes * MAX_FILES_PER_REQUEST + 1024 * 1024,
        openapi_config=OpenAPIConfig(title="Local RAG", version="0.1.0", path="/schema"),
    )
