"""Malformed input (docs/security.md): every number range-checked, every JSON body depth- and
value-checked, every odd ID answered 400 or 404, before anything is read, stored or
streamed. Each test is named for what once gave a 500, a cut body, or a stored ``inf``."""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil

import orjson
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DBAPIError

from conftest import basic
from helpers import add_job, assert_error, documented_operations, running_server
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.api.bodies import CheckedRoute
from opsjobs.api.routes.jobs import history_response
from opsjobs.domain.errors import BadRequest
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.output import Chunk
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.domain.values import INT32_MAX, INT64_MAX, INT64_MIN, MAX_DEPTH, parse_json
from opsjobs.store import users
from opsjobs.store.core import Store
from opsjobs.store.jobs import JobFilter
from opsjobs.store.output import append_output

TOO_WIDE = [2**63, 2**64, -(2**63) - 1, 10**30]
NOT_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 400]


def nested(depth: int, leaf: object = 1) -> object:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@pytest.fixture
async def world(api):
    admin = await api.admin()
    host = await api.object("host")
    other = await api.object("other")
    link = await api.link(host, other)
    job = await add_job(api.store, host)
    created = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={"name": "echo", "type": 2, "parameters": {"type": "scriptText", "text": "echo"}},
        headers=admin,
    )
    assert created.status_code == 200, created.text
    return {
        "admin": admin,
        "host": host,
        "link": link,
        "job": job,
        "operation": created.json()["id"],
    }


# -- the reader -------------------------------------------------------------------------------


def test_parse_json_keeps_every_value_within_the_limits():
    document = {
        "big": INT64_MAX,
        "small": INT64_MIN,
        "float": 1e308,
        "rounded looking": 1e19,  # a float, not a wide integer: kept
        "text": "héllo \u202e",
        "deep": nested(MAX_DEPTH - 1),
    }
    assert parse_json(json.dumps(document).encode()) == document


@pytest.mark.parametrize("number", TOO_WIDE)
def test_an_integer_wider_than_64_bits_is_refused_not_rounded(number):
    with pytest.raises(BadRequest, match=r"^a\.0\.b: integer out of range"):
        parse_json(json.dumps({"a": [{"b": number}]}).encode())


@pytest.mark.parametrize("literal", NOT_NUMBERS)
def test_nan_infinity_and_1e400_are_not_json(literal):
    with pytest.raises(json.JSONDecodeError):
        parse_json(f'{{"a": {literal}}}'.encode())


def test_nesting_past_the_limit_is_refused_however_deep():
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) == nested(MAX_DEPTH - 1, [])
    for depth in (MAX_DEPTH + 1, 500, 1_000, 1_100, 100_000):
        with pytest.raises((BadRequest, json.JSONDecodeError)):
            parse_json(b"[" * depth + b"]" * depth)


@pytest.mark.parametrize("text", ['"a\\u0000b"', '{"k\\u0000": 1}', '"\\ud800"', '"a\\udfffb"'])
def test_nul_and_lone_surrogates_are_refused_in_strings_and_keys(text):
    with pytest.raises((BadRequest, json.JSONDecodeError)):
        parse_json(text.encode())


def test_every_fastapi_route_reads_its_body_through_the_checked_reader(api):
    # FastAPI keeps included routers as nodes of a tree; each node knows its route.
    contexts = list(iter_route_contexts(api.client._transport.app.routes))
    declared = [c for c in contexts if isinstance(c.original_route, APIRoute)]
    assert {(m, c.path) for c in declared for m in c.methods} >= set(documented_operations())
    unchecked = [c.path for c in declared if not isinstance(c.original_route, CheckedRoute)]
    assert not unchecked


# -- query parameters -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["limit", "skip", "from", "to"])
async def test_huge_paging_numbers_in_job_lists_are_400_not_a_cut_200(api, backend, world, name):
    admin, host, link = world["admin"], world["host"], world["link"]
    for url in (f"/node/api/objects/{host}/jobs", f"/node/api/links/{link}/jobs"):
        for number in TOO_WIDE:
            response = await api.client.get(url, params={name: str(number)}, headers=admin)
            assert_error(response, 400, "BadRequest", contains=(name,))
        edge = await api.client.get(url, params={name: str(INT64_MAX)}, headers=admin)
        assert edge.status_code == 200 and isinstance(edge.json(), list)
    for number in TOO_WIDE:
        body = {"objects": [host], name: number}
        response = await api.client.post("/node/api/jobs", json=body, headers=admin)
        assert_error(response, 400, "BadRequest", contains=(name,))


async def test_a_huge_output_offset_is_400(api, backend, world):
    url = f"/node/api/jobs/{world['job']}/output"
    for number in TOO_WIDE:
        response = await api.client.get(url, params={"offset": str(number)}, headers=world["admin"])
        assert_error(response, 400, "BadRequest", contains=("offset",))
    edge = await api.client.get(url, params={"offset": str(INT64_MAX)}, headers=world["admin"])
    assert edge.status_code == 200 and edge.json()["data"] == ""


