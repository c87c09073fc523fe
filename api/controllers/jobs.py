"""Jobs: list, state, and the same progress as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import msgspec
from litestar import Controller, Request, get
from litestar.openapi.spec import Reference
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.auth import request_grant
from api.openapi import EventStreamOperation, error_responses
from api.service_schemas import JobList, JobOut
from core.errors import InvalidInputError
from rag.jobs import Job, JobRunner

POLL_SECONDS = 0.2  # how often an event stream looks for a change
KEEPALIVE_SECONDS = 15.0  # a comment line this often keeps proxies from closing an idle stream


def job_out(job: Job) -> JobOut:
    return msgspec.convert(job.as_dict(), JobOut)


async def job_events(runner: JobRunner, job_id: int) -> AsyncIterator[ServerSentEventMessage]:
    """A ``progress`` event per change of the job, then one ``done`` or ``failed`` event with the final state."""
    job = runner.get(job_id)
    seen, idle = -1, 0.0
    while True:
        if job.version != seen or job.final:
            seen = job.version
            payload = json.dumps(job.as_dict())
            if job.final:
                yield ServerSentEventMessage(data=payload, event=job.status, id=str(seen))
                return
            yield ServerSentEventMessage(data=payload, event="progress", id=str(seen))
            idle = 0.0
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield ServerSentEventMessage(comment="keepalive")


class JobController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]

    @get(
        operation_id="listJobs",
        responses=error_responses(400, 401, 403, 422, 500),
        sync_to_thread=True,
        summary="Recent ingest and benchmark jobs, newest first",
    )
    def list_jobs(
        self,
        jobs: JobRunner,
        request: Request,
        kind: Annotated[str | None, Parameter(description="ingest, sync or benchmark (default: all)")] = None,
        limit: Annotated[int, Parameter(ge=1, le=500, description="how many jobs")] = 50,
    ) -> JobList:
        if kind not in (None, "ingest", "sync", "benchmark"):
            raise InvalidInputError(f"kind must be 'ingest', 'sync' or 'benchmark', got {kind!r}")
        grant = request_grant(request)
        if grant.admin:
            return JobList([job_out(j) for j in jobs.list(kind, limit)])
        if grant.collection_id is None:  # a key of no collection sees no job (None would list them all)
            return JobList([])
        # A collection's key sees its collection's jobs: by id, so not those of an earlier collection of its name.
        return JobList([job_out(j) for j in jobs.list(kind, limit, grant.collection_id)])

    @get(
        "/{job_id:int}",
        operation_id="getJob",
        responses=error_responses(400, 401, 403, 404, 500),
        sync_to_thread=True,
        summary="A job's state and per-file progress",
    )
    def get_job(self, job_id: int, jobs: JobRunner) -> JobOut:
        return job_out(jobs.get(job_id))

    @get(
        "/{job_id:int}/events",
        operation_id="jobEvents",
        responses=error_responses(400, 401, 403, 404, 500),
        operation_class=partial(
            EventStreamOperation,
            only_events=True,
            events=("progress", "done", "failed"),
            event_data=Reference(ref="#/components/schemas/JobOut"),
        ),
        summary="The job's progress as Server-Sent Events: progress events, then done or failed",
        description="Each event's data is the job as GET /v1/jobs/{job_id} returns it. The stream ends after the "
        "final event; a finished job gives that event at once.",
    )
    async def events(self, job_id: int, jobs: JobRunner) -> ServerSentEvent:
        jobs.get(job_id)  # a 404 before the stream starts
        return ServerSentEvent(job_events(jobs, job_id))
