"""The CLI's client of a running ``rag serve``, for data directories the server holds.

The server keeps the data directory's DuckDB catalog open, so ``rag ingest``, ``rag search``
and ``rag ask`` send their work to it (found through ``<data_dir>/server.json``, see
rag.server_file, or named with ``--server URL``) instead of opening the store themselves. Each method mirrors one REST
endpoint and returns its JSON; an error response raises :class:`RemoteError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from core.errors import InvalidInputError, RAGError
from rag.server_file import ServerFile

# Answers take up to a minute or so on a CPU, and a batch of large uploads is embedded
# before the server answers: reads may take long, connecting may not.
TIMEOUT = httpx.Timeout(900.0, connect=10.0)
MAX_FILES_PER_REQUEST = 100  # the server's limit of parts per upload (api/uploads.py MAX_FILES)
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # files per upload request up to this size (a larger file goes alone)


class RemoteError(RAGError):
    """The server answered with an error (``status``), or could not be reached (``status`` None)."""

    def __init__(self, url: str, message: str, status: int | None = None, detail: object = None) -> None:
        super().__init__(f"server {url}: {message}")
        self.url = url
        self.message = message
        self.status = status
        self.detail = detail  # the error body's ``detail`` (an object or None)


@dataclass(frozen=True)
class RemoteDocument:
    """One uploaded file as the server stored it (the fields the CLI reads of an IngestResult)."""

    document_id: int
    filename: str
    duplicate: bool
    n_chunks: int


def explicit_server(url: str) -> ServerFile:
    """The server of ``--server URL`` (the user names it, so it need not be on this machine)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"--server takes the server's base url, e.g. http://127.0.0.1:8000; got {url!r}")
    return ServerFile(url=url.strip().rstrip("/"), pid=0, started_at="")


