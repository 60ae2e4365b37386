"""Errors (docs/api.md §2): always ``{"code", "message"}`` with the right status, whatever went
wrong — bad JSON, wrong types, malformed IDs, unknown routes, big bodies, bugs."""

from __future__ import annotations

import re

import pytest

from helpers import ERROR_KEYS, add_job, app_client, assert_error
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.domain.ids import new_id

# -- bodies that are not JSON ---------------------------------------------------------------

BROKEN = [
    (b'{"objects": [', 13),
    (b'{"objects": ["1"],}', 18),
    (b"{'objects': ['1']}", 1),
    (b'{"objects": ["1"]} trailing', 19),
    (b"   ", 3),
    (b'{"objects": ["\xff\xfe"]}', 14),
]


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/x-www-form-urlencoded", "text/plain"],
    ids=["no content type", "json", "form (curl -d)", "text"],
)
async def test_malformed_json_is_invalid_content_with_its_position(api, content_type):
    headers = await api.admin()
    if content_type is not None:
        headers["Content-Type"] = content_type
    for body, position in BROKEN:
        response = await api.client.post("/node/api/jobs", content=body, headers=headers)
        error = assert_error(response, 400, "InvalidContent")
        assert f"position {position}" in error["message"], (body, error)


async def test_curl_style_form_content_type_with_valid_json_is_read_as_json(api):
    headers = await api.admin()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    a = await api.object("a")
    job_id = await add_job(api.store, a)
    response = await api.client.post(
        "/node/api/jobs", content=f'{{"objects": ["{a}"]}}'.encode(), headers=headers
    )
    assert response.status_code == 200
    assert [j["id"] for j in response.json()] == [job_id]


async def test_malformed_json_on_every_body_route(api):
    headers = await api.admin()
    job_id = await add_job(api.store, await api.object("a"))
    user = (await api.client.get("/node/api/users/current", headers=headers)).json()["id"]
    routes = [
        ("POST", "/node/api/jobs"),
        ("PATCH", f"/node/api/jobs/{job_id}/results"),
        ("POST", "/node/api/users/session"),
        ("POST", "/node/api/users"),
        ("PATCH", f"/node/api/users/{user}"),
        ("POST", "/node/api/groups"),
        ("POST", "/node/api/objects"),
        ("PATCH", "/node/api/objects/1"),
        ("POST", "/node/api/links"),
    ]
    for method, url in routes:
        response = await api.client.request(method, url, content=b"{nope", headers=headers)
        error = assert_error(response, 400, "InvalidContent")
        assert "position 1" in error["message"], (url, error)


# -- wrong types ----------------------------------------------------------------------------


WRONG_TYPES = [
        ("POST", "/node/api/users", {"login": 5, "password": "x"}, "login"),
        ("POST", "/node/api/users", {"password": "x"}, "login"),
        ("POST", "/node/api/users", {"login": "", "password": "x"}, "login"),
        ("POST", "/node/api/users", {"login": "x", "password": "x", "status": "1"}, "status"),
        ("POST", "/node/api/users", {"login": "x", "password": "x", "permissions": ["fly"]}, "permissions.0"),
        ("POST", "/node/api/users", {"login": "x", "password": "x", "objectPermissions": {"include": "1"}}, "objectPermissions.include"),
        ("POST", "/node/api/users", {"login": "x", "password": "x", "activeTo": "tomorrow"}, "activeTo"),
        ("POST", "/node/api/groups", {"name": ["g"]}, "name"),
        ("POST", "/node/api/objects", {"name": 1}, "name"),
        ("POST", "/node/api/objects", {"name": "x", "parent_id": 1}, "parent_id"),
        ("POST", "/node/api/objects", {"name": "x", "properties": "p"}, "properties"),
        ("PATCH", "/node/api/objects/1", {"name": None}, "name"),
        ("PATCH", "/node/api/objects/1", {"state_id": "3"}, "state_id"),
        ("PATCH", "/node/api/objects/1", {"state_id": 0}, "state_id"),
        ("POST", "/node/api/links", {"source": "1"}, "target"),
        ("POST", "/node/api/links", {"source": 1, "target": "1"}, "source"),
        ("POST", "/node/api/users/session", {"login": "admin"}, "password"),
        ("POST", "/node/api/users/session", {"login": 1, "password": "x"}, "login"),
        ("POST", "/node/api/jobs", {"objects": ["1"], "limit": True}, "limit"),
    ]  # fmt: skip


