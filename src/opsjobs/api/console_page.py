"""The operators' web console (docs/console.md): one page and its files, served whole by
opsjobs on the API's port, nothing to install and nothing loaded from elsewhere.

The page holds no data and decides no rights: its scripts call the API with the session's
cookies and show what the API answers. Its files (plain ES modules and one style sheet, in
``console/`` beside this module) are served under ``/console/assets/<version>/<name>``, where
``<version>`` is a hash of all the files together: a changed file is a new URL, so the
files may be cached for a year, and the modules' relative imports stay within one version.
The page itself is never cached, so a browser always learns the current version.

Only files found in ``console/`` when the app is built are served, looked up by name: no part
of a request becomes a file system path. Every answer carries a strict Content-Security-
Policy (no inline script or style, nothing from another origin), so hostile text that ever
reached the page as markup still could not run.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..domain.errors import NotFound
from .bodies import CheckedRoute

FILES = Path(__file__).resolve().parent / "console"
PAGE_PATH = "/console"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Versioned URLs never change content: a year, and no revalidation. The page: always asked.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Bundle:
    """The console's files, read once: name -> bytes, and the hash of them all."""

    files: dict[str, bytes]
    version: str

    def url(self, name: str) -> str:
        return f"{PAGE_PATH}/assets/{self.version}/{name}"


@functools.cache
def bundle() -> Bundle:
    files = {
        path.name: path.read_bytes()
        for path in sorted(FILES.iterdir())
        if path.suffix in CONTENT_TYPES and path.is_file()
    }
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return Bundle(files, digest.hexdigest()[:16])


def page(files: Bundle) -> bytes:
    """The page: the template with the versioned URLs of its style sheet and script."""
    template = (FILES / "index.html").read_text(encoding="utf-8")
    return (
        template.replace("{{css}}", files.url("console.css"))
        .replace("{{js}}", files.url("app.js"))
        .replace("{{icon}}", files.url("icon.svg"))
        .encode()
    )


def console_routes() -> APIRouter:
    """``/console`` (the page), ``/console/assets/{version}/{name}``, and ``/`` sending a
    browser to the page."""
    files = bundle()
    html = page(files)
    router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

    @router.get("/")
    async def home() -> Response:
        return RedirectResponse(PAGE_PATH, status_code=307)

    @router.get(PAGE_PATH)
    async def console() -> Response:
        headers = {"Cache-Control": NO_CACHE, **SECURITY_HEADERS}
        return HTMLResponse(html, headers=headers)

    @router.get(PAGE_PATH + "/assets/{version}/{name}")
    async def asset(version: str, name: str) -> Response:
        data = files.files.get(name)
        if version != files.version or data is None:
            raise NotFound("No such asset")
        content_type = CONTENT_TYPES[Path(name).suffix]
        headers = {"Cache-Control": IMMUTABLE, **SECURITY_HEADERS}
        return Response(data, media_type=content_type, headers=headers)

    return router
