"""The console's page and files (api/console_page.py): served by opsjobs itself, versioned by
content, cached accordingly, under a strict Content-Security-Policy, and nothing else."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import pytest

from opsjobs.api.console_page import FILES, IMMUTABLE, bundle


class _Page(HTMLParser):
    """The page's src and href values, and whether any script or style is written inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self.inline += [k for k in names if k.startswith("on") or k == "style"]
        if tag == "style":
            self.inline.append("style element")
        self._in_script = tag == "script"
        if tag == "script" and "src" not in names:
            self.inline.append("script without src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script text")


async def _page(api) -> tuple[object, _Page]:
    response = await api.client.get("/console")
    parser = _Page()
    parser.feed(response.text)
    return response, parser


async def test_root_sends_a_browser_to_the_console(api):
    response = await api.client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/console"
    # Only browsers' GET: anything else at / is refused as at any known path.
    for method in ("POST", "DELETE"):
        refused = await api.client.request(method, "/")
        assert refused.status_code == 405, refused.text
        assert refused.json()["code"] == "MethodNotAllowed"


async def test_the_page_is_never_cached_and_allows_only_its_own_files(api):
    response, page = await _page(api)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not page.inline, page.inline
    assert "http://" not in response.text and "https://" not in response.text


async def test_every_file_the_page_names_is_served_versioned_and_cached_long(api):
    _, page = await _page(api)
    version = bundle().version
    local = [u for u in page.urls if u.startswith("/console/")]
    assert {u.rsplit("/", 1)[1] for u in local} == {"app.js", "console.css", "icon.svg"}
    for url in local:
        assert url.startswith(f"/console/assets/{version}/"), url
        response = await api.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == IMMUTABLE
        assert "content-security-policy" in response.headers
    # The API's documentation page is linked, nothing outside the server is.
    assert "/node/api/docs" in page.urls
    assert all(u.startswith(("/", "#")) and not u.startswith("//") for u in page.urls), page.urls


async def test_every_module_is_served_with_its_javascript_type(api):
    version = bundle().version
    modules = sorted(p.name for p in FILES.glob("*.js"))
    assert "app.js" in modules and "stream.js" in modules
    for name in modules:
        response = await api.client.get(f"/console/assets/{version}/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript")
        # Relative imports only: they resolve within the same version.
        for target in re.findall(r'from "([^"]+)"', response.text):
            assert target.startswith("./") and (FILES / target[2:]).is_file(), (name, target)


def test_the_version_is_a_hash_of_the_files():
    files = bundle()
    digest = hashlib.sha256()
    for name, data in sorted(files.files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    assert files.version == digest.hexdigest()[:16]


def test_no_module_writes_markup_from_text():
    # Data reaches the page as text nodes only (job output is hostile): no innerHTML,
    # outerHTML, insertAdjacentHTML, document.write or eval anywhere in the console.
    for path in FILES.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert banned not in text, (path.name, banned)


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/{version}/nothing.js",
        "/console/assets/{version}/index.html",  # the template is not an asset
        "/console/assets/0000000000000000/app.js",  # another version
        "/console/assets/{version}/../console_page.py",
        "/console/assets/{version}/%2e%2e%2fconsole_page.py",
        "/console/assets/{version}/%2fetc%2fpasswd",
    ],
)
async def test_anything_else_is_404(api, path):
    response = await api.client.get(path.format(version=bundle().version))
    assert response.status_code in (400, 404), path
    assert b"import" not in response.content and b"root:" not in response.content
    assert response.headers.get("cache-control") != IMMUTABLE


async def test_a_trailing_slash_reaches_the_page(api):
    response = await api.client.get("/console/", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/console")
