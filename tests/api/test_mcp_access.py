"""The MCP server's checks that need no model: which collections a caller may read, the tool errors, the guard.

The SDK's client drives the server in-process (as stdio does: no HTTP request, the data directory's own user)
and the REST app's ``/mcp`` is asked without a key. The sessions over stdio and streamable HTTP, with a real
collection, answers and keys, are in ``test_mcp.py`` (slow).
"""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import TestClient
from mcp import Client
from starlette.requests import Request

from api.app import create_app
from api.mcp_server.access import Access, AccessDeniedError
from api.mcp_server.server import build_server
from core.errors import InvalidInputError, NotFoundError
from rag.access import Grant
from rag.platform import Platform

ADMIN = "mcp-access-admin"
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture
def platform(settings):
    """Keys enforced, two empty collections (no model is loaded to make them)."""
    opened = Platform(settings.replace(admin_key=ADMIN))
    for name in ("alpha", "beta"):
        opened.store.create_collection(name, 384, MODEL)
    yield opened
    opened.close()


def request_with(grant: Grant | None) -> Request:
    """An HTTP request as the app's guard leaves it: its grant in the scope's state (None: no grant)."""
    state = {} if grant is None else {"grant": grant}
    return Request({"type": "http", "method": "POST", "path": "/mcp", "headers": [], "state": state})


def test_a_collection_key_reads_its_own_collection_only(platform):
    access = Access(platform)
    alpha = platform.store.catalog.find_collection("alpha")
    key = request_with(Grant(collection_id=alpha.id, scope="read"))
    assert access.collection(key, None).name == "alpha"  # none named: the key's own
    assert access.collection(key, "alpha").name == "alpha"
    assert [c.name for c in access.readable(key)] == ["alpha"]
    denied = {}
    for name in ("beta", "nope"):  # another's and one that does not exist: the same answer
        with pytest.raises(AccessDeniedError) as refused:
            access.collection(key, name)
        denied[name] = str(refused.value).replace(repr(name), "NAME")
    assert denied["beta"] == denied["nope"]


def test_the_admin_and_stdio_read_every_collection(platform):
    access = Access(platform, default_collection="beta")
    for caller in (request_with(Grant(admin=True)), None):
        assert [c.name for c in access.readable(caller)] == ["alpha", "beta"]
        assert access.collection(caller, None).name == "beta"  # the server's default
        with pytest.raises(NotFoundError, match="'nope' does not exist"):
            access.collection(caller, "nope")
        with pytest.raises(InvalidInputError):
            access.collection(caller, "../etc")
    with pytest.raises(AccessDeniedError, match="requires an API key"):
        access.readable(request_with(None))  # keys enforced, no grant: refused, never open


def test_tool_errors_say_what_to_change(platform):
    async def session() -> None:
        async with Client(build_server(platform)) as client:
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == {"search", "ask", "list_collections", "get_document"}
            assert all(t.output_schema and t.annotations.read_only_hint for t in tools)
            listed = await client.call_tool("list_collections", {})
            assert [c["name"] for c in listed.structured_content["collections"]] == ["alpha", "beta"]
            calls = {
                "collection 'nope' does not exist": ("search", {"query": "x", "collection": "nope"}),
                "name a collection": ("ask", {"question": "why?"}),
                "document 7 is not in this collection": ("get_document", {"document_id": 7, "collection": "alpha"}),
                "document_id": ("get_document", {"document_id": "seven", "collection": "alpha"}),
                "k must be": ("search", {"query": "x", "collection": "alpha", "k": 0}),
            }
            for says, (tool, arguments) in calls.items():
                result = await client.call_tool(tool, arguments)
                assert result.is_error and says in result.content[0].text, (tool, result.content)
            assert (await client.list_resources()).resources == []

    asyncio.run(session())


def test_mcp_over_http_passes_the_apps_guards(platform):
    """No key or a bad one is a 401; a foreign Host (DNS rebinding) or a web page's Origin is refused first;
    a GET (a stream stateless sessions never use) is a 405, a path below /mcp a 404."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app=create_app(platform=platform)) as client:
        for headers in ({}, {"Authorization": "Bearer rag_not-a-key"}):
            refused = client.post("/mcp", json=body, headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", refused.text
        assert client.post("/mcp", json=body, headers={**admin, "Host": "evil.example"}).status_code == 400
        assert client.post("/mcp", json=body, headers={**admin, "Origin": "https://evil.example"}).status_code == 403
        stream = client.get("/mcp", headers=admin)  # stateless: no stream of server messages to open
        assert stream.status_code == 405 and stream.headers["allow"] == "POST"
        assert client.post("/mcp/below", json=body, headers=admin).status_code == 404
