"""api/fast.py: a hot route is served as a plain route and documented from one declaration;
api/kinds.py: one endpoint declared per kind."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, FastAPI, Header, Path, Request
from starlette.responses import Response
from starlette.routing import Route

from opsjobs.api.fast import FastRoutes
from opsjobs.api.kinds import for_kind
from opsjobs.api.responses import json_response


async def show_thing(request: Request) -> Response:
    """Not the route's description: the document has none."""
    return json_response({"thing": request.path_params["thing_id"]})


async def make_thing(request: Request) -> Response:
    return json_response({"body": (await request.json()), "key": request.headers.get("x-key")})


def _make_parameters(
    thing_id: Annotated[str, Path(alias="thing_id")],
    payload: Annotated[dict[str, Any] | None, Body(description="what to make")] = None,
    key: Annotated[str | None, Header(alias="x-key")] = None,
) -> None: ...


async def count_parts(kind: str, owner_id: str, request: Request) -> Response:
    return json_response({"kind": kind, "owner": owner_id, "path": request.url.path})


def _app() -> FastAPI:
    router = APIRouter(tags=["things"])
    hot = FastRoutes(router)
    hot.add("GET", "/things/{thing_id}", show_thing, summary="Show a thing", response_model=None)
    hot.add(
        "POST",
        "/things/{thing_id}/make",
        make_thing,
        parameters=_make_parameters,
        name="make_a_thing",
        response_model=None,
    )
    for kind in ("object", "link"):
        router.add_api_route(
            f"/{kind}s/{{{kind}_id}}/parts",
            for_kind(count_parts, kind),
            methods=["GET"],
            name=f"count_{kind}_parts",
            response_model=None,
        )
    app = FastAPI(openapi_url="/openapi.json")
    app.router.routes.extend(hot.routes("/api"))
    app.include_router(router, prefix="/api")
    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_hot_route_is_served_plain_ahead_of_its_declaration():
    app = _app()
    plain = [r for r in app.router.routes if getattr(r, "path", "") == "/api/things/{thing_id}"]
    assert [type(r) for r in plain] == [Route]
    # Matched ahead of every FastAPI route (included routers, declared routes).
    first_fastapi = min(i for i, r in enumerate(app.router.routes) if type(r) is not Route)
    assert app.router.routes.index(plain[0]) < first_fastapi
    assert plain[0].methods == {"GET"}  # no HEAD: as a FastAPI route, HEAD is a 405
    async with await _client(app) as client:
        response = await client.get("/api/things/t1")
        assert response.json() == {"thing": "t1"}
        assert (await client.head("/api/things/t1")).status_code == 405
        made = await client.post("/api/things/t1/make", json={"a": 1}, headers={"x-key": "k"})
        assert made.json() == {"body": {"a": 1}, "key": "k"}


async def test_the_document_declares_each_hot_route_once_with_its_parameters():
    async with await _client(_app()) as client:
        document = (await client.get("/openapi.json")).json()
    show = document["paths"]["/api/things/{thing_id}"]["get"]
    assert show["summary"] == "Show a thing"
    assert "description" not in show  # the endpoint's docstring is not the document's
    assert show["operationId"] == "show_thing_api_things__thing_id__get"
    assert [(p["name"], p["in"], p["schema"]["type"]) for p in show["parameters"]] == [
        ("thing_id", "path", "string")
    ]
    make = document["paths"]["/api/things/{thing_id}/make"]["post"]
    assert make["operationId"].startswith("make_a_thing")
    assert [(p["name"], p["in"]) for p in make["parameters"]] == [
        ("thing_id", "path"),
        ("x-key", "header"),
    ]
    assert "requestBody" in make
    assert list(document["paths"]["/api/things/{thing_id}"]) == ["get"]


async def test_a_kind_endpoint_reads_its_id_under_the_kinds_name():
    async with await _client(_app()) as client:
        document = (await client.get("/openapi.json")).json()
        for kind in ("object", "link"):
            answer = await client.get(f"/api/{kind}s/x1/parts")
            assert answer.json() == {"kind": kind, "owner": "x1", "path": f"/api/{kind}s/x1/parts"}
            operation = document["paths"][f"/api/{kind}s/{{{kind}_id}}/parts"]["get"]
            assert [p["name"] for p in operation["parameters"]] == [f"{kind}_id"]
            assert operation["operationId"].startswith(f"count_{kind}_parts")
