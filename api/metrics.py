"""Prometheus metrics: ``GET /metrics`` in the text format, on a registry of each app's own.

What is measured, and where:

* requests: a count and a latency histogram per method, route template (never the
  raw path: no ids or names in labels; ``unmatched`` for a path no route has) and
  status, by :class:`RequestMetrics`, a pure ASGI middleware around the whole app (a
  streamed answer counts until its last byte);
* search and answer stages: the seconds each stage took, from the ``timings`` of
  every search and answer the query pipeline completes (REST, streamed, OpenAI, MCP),
  and the tokens an answer generated and its speed (``usage.generated_tokens`` over
  ``timings.generate``), heard through the pipeline's listeners (:meth:`Metrics.listen`);
* the platform at scrape time (:class:`api.platform_metrics.PlatformCollector`):
  ingest jobs by state, chunks embedded, documents and chunks per collection, which
  models are loaded.

Each app has its own :class:`prometheus_client.CollectorRegistry` (tests build
several apps in one process; the global registry would refuse the second). Access:
``metrics`` in :data:`api.auth.ACCESS`: the admin key, or ``RAG_METRICS_KEY``, a key
that reads the metrics only (what a Prometheus scraper is given as its bearer token).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from litestar import Response, get
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from api.openapi import error_responses
from api.platform_metrics import PlatformCollector
from rag.pipeline import Answer, Retrieval
from rag.pipeline.records import Listeners
from rag.platform import Platform

__all__ = ["Metrics", "RequestMetrics", "scrape"]

# The classic text format, which generate_latest writes and every Prometheus reads (Litestar adds the charset)
MEDIA_TYPE = "text/plain; version=0.0.4"
UNMATCHED = "unmatched"  # the route label of a path no route serves (a 404 or 405 from the router)
# Seconds: a health check takes milliseconds, an answer on a CPU up to a minute or two.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TOKENS_PER_SECOND_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0, 200.0)


class Metrics:
    """One app's metrics: its registry, what requests and answers are observed into, and the platform's collector.

    Args:
        platform: returns the app's platform, or None before it is opened (the collector then reports nothing).
    """

    def __init__(self, platform: Callable[[], Platform | None]) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "rag_http_requests", "HTTP requests answered, by route template and status", labels, registry=self.registry
        )
        self.latency = Histogram(
            "rag_http_request_duration_seconds",
            "Seconds from a request's arrival to its response's last byte",
            labels,
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "rag_stage_duration_seconds",
            "Seconds spent in each stage of a search or an answer (the stages of their 'timings')",
            ("operation", "stage"),
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.generated_tokens = Counter(
            "rag_generated_tokens", "Tokens the generator wrote in answers", registry=self.registry
        )
        self.prompt_tokens = Counter("rag_prompt_tokens", "Prompt tokens the generator read", registry=self.registry)
        self.tokens_per_second = Histogram(
            "rag_generation_tokens_per_second",
            "Generation speed of each answer that generated tokens (generated tokens over the generate stage)",
            buckets=TOKENS_PER_SECOND_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(PlatformCollector(platform))
        # (method, route, status) -> its counter and histogram; as few as the routes' methods times their statuses
        self._request_children: dict[tuple[str, str, int], tuple] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:  # labels() takes a lock and checks the values: once per route, method and status
            labels = (method, route, str(status))
            children = self._request_children[key] = (self.requests.labels(*labels), self.latency.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    def observe_search(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stages.labels("search", stage).observe(seconds)

    def observe_answer(self, timings: Mapping[str, float], usage: Mapping[str, int]) -> None:
        """An answer's stages, and its tokens (and their speed where it generated any in a measured time)."""
        for stage, seconds in timings.items():
            self.stages.labels("answer", stage).observe(seconds)
        generated = usage.get("generated_tokens", 0)
        self.generated_tokens.inc(generated)
        self.prompt_tokens.inc(usage.get("prompt_tokens", 0))
        seconds = timings.get("generate", 0.0)
        if generated > 0 and seconds > 0:
            self.tokens_per_second.observe(generated / seconds)

    def listen(self, listeners: Listeners) -> Callable[[], None]:
        """Observe the timings and tokens of every search and answer the pipeline completes, whichever door the
        request came in by (REST, a stream, the OpenAI routes, MCP). Returns the function that stops it."""

        def searched(retrieval: Retrieval) -> None:
            self.observe_search(retrieval.timings.as_dict())

        def answered(answer: Answer) -> None:
            usage = answer.usage
            tokens = {"generated_tokens": usage.generated_tokens, "prompt_tokens": usage.prompt_tokens}
            self.observe_answer(answer.timings.as_dict(), tokens)

        listeners.searched.append(searched)
        listeners.answered.append(answered)

        def stop() -> None:
            listeners.searched.remove(searched)
            listeners.answered.remove(answered)

        return stop

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (the platform's read now)."""
        return generate_latest(self.registry)


class RequestMetrics:
    """Pure ASGI middleware: each HTTP request's method, route template, status and duration into ``metrics``.

    It wraps the whole app, not one route (Litestar's ``middleware=`` runs after routing), so a 404 for a
    path no route has is counted too, as route ``unmatched``. Nothing is buffered.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("path_template") or UNMATCHED  # set by Litestar's router on a match
            self.metrics.observe_request(scope["method"], route, status, time.perf_counter() - start)


@get(
    "/metrics",
    operation_id="metrics",
    tags=["health"],
    media_type=MEDIA_TYPE,
    responses=error_responses(400, 401, 403, 500),
    summary="Prometheus metrics: requests, stage latencies, tokens, ingest jobs, collection sizes, models loaded",
    sync_to_thread=True,  # the platform's numbers come from the catalog
)
def scrape(state: State) -> Response[bytes]:
    return Response(state.metrics.exposition(), media_type=MEDIA_TYPE)
