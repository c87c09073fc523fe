"""The browser page at ``/``: one HTML file, one script and one style sheet, all shipped in ``api/web``.

Nothing is loaded from elsewhere (the machine may have no network), there is no build
step, and a Content-Security-Policy keeps the page to its own script and style. The
routes are public (the page holds no data: it asks for a key when the API answers 401)
and left out of the OpenAPI document, which describes the API only.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException

# name -> media type (Litestar adds "; charset=utf-8") of the files of the page; nothing else is served
ASSETS: dict[str, str] = {
    "app.js": "text/javascript",
    "app.css": "text/css",
}
PAGE = "index.html"
WEB_DIR = Path(__file__).resolve().parents[1] / "web"  # api/web (api is a namespace package)
CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'"
NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def web_file(name: str) -> bytes:
    """A file of the page, read from the installed package (read per request: a few kB)."""
    return (WEB_DIR / name).read_bytes()


@get("/", operation_id="webPage", include_in_schema=False, sync_to_thread=False)
def web_page() -> Response[bytes]:
    return Response(
        web_file(PAGE),
        media_type="text/html",
        headers={**NO_CACHE, "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"},
    )


@get("/web/{name:str}", operation_id="webAsset", include_in_schema=False, sync_to_thread=False)
def web_asset(name: str) -> Response[bytes]:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundException(f"no file {name!r} in the web page; it has {', '.join(sorted(ASSETS))}")
    return Response(web_file(name), media_type=media_type, headers=NO_CACHE)


WEB_ROUTES = [web_page, web_asset]
