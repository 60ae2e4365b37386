"""GET /node/api/docs works offline: the page and every file it refers to come from opsjobs."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from opsjobs.api.docs_page import ASSETS, VERSION

DOCS = "/node/api/docs"
ASSETS_URL = f"{DOCS}/assets/{VERSION}"
TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


class _References(HTMLParser):
    """Every src and href of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def _page_references(api) -> tuple[str, list[str]]:
    response = await api.client.get(DOCS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = _References()
    parser.feed(response.text)
    return response.text, parser.urls


async def _raw_get(app, path: str) -> tuple[int, bytes]:
    """GET with the path exactly as given: an HTTP client would resolve its ``..`` first."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


async def test_page_refers_to_nothing_outside_the_server(api):
    text, urls = await _page_references(api)
    assert urls, "the page names its script, style sheet and icon"
    for url in urls:
        assert url.startswith(ASSETS_URL + "/"), url
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    # The page still reads the API's own document.
    assert "/node/api/openapi.json" in text


async def test_every_referenced_asset_is_served_and_cached_long(api):
    _, urls = await _page_references(api)
    assert {url.rsplit("/", 1)[1] for url in urls} == set(ASSETS)
    for url in urls:
        response = await api.client.get(url)
        assert response.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        expected = TYPES.get(name, "image/png")
        assert response.headers["content-type"].startswith(expected), url
        assert len(response.content) > 0
        cache = response.headers["cache-control"]
        max_age = int(cache.split("max-age=")[1].split(",")[0])
        assert max_age >= 30 * 24 * 3600, cache
    script = await api.client.get(f"{ASSETS_URL}/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in script.content


@pytest.mark.parametrize(
    "path",
    [
        f"{ASSETS_URL}/nothing.js",
        f"{ASSETS_URL}/index.html",  # in the bundle, but not one the page uses
        f"{ASSETS_URL}/swagger-initializer.js",
        f"{DOCS}/assets/0.0.0/swagger-ui.css",  # another version
        f"{DOCS}/assets/{VERSION}",
        f"{ASSETS_URL}/swagger-ui.css/x",
    ],
)
async def test_unknown_asset_is_404(api, path):
    response = await api.client.get(path)
    assert response.status_code == 404
    assert (
        "cache-control" not in response.headers
        or "max-age=31536000" not in (response.headers["cache-control"])
    )


ESCAPES = [
    f"{ASSETS_URL}/../../../../../../etc/passwd",
    f"{ASSETS_URL}/..",
    f"{DOCS}/assets/../{VERSION}/swagger-ui.css",
    f"{DOCS}/assets/{VERSION}/../../openapi.json",
    f"{ASSETS_URL}//etc/passwd",
    f"{ASSETS_URL}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    f"{ASSETS_URL}/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    f"{ASSETS_URL}/%2fetc%2fpasswd",
    f"{ASSETS_URL}/..%5c..%5c__init__.py",
    f"{DOCS}/assets/%2e%2e/__init__.py",
]


@pytest.mark.parametrize("path", ESCAPES)
async def test_path_traversal_reads_nothing(api, path):
    # Through a real client (which sends %2e%2e as is) and byte for byte (literal ``..``).
    response = await api.client.get(path)
    assert response.status_code in (400, 404), path
    status, body = await _raw_get(api.client._transport.app, path)
    assert status in (400, 404), path
    assert b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("absolute", [Path("/etc/passwd"), Path(__file__)])
async def test_absolute_paths_are_404(api, absolute):
    status, body = await _raw_get(api.client._transport.app, f"{ASSETS_URL}/{absolute}")
    assert status == 404
    assert b"root:" not in body and b"import" not in body


async def test_docs_page_needs_no_credentials_and_assets_need_none_either(api):
    # No cookie, no token: a browser loads the page and its files before anyone logs in.
    api.client.cookies.clear()
    for path in (DOCS, f"{ASSETS_URL}/swagger-ui.css"):
        response = await api.client.get(path)
        assert response.status_code == 200, path
