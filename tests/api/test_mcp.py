"""The MCP server driven by the official ``mcp`` SDK's own client, over stdio (``rag mcp``) and over streamable
HTTP (``/mcp`` of a real server process on the loopback), with and without keys.

Each transport runs the same session (:func:`exercise`): the four tools listed and called, a cited answer,
an abstention with its reason, a citation's span read back with ``get_document``, the documents listed and
read as resources, and a tool error that names an unknown collection.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from rag.bench.server_process import REPO, ServerProcess

pytestmark = pytest.mark.slow

ADMIN = "mcp-admin-key"
FACTS = {
    "tower.txt": "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was completed in 1889 for the "
    "World's Fair. Gustave Eiffel's company designed and built the tower.",
    "river.txt": "The Danube is the second-longest river in Europe. It flows through ten countries, including "
    "Austria and Hungary, into the Black Sea.",
}
OTHER = {"secret.txt": "The vault code of the other collection is 4711."}
TOOLS = {"search", "ask", "list_collections", "get_document"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, embedder) -> Path:
    """A data directory with collections ``facts`` (two documents) and ``other`` (one), ingested by the platform."""
    from rag.platform import Platform
    from rag.settings import Settings

    data = tmp_path_factory.mktemp("mcp") / "data"
    platform = Platform(Settings.from_env().replace(data_dir=data))
    try:
        for name, docs in (("facts", FACTS), ("other", OTHER)):
            files = [(filename, lambda t=text: t.encode()) for filename, text in docs.items()]
            results = list(platform.ingest_pipeline.ingest_files(name, files))
            assert all(not isinstance(r, Exception) for _, r in results), results
    finally:
        platform.close()
    return data


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


async def exercise(
    client: Client, collection: str | None, unknown_says: str = "collection 'nope' does not exist"
) -> None:
    """One assistant's session; ``collection``: what calls name (None: rely on the server's default);
    ``unknown_says``: what the tool error for an unknown collection says."""
    named = {"collection": collection} if collection else {}
    assert {t.name for t in (await client.list_tools()).tools} == TOOLS

    listed = await client.call_tool("list_collections", {})
    assert not listed.is_error
    facts = {c["name"]: c for c in listed.structured_content["collections"]}["facts"]
    assert (facts["documents"], facts["chunks"]) == (2, 2)

    found = await client.call_tool("search", {"query": "When was the Eiffel Tower completed?", "k": 2, **named})
    assert not found.is_error, found.content
    best = found.structured_content["passages"][0]
    assert best["filename"] == "tower.txt" and "1889" in best["text"] and best["resource"].startswith("localrag://")
    assert len(found.structured_content["passages"]) == 2

    asked = await client.call_tool("ask", {"question": "When was the Eiffel Tower completed?", **named})
    answer = asked.structured_content
    assert not asked.is_error and not answer["abstained"] and "1889" in answer["answer"], answer
    assert "[1]" in answer["answer"] and answer["citations"][0]["filename"] == "tower.txt"
    cited = answer["citations"][0]
    span = await client.call_tool(
        "get_document",
        {"document_id": cited["document_id"], "start": cited["char_start"], "end": cited["char_end"], **named},
    )
    assert not span.is_error and span.structured_content["text"] == cited["text"]
    assert span.content[0].text.startswith("{")  # the same record as JSON text, for clients that read text only

    off_topic = await client.call_tool("ask", {"question": "What is the melting point of tungsten?", **named})
    assert off_topic.structured_content["abstained"] and off_topic.structured_content["abstain_reason"]

    resources = (await client.list_resources()).resources
    by_name = {r.name: r for r in resources}
    assert {"tower.txt", "river.txt"} <= set(by_name)
    read = await client.read_resource(by_name["tower.txt"].uri)
    assert read.contents[0].text == FACTS["tower.txt"]

    unknown = await client.call_tool("search", {"query": "Eiffel", "collection": "nope"})
    assert unknown.is_error and unknown_says in unknown.content[0].text
    bad_span = await client.call_tool(
        "get_document", {"document_id": cited["document_id"], "start": 5, "end": 1, **named}
    )
    assert bad_span.is_error and "span" in bad_span.content[0].text


def stdio_params(data_dir: Path, *args: str) -> StdioServerParameters:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("RAG_ADMIN_KEY", None)
    rag = str(Path(sys.executable).with_name("rag"))
    return StdioServerParameters(command=rag, args=["mcp", *args], env=env, cwd=str(REPO))


def test_stdio_rag_mcp(data_dir):
    """``rag mcp --collection facts``, as a desktop assistant starts it."""

    async def session() -> None:
        async with Client(stdio_params(data_dir, "--collection", "facts")) as client:
            await exercise(client, None)
            both = (await client.call_tool("list_collections", {})).structured_content["collections"]
            assert {c["name"] for c in both} == {"facts", "other"}  # the data directory's own user reads all

    run(session())


def http_client(url: str, key: str | None = None) -> Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Client(streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=300)))


def test_streamable_http_open(data_dir, tmp_path):
    """``/mcp`` of a server without RAG_ADMIN_KEY: open, as the rest of its API."""
    with ServerProcess(data_dir, tmp_path / "server.log") as server:
        run(_open_session(server.url))
        # the server holds the catalog: `rag mcp` on the same directory says where to go instead
        params = stdio_params(data_dir)
        stdio = subprocess.run(
            [params.command, *params.args], env=params.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120
        )
        assert stdio.returncode == 2 and f"{server.url}/mcp" in stdio.stderr.decode(), stdio.stderr
        assert not server.log_errors()


async def _open_session(url: str) -> None:
    async with http_client(url) as client:
        await exercise(client, "facts")


def test_streamable_http_keys(data_dir, tmp_path):
    """With RAG_ADMIN_KEY: no key is refused; a collection key reads its own collection only (its default)."""
    with ServerProcess(data_dir, tmp_path / "server.log", env={"RAG_ADMIN_KEY": ADMIN}) as server:
        made = httpx.post(
            f"{server.url}/v1/collections/facts/keys",
            json={"scope": "read"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert made.status_code == 201, made.text
        bare = httpx.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer", bare.text
        assert "requires an API key" in bare.json()["error"]["message"]
        run(_keyed_sessions(server.url, made.json()["key"]))


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups: the SDK's client raises from its task groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


async def _keyed_sessions(url: str, facts_key: str) -> None:
    for key in (None, "rag_not-a-key"):
        with pytest.raises(BaseException) as refused:  # the SDK's task groups wrap its error
            async with http_client(url, key) as client:
                await client.list_tools()
        assert any(isinstance(e, MCPError) for e in leaves(refused.value)), refused.value

    async with http_client(url, facts_key) as client:
        # no collection named: the key's own; one it does not cover is refused whether it exists or not
        await exercise(client, None, unknown_says="this API key does not allow reading collection 'nope'")
        listed = (await client.call_tool("list_collections", {})).structured_content["collections"]
        assert [c["name"] for c in listed] == ["facts"]
        other = await client.call_tool("search", {"query": "vault code", "collection": "other"})
        assert other.is_error and "does not allow reading collection 'other'" in other.content[0].text
        assert {r.name for r in (await client.list_resources()).resources} == set(FACTS)
        with pytest.raises(MCPError, match="does not allow"):
            await client.read_resource("localrag://other/3")

    async with http_client(url, ADMIN) as client:
        listed = (await client.call_tool("list_collections", {})).structured_content["collections"]
        assert {c["name"] for c in listed} == {"facts", "other"}
        vault = await client.call_tool("search", {"query": "vault code", "collection": "other", "k": 1})
        assert "4711" in vault.structured_content["passages"][0]["text"]