async def test_a_huge_last_event_id_resumes_from_the_start(api, backend, world):
    url = f"/node/api/jobs/{world['job']}/stream"
    await append_output(api.store, world["job"], [Chunk(stream=1, seq=0, offset=0, data=b"hi")])
    fresh = await api.client.get(url, headers=world["admin"])
    headers = {**world["admin"], "Last-Event-ID": f"{2**64}:{2**70}"}
    resumed = await api.client.get(url, headers=headers)
    assert resumed.status_code == fresh.status_code == 200
    assert resumed.text == fresh.text and '"data":"hi"' in resumed.text


async def test_a_list_query_the_database_refuses_fails_before_the_answer_starts(api, backend):
    # A value no route lets through, given straight to the list: the failure is raised by
    # history_response itself (an error status), never after "[" has been sent.
    owner = await api.object("o")
    await add_job(api.store, owner)
    ctx = api.client._transport.app.state.context
    with pytest.raises((OverflowError, DBAPIError)):  # SQLite's binding, PostgreSQL's type
        await history_response(ctx, [owner], EntityKind.OBJECT, JobFilter(limit=2**64))


# -- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["objects", "links"])
async def test_a_state_id_past_the_integer_column_is_400(api, backend, world, kind):
    entity = world["host"] if kind == "objects" else world["link"]
    url = f"/node/api/{kind}/{entity}"
    for number in (INT32_MAX + 1, *TOO_WIDE):
        response = await api.client.patch(url, json={"state_id": number}, headers=world["admin"])
        assert_error(response, 400, "BadRequest", contains=("state_id",))
    response = await api.client.patch(url, json={"state_id": INT32_MAX}, headers=world["admin"])
    assert response.status_code == 200, response.text
    assert (await api.client.get(url, headers=world["admin"])).json()["state_id"] == INT32_MAX


async def test_property_values_past_64_bits_are_400_and_the_widest_are_kept(api, backend, world):
    url = f"/node/api/objects/{world['host']}"
    for number in TOO_WIDE:
        response = await api.client.patch(
            url, json={"properties": {"n": number}}, headers=world["admin"]
        )
        assert_error(response, 400, "BadRequest", contains=("properties.n", "out of range"))
    kept = {"max": INT64_MAX, "min": INT64_MIN, "f": -1.5e300}
    response = await api.client.patch(url, json={"properties": kept}, headers=world["admin"])
    assert response.status_code == 200, response.text
    read = await api.client.get(url, headers=world["admin"])
    stored = orjson.loads(read.content)["properties"]
    assert {p["name"]: p["value"] for p in stored} == kept


@pytest.mark.parametrize("literal", NOT_NUMBERS)
async def test_1e400_and_nan_are_not_accepted_as_results(api, backend, world, literal):
    url = f"/node/api/jobs/{world['job']}/results"
    content = f'{{"value": {literal}}}'.encode()
    response = await api.client.patch(url, content=content, headers=world["admin"])
    assert_error(response, 400, "InvalidContent")
    job = (await api.client.get(f"/node/api/jobs/{world['job']}", headers=world["admin"])).json()
    assert job["results"] == []


async def test_wide_integers_and_nul_are_not_accepted_as_results(api, backend, world):
    url = f"/node/api/jobs/{world['job']}/results"
    for payload in ({"n": 2**64}, {"n": -(2**63) - 1}, {"s": "a\0b"}, {"k\0": 1}):
        response = await api.client.patch(url, json=payload, headers=world["admin"])
        assert_error(response, 400, "BadRequest")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 1_100, 5_000])
async def test_arguments_nested_deep_are_400_on_the_execute_route(api, backend, world, depth):
    url = f"/node/api/objects/{world['host']}/operations/{world['operation']}/execute"
    content = b'{"x": ' + b"[" * depth + b"]" * depth + b"}"
    response = await api.client.post(url, content=content, headers=world["admin"])
    error = assert_error(response, 400, response.json()["code"])
    assert error["code"] in ("BadRequest", "InvalidContent")
    assert "nested" in error["message"] or "depth" in error["message"], error