async def test_wrong_types_are_bad_request_naming_the_field(api):
    headers = await api.admin()
    for method, url, body, named in WRONG_TYPES:
        response = await api.client.request(method, url, json=body, headers=headers)
        error = assert_error(response, 400, "BadRequest")
        assert error["message"].startswith(named + ":"), (body, error)


# -- IDs and routes -------------------------------------------------------------------------

MALFORMED_IDS = ["zzz", "1234", "5f1150e0786952333e04889G", "5f1150e0786952333e048898aa", "%20"]


async def test_malformed_ids_in_paths_are_404(api):
    headers = await api.admin()
    for bad in MALFORMED_IDS:
        await _all_404(api, headers, bad)


async def _all_404(api, headers, bad: str) -> None:
    cases = [
        ("GET", f"/node/api/jobs/{bad}", "Job"),
        ("PATCH", f"/node/api/jobs/{bad}/results", "Job"),
        ("GET", f"/node/api/objects/{bad}", "Object"),
        ("PATCH", f"/node/api/objects/{bad}", "Object"),
        ("DELETE", f"/node/api/objects/{bad}", "Object"),
        ("GET", f"/node/api/objects/{bad}/jobs", "Object"),
        ("GET", f"/node/api/objects/{bad}/children", "Object"),
        ("GET", f"/node/api/objects/{bad}/children/links", "Object"),
        ("GET", f"/node/api/links/{bad}", "Link"),
        ("PATCH", f"/node/api/links/{bad}", "Link"),
        ("DELETE", f"/node/api/links/{bad}", "Link"),
        ("GET", f"/node/api/links/{bad}/jobs", "Link"),
        ("GET", f"/node/api/users/{bad}", "User"),
        ("PATCH", f"/node/api/users/{bad}", "User"),
        ("DELETE", f"/node/api/users/{bad}", "User"),
        ("POST", f"/node/api/users/{bad}/auth-token", "User"),
        ("DELETE", f"/node/api/users/{bad}/auth-token", "User"),
    ]
    for method, url, kind in cases:
        # A user body is checked field by field before the ID (docs/api.md §2, §14).
        patch = {"name": "Someone"} if "/users/" in url else {"weight": 2}
        body = patch if method == "PATCH" else None
        response = await api.client.request(method, url, json=body, headers=headers)
        error = assert_error(response, 404, "ResourceNotFound")
        assert error["message"].startswith(f"Entity not found: {kind}("), (url, error)


async def test_well_formed_unknown_ids_are_404_too(api):
    headers = await api.admin()
    unknown = new_id()
    for url, kind in [
        (f"/node/api/jobs/{unknown}", "Job"),
        (f"/node/api/objects/{unknown}", "Object"),
        (f"/node/api/links/{unknown}", "Link"),
        (f"/node/api/users/{unknown}", "User"),
    ]:
        response = await api.client.get(url, headers=headers)
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: {kind}({unknown})")


async def test_unknown_routes_are_404_in_the_error_format(api):
    headers = await api.admin()
    urls = [
        "/node/api/nope",
        "/nope",
        # ("/" sends a browser to the console: tests/api/test_console_page.py.)
        "/node/api/jobs/a/b/c",
        "/node/api",
        "/node/api/objects/1/x",
    ]
    for url in urls:
        for method in ("GET", "POST", "DELETE"):
            response = await api.client.request(method, url, headers=headers)
            assert_error(response, 404, "ResourceNotFound", f"Route not found: {method} {url}")
        # Also without credentials: an unknown route is unknown to everyone.
        assert_error(await api.client.get(url), 404, "ResourceNotFound")


async def test_wrong_method_on_a_known_route_is_an_error_document(api):
    headers = await api.admin()
    response = await api.client.put("/node/api/jobs", headers=headers)
    assert_error(response, 405, "MethodNotAllowed")


