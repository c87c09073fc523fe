"""The browser page at ``/``: one HTML file, its ES modules and one style sheet, all shipped in ``api/web``.

Nothing is loaded from elsewhere (the machine may have no network), there is no build
step (the browser loads ``main.js`` as a module and follows its imports), and a
Content-Security-Policy keeps the page to its own script and style. Only the files
listed in ``ASSETS`` when the server starts are served: a name is looked up, never
joined to a path, so ``../`` and the like find nothing. The
routes are public (the page holds no data: it asks for a key when the API answers 401)
and left out of the OpenAPI document, which describes the API only.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException

PAGE = "index.html"
WEB_DIR = Path(__file__).resolve().parents[1] / "web"  # api/web (api is a namespace package)


def page_assets(web_dir: Path) -> dict[str, str]:
    """Name -> media type of each file the page may load: its modules (every ``*.js`` there) and its style.

    The modules sit beside ``index.html``, not in a subfolder, so a name is one path segment and the
    package data pattern ``web/*`` installs them all.
    """
    modules = {p.name: "text/javascript" for p in sorted(web_dir.glob("*.js"))}
    return {"app.css": "text/css", **modules}


# name -> media type (Litestar adds "; charset=utf-8") of the files of the page; nothing else is served
ASSETS: dict[str, str] = page_assets(WEB_DIR)
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
