"""The interactive page over the OpenAPI document, served whole by opsjobs itself.

Swagger UI's files come from the installed ``swagger-ui-bundle-v2`` package, not from a CDN, so
the page works on a machine without internet access. Their URLs carry Swagger UI's version:
a new version is a new URL, so an answer may be cached for a year.

Only the files named in ``ASSETS`` are served, looked up by name: no part of the request
becomes a file system path, so no ``..`` or absolute path can reach outside the bundle.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from ..domain.errors import NotFound
from .bodies import CheckedRoute

# The bundle's directory is named after the Swagger UI it holds: "swagger-ui-5.31.0".
VERSION = swagger_ui_path.name.removeprefix("swagger-ui-")
# The files the page refers to, and their content types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# Versioned URLs never change content: a year, and no revalidation.
CACHE_CONTROL = "public, max-age=31536000, immutable"


def asset_url(prefix: str, name: str) -> str:
    return f"{prefix}/docs/assets/{VERSION}/{name}"


@functools.cache
def _read(name: str) -> bytes:
    return (swagger_ui_path / name).read_bytes()


def docs_routes(prefix: str) -> APIRouter:
    """The page at ``{prefix}/docs`` and its assets under ``{prefix}/docs/assets/``."""
    page = get_swagger_ui_html(
        openapi_url=f"{prefix}/openapi.json",
        title="opsjobs",
        swagger_js_url=asset_url(prefix, "swagger-ui-bundle.js"),
        swagger_css_url=asset_url(prefix, "swagger-ui.css"),
        swagger_favicon_url=asset_url(prefix, "favicon-32x32.png"),
        oauth2_redirect_url=None,
    ).body
    # (CheckedRoute like every route: these read no body, but no route is left unchecked.)
    router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

    @router.get(f"{prefix}/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @router.get(prefix + "/docs/assets/{version}/{name}")
    async def asset(version: str, name: str) -> Response:
        content_type = ASSETS.get(name)
        if version != VERSION or content_type is None:
            raise NotFound("No such asset")
        return Response(
            _read(name), media_type=content_type, headers={"Cache-Control": CACHE_CONTROL}
        )

    return router