class RemoteClient:
    def __init__(self, server: ServerFile, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.server = server
        self.url = server.url
        # trust_env=False: a proxy from the environment must not intercept the key (the server is on this machine,
        # or the user named it with --server)
        # A server that enforces keys gets RAG_API_KEY (a collection's key) or else RAG_ADMIN_KEY.
        key = os.environ.get("RAG_API_KEY") or os.environ.get("RAG_ADMIN_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=server.url, timeout=timeout, trust_env=False, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ingest(
        self,
        collection: str,
        files: list[Path],
        batch: int = 16,
        index_spec: str | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        password: str | None = None,
    ) -> Iterator[tuple[Path, RemoteDocument | Exception]]:
        """Upload ``files``, ``batch`` per request; yields (path, its document or its error) per file, in order.

        When the server refuses a request, each file's outcome is read from the upload's job
        where the server names one (files it stored are reported stored); otherwise the files
        are sent again one at a time, so one bad file fails only itself, with its own message.
        An unreadable file is reported without being sent. ``index_spec``: the index of a
        collection the upload creates (None: the server's setting). ``password``: sent as the upload's
        ``password`` form field, for password-protected Office files (the server keeps it in memory only).

        Raises:
            RemoteError: the server cannot be reached (the files yielded so far were stored).
        """
        path = f"/v1/collections/{quote(collection, safe='')}/documents"
        params = _given(wait="true", index_spec=index_spec)
        for group in _groups(files, max(1, min(batch, MAX_FILES_PER_REQUEST)), max_request_bytes):
            outcomes: dict[int, RemoteDocument | Exception] = {}
            entries = []
            for i, file in enumerate(group):
                try:
                    entries.append((i, file.name, file.read_bytes()))
                except OSError as exc:
                    outcomes[i] = exc
            if entries:
                outcomes.update(self._upload(path, params, entries, password))
            for i, file in enumerate(group):
                yield file, outcomes[i]

    def search(
        self,
        collection: str,
        text: str,
        k: int = 10,
        fusion: str | None = None,
        hyde: bool | None = None,
        rerank: bool | str | None = None,
        candidates: int | None = None,
    ) -> dict:
        """``POST /v1/collections/{collection}/search``: ``{"collection", "results": [...], "timings"}``."""
        body = _given(query=text, k=k, fusion=fusion, hyde=hyde, rerank=rerank, candidates=candidates)
        return self._json(self._request("POST", f"/v1/collections/{quote(collection, safe='')}/search", json=body))

    def ask(
        self,
        collection: str,
        question: str,
        k: int = 5,
        fusion: str | None = None,
        hyde: bool | None = None,
        rerank: bool | str | None = None,
        candidates: int | None = None,
        mode: str | None = None,
        tools: bool | list[str] | None = None,
        abstain: bool | None = None,
        context: str | None = None,
    ) -> dict:
        """``POST /v1/collections/{collection}/query``: the answer as JSON (the keys of ``Answer.as_dict``)."""
        body = _given(
            question=question,
            k=k,
            fusion=fusion,
            hyde=hyde,
            rerank=rerank,
            candidates=candidates,
            mode=mode,
            tools=tools,
            abstain=abstain,
            context=context,
        )
        return self._json(self._request("POST", f"/v1/collections/{quote(collection, safe='')}/query", json=body))

    def _upload(
        self, path: str, params: dict, entries: list[tuple[int, str, bytes]], password: str | None = None
    ) -> dict[int, RemoteDocument | Exception]:
        try:
            response = self._request(
                "POST",
                path,
                params=params,
                data={"password": password} if password else None,
                # octet-stream: the server tells the type from the extension, as a local ingest does
                files=[("files", (name, data, "application/octet-stream")) for _, name, data in entries],
            )
        except RemoteError as exc:
            if exc.status is None:
                raise
            if len(entries) == 1:
                return {entries[0][0]: RAGError(exc.message)}
            files = self._job_files(exc)
            if files is not None and len(files) == len(entries):
                return {i: _document(f) for (i, _, _), f in zip(entries, files, strict=True)}
            outcomes: dict[int, RemoteDocument | Exception] = {}
            for entry in entries:  # one refused file fails its whole request: send each alone to tell which
                outcomes.update(self._upload(path, params, [entry], password))
            return outcomes
        body = self._json(response)
        docs = body.get("documents")
        if not isinstance(docs, list) or len(docs) != len(entries):
            job = f" as job {body['job_id']}" if body.get("job_id") is not None else ""
            error = RAGError(
                f"the server at {self.url} accepted the file{job} (HTTP {response.status_code}) but did not report "
                "the stored documents (does it support ?wait=true?); list the collection's documents to check"
            )
            return {i: error for i, _, _ in entries}
        return {i: _document(doc) for (i, _, _), doc in zip(entries, docs, strict=True)}

    @staticmethod
    def _job_files(exc: RemoteError) -> list | None:
        """Each file's final state in the job of a refused upload (the error's ``detail`` is the job); else None."""
        files = exc.detail.get("files") if isinstance(exc.detail, dict) else None
        final = ("done", "duplicate", "failed")
        if not isinstance(files, list) or not all(isinstance(f, dict) and f.get("state") in final for f in files):
            return None
        return files

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RemoteError(
                self.url, f"no answer in time ({type(exc).__name__}); the server may still be working on it"
            ) from exc
        except httpx.HTTPError as exc:
            raise RemoteError(self.url, f"cannot reach the server ({exc}); is `rag serve` still running?") from exc
        if response.status_code >= 400:
            raise RemoteError(self.url, error_message(response), response.status_code, _error_detail(response))
        return response

    def _json(self, response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RemoteError(self.url, f"answered HTTP {response.status_code} without a JSON object", None)
        return body


def error_message(response: httpx.Response) -> str:
    """The message of an error response, ``{"error": {"code", "message", "detail"}}``; else the status and the
    start of the body (an answer from something other than the API)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str) and message:
        return message
    text = response.text.strip()[:300]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _error_detail(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("detail") if isinstance(error, dict) else None


def _document(doc) -> RemoteDocument | Exception:
    """An uploaded document (``id``, ``duplicate``) or a job's file (``document_id``, ``state``), or its error."""
    if isinstance(doc, dict) and (doc.get("error") or doc.get("state") == "failed"):
        error = doc.get("error") or "the server could not ingest it"
        return RAGError(str(error.get("message", error) if isinstance(error, dict) else error))
    try:
        return RemoteDocument(
            document_id=int(doc["id"] if "id" in doc else doc["document_id"]),
            filename=str(doc.get("filename", "")),
            duplicate=bool(doc.get("duplicate", doc.get("state") == "duplicate")),
            n_chunks=int(doc.get("n_chunks") or 0),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return RAGError(f"the server reported a document this client cannot read: {doc!r}")


def _groups(files: Iterable[Path], batch: int, max_bytes: int) -> Iterator[list[Path]]:
    """Consecutive files, at most ``batch`` and (unless one file is larger) ``max_bytes`` per group."""
    group: list[Path] = []
    size = 0
    for file in files:
        try:
            n = file.stat().st_size
        except OSError:
            n = 0  # reported as unreadable when read
        if group and (len(group) >= batch or size + n > max_bytes):
            yield group
            group, size = [], 0
        group.append(file)
        size += n
    if group:
        yield group


def _given(**fields) -> dict:
    """The request fields that are set (left out, the server's defaults apply)."""
    return {key: value for key, value in fields.items() if value is not None}
