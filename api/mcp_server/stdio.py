"""The MCP server over stdio, for desktop assistants that start it as a child process (``rag mcp``).

The process opens the data directory itself (``RAG_DATA_DIR``), so it is the data directory's own user and
reads every collection. A running ``rag serve`` holds that directory's catalog: then the assistant should
reach the server's ``/mcp`` over streamable HTTP instead, which this says rather than failing on the lock.
"""

from __future__ import annotations

import argparse
import logging
import sys

from api.mcp_server.server import build_server
from core.errors import ConflictError, NotFoundError, RAGError
from rag.platform import Platform
from rag.server_file import running_server
from rag.settings import Settings


def serve(settings: Settings, collection: str | None = None) -> None:
    """Serve MCP on stdin/stdout until the client closes them; ``collection``: the default collection.

    Raises:
        ConflictError: a running server holds the data directory.
        NotFoundError: ``collection`` does not exist.
    """
    server_file = running_server(settings.data_dir)
    if server_file is not None:
        raise ConflictError(
            f"the rag serve at {server_file.url} holds {settings.data_dir}: connect the assistant to "
            f"{server_file.url}/mcp (streamable HTTP) instead, or stop that server"
        )
    platform = Platform(settings)
    try:
        if collection is not None and platform.store.catalog.find_collection(collection) is None:
            raise NotFoundError(  # said now, not at each call
                f"collection {collection!r} does not exist in {settings.data_dir}: ingest documents into it first "
                f"(rag ingest PATH --collection {collection}), or leave --collection out"
            )
        build_server(platform, collection).run("stdio")
    finally:
        platform.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.mcp_server", description="The MCP server over stdio.")
    parser.add_argument("--collection", help="collection of the calls that name none")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(Settings.from_env(), args.collection)
    except RAGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
