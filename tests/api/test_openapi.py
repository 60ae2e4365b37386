"""The served OpenAPI document: every route described with its request and response shapes,
and schemathesis against the app (as admin) finding no 5xx and no answer that breaks the
document for a status it documents."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import basic
from conftest import settings_for_test as make_settings
from helpers import EXECUTION_KEYS, JOB_KEYS, add_job, documented_operations, route_table
from opsjobs.api.context import Context
from opsjobs.api.routes import not_served
from opsjobs.compose import server_app
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, users
from opsjobs.store.core import Store

OPENAPI = "/node/api/openapi.json"
# The monitoring routes sit outside /node/api and the API's document: docs/deployment.md.
MONITORING_ROUTES = {"/metrics", "/healthz", "/readyz"}
SERVICE_ROUTES = {
    "/node/api/openapi.json",
    "/node/api/docs",
    "/node/api/docs/assets/{version}/{name}",
    *MONITORING_ROUTES,
    # The web console: a page and its files, not API operations (docs/console.md).
    "/",
    "/console",
    "/console/assets/{version}/{name}",
}
# SAYMON's families opsjobs answers as not served (docs/api.md §17): not operations of its own.
NOT_SERVED = {"/node/api" + route.path for route in not_served.router.routes}
ADMIN = ("admin", "admin-secret")
# Answers with no body at all (the route says so in its description).
EMPTY_ANSWERS = {
    ("DELETE", "/node/api/users/session"),
    ("DELETE", "/node/api/users/{user_id}"),
    ("DELETE", "/node/api/users/{user_id}/auth-token"),
    ("DELETE", "/node/api/objects/{object_id}"),
    ("DELETE", "/node/api/links/{link_id}"),
    ("PATCH", "/node/api/jobs/{job_id}/results"),
    ("PUT", "/node/api/objects/{object_id}/state-triggers"),
    ("PUT", "/node/api/links/{link_id}/state-triggers"),
}


async def _seed(url: str) -> dict:
    store = Store(url)
    await store.open()
    try:
        hasher = Passwords(time_cost=1, memory_kib=8)
        await users.create_user(
            store,
            login=ADMIN[0],
            password_hash=hasher.hash(ADMIN[1]),
            permissions=list(PERMISSIONS),
            include=["1"],
        )
        a = await entities.create_object(store, name="a", parent_ids=["1"])
        b = await entities.create_object(store, name="b", parent_ids=[a["id"]])
        link = await entities.create_link(store, source=a["id"], target=b["id"])
        jobs = [await add_job(store, a["id"]), await add_job(store, link["id"], EntityKind.LINK)]
        return {"object": a["id"], "link": link["id"], "job": jobs[0]}
    finally:
        await store.close()


@pytest.fixture(scope="module")
def served_app(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("openapi") / "opsjobs.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    known = asyncio.run(_seed(url))
    # Generated bodies for POST /users/session are failed logins: keep the throttle away.
    unthrottled = {
        "auth_failure_limit": 1_000_000,
        "auth_address_failure_limit": 1_000_000,
        "auth_login_failure_limit": 1_000_000,
    }
    ctx = Context.create(make_settings(url, **unthrottled, max_body_bytes=64 * 1024))
    app = server_app(context=ctx)
    app.state.known = known
    yield app
    from schemathesis.python import asgi

    shutdown = getattr(asgi, "shutdown_lifespans", None)
    if shutdown is not None:
        shutdown()


@pytest.fixture(scope="module")
def document(served_app) -> dict:
    return served_app.openapi()


# -- the document ---------------------------------------------------------------------------


async def test_openapi_is_served_without_credentials(api):
    response = await api.client.get(OPENAPI)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["openapi"].startswith("3.")
    # What is served is the document the other tests here read from the app.
    assert response.json() == api.client._transport.app.openapi()


def test_every_route_is_described(served_app, document):
    paths = document["paths"]
    for method, path in route_table(served_app):
        if path in SERVICE_ROUTES or path in NOT_SERVED:
            continue
        assert path in paths, path
        assert method.lower() in paths[path], (method, path)


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _response_problems(document: dict, method: str, path: str, responses: dict) -> list[str]:
    where = f"{method.upper()} {path}"
    problems = []
    success = [s for s in responses if s.startswith("2")]
    if not success:
        problems.append(f"{where}: no success response")
    for status in success:
        content = responses[status].get("content")
        if (method.upper(), path) in EMPTY_ANSWERS:
            if content:
                problems.append(f"{where}: answers no body, but documents {content}")
        elif content is not None and not content.get("application/json", {"schema": 1}).get(
            "schema"
        ):
            # No content at all documents an empty answer; JSON must have a shape.
            problems.append(f"{where}: {status} documents JSON without a shape")
    if "422" in responses:
        problems.append(f"{where}: documents 422, which the API never answers (400)")
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            schema = response["content"]["application/json"]["schema"]
            if _resolve(document, schema).get("title") != "ErrorModel":
                problems.append(f"{where}: {status} is not an ErrorModel")
    return problems


def _body_problems(method: str, path: str, body: dict | None) -> list[str]:
    where = f"{method.upper()} {path}"
    if body is not None:
        content = body.get("content", {})
        if "application/json" not in content or not content["application/json"].get("schema"):
            return [f"{where}: request body is not described as JSON"]
    elif method in ("post", "patch", "put"):
        if not path.endswith(("/auth-token", "/cancel", "/execute", "/pause", "/resume")):
            return [f"{where}: no request body described"]
    return []


def test_every_operation_has_request_and_response_shapes(document):
    problems = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            problems += _response_problems(document, method, path, operation["responses"])
            problems += _body_problems(method, path, operation.get("requestBody"))
    assert not problems, "\n".join(problems)


def test_core_shapes_are_described(document):
    def shape(method: str, path: str, status: str = "200") -> dict:
        content = document["paths"][path][method]["responses"][status]["content"]
        return _resolve(document, content["application/json"]["schema"])

    assert shape("get", "/node/api/ping")["properties"] == {
        "status": {"const": "ok", "title": "Status", "type": "string"}
    }
    assert shape("get", "/node/api/objects")["type"] == "array"
    assert shape("post", "/node/api/users/session")["type"] == "string"
    body = document["paths"]["/node/api/jobs"]["post"]["requestBody"]["content"]
    query = _resolve(document, body["application/json"]["schema"])
    assert {"objects", "links", "from", "to", "limit", "skip", "order"} <= set(query["properties"])
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_job_document_shape_is_described(document):
    job = _resolve(document, document["paths"]["/node/api/jobs/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"])  # fmt: skip
    assert set(job["properties"]) == JOB_KEYS
    execution = _resolve(document, job["properties"]["execution"])
    assert set(execution["properties"]) == EXECUTION_KEYS | {"history"}  # history: optional
    assert document["components"]["securitySchemes"]["basic"] == {"type": "http", "scheme": "basic"}


# -- schemathesis ----------------------------------------------------------------------------
#
# One test per documented operation (listed at collection from an app that opens nothing),
# each a hypothesis run of schemathesis cases against the seeded app. Schemathesis' own pytest
# loaders are not used: its lazy loader does not work with this pytest.


OPERATIONS = documented_operations()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 6


@pytest.fixture(scope="module")
def api_schema(served_app):
    return schemathesis.openapi.from_asgi(OPENAPI, served_app)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis(api_schema, served_app, method, path):
    operation = api_schema[path][method]
    known = served_app.state.known
    real_ids = {"job_id": known["job"], "object_id": known["object"], "link_id": known["link"]}
    calls = {"count": 0}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        calls["count"] += 1
        # Every other case names real entities, so that successes get checked too.
        if case.path_parameters and calls["count"] % 2 == 0:
            for name, value in real_ids.items():
                if name in case.path_parameters:
                    case.path_parameters[name] = value
        case.call_and_validate(headers=basic(*ADMIN), checks=CHECKS)

    check()
    assert calls["count"] > 0
