"""Background jobs: ingest and benchmark runs on one runner, their state in the catalog."""

from rag.jobs.admission import QueueFullError
from rag.jobs.benchmark import BenchmarkBusyError, BenchmarkJobs, BenchmarkRequest
from rag.jobs.ingest import IngestFailedError, IngestJobs, failed_upload_error
from rag.jobs.job import FILE_STATES, FileState, Job
from rag.jobs.runner import JobRunner

__all__ = [
    "FILE_STATES",
    "BenchmarkBusyError",
    "BenchmarkJobs",
    "BenchmarkRequest",
    "FileState",
    "IngestFailedError",
    "IngestJobs",
    "Job",
    "JobRunner",
    "QueueFullError",
    "failed_upload_error",
]
