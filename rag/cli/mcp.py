"""``rag mcp``: the platform as an MCP server over stdio, for desktop assistants (Claude Desktop and others).

The server lives in ``api.mcp_server`` and ``rag`` must not import ``api`` (dependencies point api -> rag), so it is
named here by its module's name, as ``rag serve`` names the app to uvicorn; it reads the settings this command
resolved (the global flags over the environment).
"""

from __future__ import annotations

import argparse
import importlib

from rag.cli import GLOBAL_OPTIONS

STDIO_SERVER = "api.mcp_server.stdio"  # its serve(settings, collection) runs the server until the client leaves


def register(sub) -> None:
    p = sub.add_parser(
        "mcp",
        parents=[GLOBAL_OPTIONS],
        help="serve the collections to an AI assistant as an MCP server over stdio",
        description="An MCP server over stdin/stdout (tools search, ask, list_collections, get_document; "
        "documents as resources). An assistant starts it as a child process; see the README's MCP section. "
        "While `rag serve` runs on the data directory, connect the assistant to its /mcp instead.",
    )
    p.add_argument("--collection", help="the collection of the calls that name none")
    p.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    from rag.cli import settings_from

    importlib.import_module(STDIO_SERVER).serve(settings_from(args), args.collection)
    return 0
