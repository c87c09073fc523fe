"""Access control: ``Authorization: Bearer KEY`` checked against what each operation needs.

Keys are enforced only when the server has an admin key (``RAG_ADMIN_KEY``); without
one the API is open (and ``rag serve`` listens on the loopback only). What each
operation needs is one table, :data:`ACCESS`, keyed by its OpenAPI operation id (a
test checks that every route has an entry):

* ``public``: anyone (health, the API documents);
* ``read`` / ``write``: a key of the collection named in the path with that scope
  (a write key also reads), or the admin key;
* ``job``: reading a job needs a read key of the job's collection;
* ``key``: any valid key (rendering Markdown the page sends: no collection's data, but CPU);
* ``admin``: the admin key only (collections, keys, benchmarks);
* ``metrics``: the admin key or ``RAG_METRICS_KEY``, a key that reads ``GET /metrics``
  and nothing else (a Prometheus scraper's bearer token need not be the admin key).

No key or an unknown key is a 401; a key that does not cover the request is a 403.
Before this guard, :class:`api.origin.RequestChecks` refuses what a web page could send
(a foreign Host, a cross-site write, a JSON body of another content type), keys or not.
"""

from __future__ import annotations

import secrets

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from core.errors import NotFoundError
from rag.access import Grant, Keys

ACCESS: dict[str, str] = {
    "health": "public",
    "meta": "public",  # the names the API uses (states, reasons, modes): no data
    "createCollection": "admin",
    "listCollections": "admin",
    "getCollection": "read",
    "deleteCollection": "admin",
    "compactCollection": "write",
    "createKey": "admin",
    "listKeys": "admin",
    "deleteKey": "admin",
    "uploadDocuments": "write",
    "listDocuments": "read",
    "getDocument": "read",
    "getDocumentHtml": "read",
    "renderMarkdown": "key",
    "deleteDocument": "write",
    "replaceDocument": "write",
    "search": "read",
    "query": "read",
    "listJobs": "job",
    "getJob": "job",
    "jobEvents": "job",
    "startBenchmark": "admin",
    "getBenchmark": "admin",
    "getBenchmarkPlot": "admin",
    "webPage": "public",  # the browser page and its script and style (they hold no data)
    "webAsset": "public",
    "metrics": "metrics",  # GET /metrics: the admin key or RAG_METRICS_KEY
    "mcp": "key",  # the MCP server at /mcp (api.mcp_server): any valid key; its tools check the collection
    # OpenAI-compatible routes: the collection is named in the body (model "rag:<name>"), not the path, so the
    # guard checks the key and the handler checks that it may read that collection (api.openai_compat)
    "listModels": "key",  # lists only the collections the key may read
    "createChatCompletion": "key",
    "createEmbedding": "key",
}

BEARER = "Bearer"
OPEN = Grant(admin=True)  # what a request may do when keys are not enforced


def bearer_key(connection: ASGIConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() or None if scheme.lower() == BEARER.lower() else None


def request_grant(connection: ASGIConnection) -> Grant:
    """The grant of a request (set by :func:`authorize`; OPEN where keys are not enforced)."""
    return connection.scope.get("state", {}).get("grant", OPEN)


def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The app's guard: let the request through, or raise 401/403 saying which key it needs."""
    platform = connection.app.state.platform
    keys: Keys = platform.keys
    need = ACCESS.get(handler.operation_id or "", "admin") if handler.operation_id else "public"
    if need == "public" or not keys.enforced:
        return
    key = bearer_key(connection)
    if key is None:
        raise NotAuthorizedException(
            "this server requires an API key: send it as 'Authorization: Bearer KEY' (the admin creates "
            "collection keys with POST /v1/collections/{name}/keys)",
            headers={"WWW-Authenticate": BEARER},
        )
    if need == "metrics":
        metrics_key = platform.settings.metrics_key
        if metrics_key and secrets.compare_digest(key.encode(), metrics_key.encode()):
            return
        need = "admin"
    grant = keys.grant(key)
    if grant is None:
        raise NotAuthorizedException("the API key is not valid; check it or ask the admin for a new one",
                                     headers={"WWW-Authenticate": BEARER})  # fmt: skip
    connection.scope.setdefault("state", {})["grant"] = grant
    if need == "key":
        return
    if need == "job":
        collection_id = _job_collection(connection, platform)
        if collection_id is None and "job_id" not in connection.path_params:
            return  # a list of jobs: the handler keeps the key's collection's only
        need = "read"
    else:
        name = connection.path_params.get("name")
        found = platform.store.catalog.find_collection(name) if name else None
        collection_id = found.id if found else None
    if not grant.allows(collection_id, need):
        what = "the admin key" if need == "admin" else f"a {need} key of this collection"
        raise PermissionDeniedException(f"this API key does not allow that: it needs {what}")


def _job_collection(connection: ASGIConnection, platform) -> int | None:
    """The id of the collection of the job in the path (None: no job in the path, or a job of no collection).

    A job the request's key may not read is reported as missing, with the very answer a job that does not
    exist gets (404), so that a key cannot learn which job ids exist. (Ids past 64 bits never get here:
    :func:`api.limits.ids_in_range` answers them.)
    """
    job_id = connection.path_params.get("job_id")
    if job_id is None:
        return None
    job = platform.jobs.get(int(job_id))  # one that does not exist: NotFoundError("job N does not exist")
    if not request_grant(connection).allows(job.collection_id, "read"):
        raise NotFoundError(f"job {job_id} does not exist")
    return job.collection_id