# -- body size ------------------------------------------------------------------------------


@pytest.fixture
async def small_body_api(database_url):
    async with app_client(database_url, max_body_bytes=1000) as api:
        api.headers = await api.admin()
        yield api


async def _chunks(total: int, size: int = 100):
    # A JSON string long enough, sent in pieces with no Content-Length (chunked).
    body = b'{"objects": ["1"], "pad": "' + b"x" * total + b'"}'
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_declared_oversized_body_is_413(small_body_api):
    api = small_body_api
    body = b'{"objects": ["1"], "pad": "' + b"x" * 2000 + b'"}'
    response = await api.client.post("/node/api/jobs", content=body, headers=api.headers)
    assert_error(response, 413, "PayloadTooLarge", contains=("1000",))


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", "/node/api/jobs"), ("POST", "/node/api/objects"), ("POST", "/node/api/users")],
)
async def test_chunked_oversized_body_is_413(small_body_api, method, url):
    api = small_body_api
    response = await api.client.request(method, url, content=_chunks(5000), headers=api.headers)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PayloadTooLarge", contains=("1000",))


async def test_chunked_oversized_results_are_not_appended(small_body_api):
    api = small_body_api
    job_id = await add_job(api.store, await api.object("a"))
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results", content=_chunks(5000), headers=api.headers
    )
    assert_error(response, 413, "PayloadTooLarge")
    document = (await api.client.get(f"/node/api/jobs/{job_id}", headers=api.headers)).json()
    assert document["results"] == []


async def test_bodies_up_to_the_limit_are_accepted(small_body_api):
    api = small_body_api
    job_id = await add_job(api.store, await api.object("a"))
    body = b'{"pad": "' + b"x" * (1000 - 11) + b'"}'
    assert len(body) == 1000
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results", content=body, headers=api.headers
    )
    assert response.status_code == 200, response.text
    chunked = await api.client.patch(
        f"/node/api/jobs/{job_id}/results",
        content=_chunks(500),
        headers=api.headers,
    )
    assert chunked.status_code == 200, chunked.text


# -- bugs -----------------------------------------------------------------------------------


async def test_a_bug_is_500_internal_without_a_stack_trace(database_url):
    def add_broken_route(app):
        @app.get("/node/api/test-only/boom")
        async def boom():
            raise RuntimeError("secret detail /etc/passwd at line 42")

    async with app_client(
        database_url, raise_app_exceptions=False, app_hook=add_broken_route
    ) as api:
        response = await api.client.get("/node/api/test-only/boom")
    body = assert_error(response, 500, "Internal")
    assert "secret" not in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert not re.search(r"File \"|line \d+", body["message"])


# -- the shape of every error ---------------------------------------------------------------


async def test_every_error_body_has_exactly_code_and_message(api):
    headers = await api.admin()
    requests = [
        ("GET", "/node/api/jobs/zzz", {}, None),
        ("GET", "/node/api/jobs/zzz", headers, None),
        ("POST", "/node/api/jobs", headers, b"{"),
        ("POST", "/node/api/jobs", headers, b"{}"),
        ("POST", "/node/api/jobs", headers, b'{"objects": 1}'),
        ("GET", "/node/api/nowhere", headers, None),
        ("PUT", "/node/api/jobs", headers, None),
        ("DELETE", "/node/api/objects/1", headers, None),
        ("POST", "/node/api/users/session", {}, b'{"login": "admin", "password": "no"}'),
        ("GET", "/node/api/groups", await api.user("weak", "pw"), None),
    ]
    seen_codes = set()
    for method, url, request_headers, body in requests:
        response = await api.client.request(method, url, headers=request_headers, content=body)
        assert response.status_code >= 400
        document = response.json()
        assert set(document) == ERROR_KEYS, (url, document)
        assert all(isinstance(v, str) and v for v in document.values())
        seen_codes.add(document["code"])
    assert seen_codes >= {
        "Unauthorized",
        "ResourceNotFound",
        "InvalidContent",
        "BadRequest",
        "InvalidCredentials",
        "Forbidden",
    }
