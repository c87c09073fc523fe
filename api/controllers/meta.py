"""``GET /v1/meta``: the names the API uses (states, abstention reasons, citation kinds, modes, stream events).

The browser page reads them here instead of copying Python's lists into JavaScript, so
a state or a mode added on the server reaches the page without an edit there. Each list
is read from the module that owns it; public, like ``/healthz``: names hold no data.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import get

from api.controllers.query import STREAM_EVENTS
from api.openapi import error_responses
from rag.jobs import FILE_STATES
from rag.pipeline.answer import ABSTAIN_REASONS, ANSWER_MODES
from rag.pipeline.citations import CITATION_KINDS
from rag.store.catalog import JOB_STATES


@dataclass(frozen=True)
class Meta:
    job_states: list[str]
    file_states: list[str]
    abstention_reasons: list[str]
    citation_kinds: list[str]
    modes: list[str]
    stream_events: list[str]


@get(
    "/v1/meta",
    operation_id="meta",
    tags=["health"],
    responses=error_responses(400, 500),
    sync_to_thread=False,
    summary="The names the API uses: job and file states, abstention reasons, citation kinds, modes, stream events",
)
def meta() -> Meta:
    return Meta(
        job_states=list(JOB_STATES),
        file_states=list(FILE_STATES),
        abstention_reasons=list(ABSTAIN_REASONS),
        citation_kinds=list(CITATION_KINDS),
        modes=list(ANSWER_MODES),
        stream_events=list(STREAM_EVENTS),
    )
