"""``rag serve``: the REST API under uvicorn.

``rag`` must not import ``api`` (dependencies point api -> rag), so the app is
named to uvicorn as an import string and receives the resolved settings
through the ``RAG_*`` environment it reads at start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from rag.cli import GLOBAL_OPTIONS

APP_FACTORY = "api.app:serve_app"  # create_app, loading the generator at start
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub) -> None:
    p = sub.add_parser("serve", parents=[GLOBAL_OPTIONS], help="serve the REST API")
    p.add_argument("--host", help="bind address (env RAG_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env RAG_PORT, default 8000)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rag.cli import settings_from

    settings = settings_from(args)
    if not settings.admin_key and settings.host not in LOOPBACK:
        print(
            f"warning: RAG_ADMIN_KEY is not set, so API keys are not enforced: listening on 127.0.0.1 only, not "
            f"{settings.host}. Set RAG_ADMIN_KEY to serve other machines.",
            file=sys.stderr,
        )
        settings = settings.replace(host="127.0.0.1")
    elif settings.host not in LOOPBACK and not settings.allowed_hosts:
        print(
            f"note: listening on {settings.host}, but requests are answered only when they name this server as "
            "localhost, a loopback address or RAG_HOST: list the names other machines use in RAG_ALLOWED_HOSTS",
            file=sys.stderr,
        )
    for field in dataclasses.fields(settings):
        os.environ[f"RAG_{field.name.upper()}"] = str(getattr(settings, field.name))
    uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port, log_level="info")
    return 0
