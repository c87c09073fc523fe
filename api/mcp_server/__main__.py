"""``python -m api.mcp_server [--collection NAME]``: the MCP server over stdio (what ``rag mcp`` runs)."""

import sys

from api.mcp_server.stdio import main

sys.exit(main())
