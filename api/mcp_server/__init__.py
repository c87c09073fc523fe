"""The platform as an MCP server (Model Context Protocol, the official ``mcp`` SDK).

:mod:`api.mcp_server.server` builds the server (tools and document resources) over a
:class:`rag.platform.Platform`; :mod:`api.mcp_server.stdio` serves it over stdio (``rag mcp``,
``python -m api.mcp_server``) and :mod:`api.mcp_server.http` over streamable HTTP at ``/mcp`` inside the
REST app, behind the same keys. (Not named ``api.mcp``: tools that sort imports would take the SDK's ``mcp``
for this package.)
"""