async def test_huge_numbers_in_execute_arguments_are_400(api, backend, world):
    url = f"/node/api/objects/{world['host']}/operations/{world['operation']}/execute"
    for number in TOO_WIDE:
        response = await api.client.post(url, json={"n": number}, headers=world["admin"])
        assert_error(response, 400, "BadRequest", contains=("args.n", "out of range"))
    for literal in NOT_NUMBERS:
        content = f'{{"n": {literal}}}'.encode()
        response = await api.client.post(url, content=content, headers=world["admin"])
        assert_error(response, 400, "InvalidContent")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/node/api/objects", {"name": "x", "properties": {"a": "PLACE"}}),
        ("POST", "/node/api/users", {"login": "u", "password": "p", "name": "PLACE"}),
        ("POST", "/node/api/groups", {"name": "PLACE"}),
        ("POST", "/node/api/scripts", {"name": "PLACE", "text": "echo"}),
        ("POST", "/node/api/classes", {"name": "PLACE"}),
        ("POST", "/node/api/users/session", {"login": "PLACE", "password": "p"}),
    ],
)
async def test_every_body_route_refuses_deep_nesting_wide_numbers_and_nul(
    api, backend, world, method, path, body
):
    for hostile in (nested(MAX_DEPTH + 1), 2**64, "a\0b"):
        content = json.dumps(body).replace('"PLACE"', json.dumps(hostile)).encode()
        response = await api.client.request(method, path, content=content, headers=world["admin"])
        assert_error(response, 400, "BadRequest")


# -- IDs in the path --------------------------------------------------------------------------

ODD_IDS = ["x" * 10_000, "%00", "a%00b", "%E2%80%AE", "%F0%9D%94%B2", "..", "%2E%2E", "%ED%A0%80"]


async def test_odd_ids_in_every_path_are_400_or_404(api, backend, world):
    """Every documented route with an ID in its path, each ID replaced by odd strings."""
    failures = []
    for method, path in documented_operations():
        if "{" not in path:
            continue
        for odd in ODD_IDS:
            url = path
            for name in ("job_id", "object_id", "link_id", "operation_id", "user_id"):
                url = url.replace(f"{{{name}}}", odd)
            for name in ("script_id", "class_id"):
                url = url.replace(f"{{{name}}}", odd)
            response = await api.client.request(method, url, headers=world["admin"], json={})
            # ".." is resolved by the client: the request reaches another route, or none.
            arrived = response.request.url.raw_path.decode().split("?")[0] == url
            if response.status_code not in (400, 404) and (arrived or response.status_code >= 500):
                failures.append((method, url[:80], response.status_code, response.text[:200]))
    assert not failures, failures


# -- the URL ----------------------------------------------------------------------------------


async def test_nul_in_a_path_or_query_is_400_before_postgresql_sees_it(api, backend, world):
    # Once a 500 on PostgreSQL: text there cannot hold NUL.
    host, job = world["host"], world["job"]
    urls = [
        "/node/api/scripts/a%00b",
        "/node/api/classes/a%00b/operations",
        f"/node/api/objects/{host}/operations/%00",
        f"/node/api/objects/{host}/jobs?operation_id=a%00b",
        f"/node/api/objects/{host}/jobs?user_id=%00",
        f"/node/api/jobs/{job}/output?stream=%00",
        "/node/api/objects?fields=a%00b",
    ]
    for url in urls:
        response = await api.client.get(url, headers=world["admin"])
        assert_error(response, 400, "BadRequest", contains=("NUL",))
    response = await api.client.post("/node/api/objects?x=%00", json={}, headers=world["admin"])
    assert_error(response, 400, "BadRequest", contains=("URL query",))


RAW_PATHS = [
    "/node/api/scripts/%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
    "/node/api/scripts/%FF%FE",  # not UTF-8 at all
    "/node/api/scripts/a%00b",
    "/node/api/objects/%C0%AE%C0%AE",  # overlong ".."
    "/node/api/jobs/%00",
    "/node/api/users/" + "x" * 10_000,
    "/node/api/objects?fields=%00",
]
# A query is decoded with U+FFFD for what is not UTF-8: harmless, the field names nothing.
REPLACED = "/node/api/objects?fields=%ED%A0%80"


def test_raw_odd_urls_through_a_real_server_are_400_or_404(tmp_path, sqlite_template):
    """What the HTTP server itself makes of bytes a client library would not send."""
    path = tmp_path / "opsjobs.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"

    async def seed() -> None:
        store = Store(url)
        await store.open()
        try:
            hasher = Passwords(time_cost=1, memory_kib=8)
            await users.create_user(
                store, login="admin", password_hash=hasher.hash("pw"),
                permissions=list(PERMISSIONS), include=["1"],
            )  # fmt: skip
        finally:
            await store.close()

    asyncio.run(seed())
    with running_server(url) as (base, _process):
        host, port = base.removeprefix("http://").split(":")
        for raw in [*RAW_PATHS, REPLACED]:
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                connection.putrequest("GET", raw, skip_accept_encoding=True)
                connection.putheader("Authorization", basic("admin", "pw")["Authorization"])
                connection.endheaders()
                response = connection.getresponse()
                body = response.read()
            finally:
                connection.close()
            if raw == REPLACED:
                assert (response.status, orjson.loads(body)) == (200, [{"id": "1"}])
                continue
            assert response.status in (400, 404), (raw[:80], response.status, body[:200])
            assert set(orjson.loads(body)) == {"code", "message"}
