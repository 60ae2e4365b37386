"""The permission matrix: every route of the app × who calls × what it names.

Routes are read from the app's route table, so a route added without an entry here fails
``test_every_route_has_a_matrix_entry``. For each route the matrix checks:
- authentication failures (none, wrong password, blocked, expired, bad token, unknown
  session) answer 401 with SAYMON's exact nested message;
- an entity the caller may not see answers exactly like one that does not exist (404,
  ``Entity not found: Kind(<id>)``), whatever the caller's action permissions;
- a visible entity without the action permission answers 403 ``Required permissions: ...``;
- lists carry exactly what the caller may see.

The world (its rights as docs/api.md §4 states them):

                         1 ── site ── host ── multi (also under other_host)
                            │       ├─ host2
                            │       └─ hidden ── below
                            └─ other ── other_host
  links: link_ok host→host2, link_half host→other_host, link_hidden host→below
  viewer and operator: include [site], exclude [hidden]; viewer has no action permission,
  operator has them all. nobody: every permission, nothing included. admin: include [1].
  Every object and link has an operation; there is a class with an operation, and a script.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi.routing import APIRoute

from conftest import basic
from helpers import (
    INVALID_LOGIN,
    INVALID_TOKEN,
    NOT_LOGGED_IN,
    SESSION_EXPIRED,
    add_job,
    app_client,
    assert_error,
    route_table,
)
from opsjobs.api.routes import not_served
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.rights import PERMISSIONS

MALFORMED = "not-an-id"
MISSING = "0123456789abcdef01234567"

OBJECTS = {  # name: parents
    "site": ["1"],
    "host": ["site"],
    "host2": ["site"],
    "hidden": ["site"],
    "below": ["hidden"],
    "other": ["1"],
    "other_host": ["other"],
    "multi": ["other_host", "host"],
}
LINKS = {
    "link_ok": ("host", "host2"),
    "link_half": ("host", "other_host"),
    "link_hidden": ("host", "below"),
}
# Entities made fresh for each call of a destructive route, and whom they resemble.
FRESH_OBJECTS = {"new_under_site": "site", "new_under_hidden": "hidden", "new_under_other": "other"}
FRESH_LINKS = {"new_link_ok": ("host", "host2"), "new_link_half": ("host", "other_host")}

SITE_VIEW = {"site", "host", "host2", "multi", "link_ok", "new_under_site", "new_link_ok"}
ALL_ENTITIES = {"1", *OBJECTS, *LINKS, *FRESH_OBJECTS, *FRESH_LINKS}
VISIBLE = {
    "viewer": SITE_VIEW,
    "operator": SITE_VIEW,
    "nobody": set(),
    "admin": ALL_ENTITIES,
}
USERS = {  # login: (permissions, include, exclude)
    "viewer": ([], ["site"], ["hidden"]),
    "operator": (list(PERMISSIONS), ["site"], ["hidden"]),
    "nobody": (list(PERMISSIONS), [], []),
    "admin": (list(PERMISSIONS), ["1"], []),
}
PASSWORD = "secret-pw"


# An operation no runner takes (none carries its tag): executing it only records a job.
OPERATION = {
    "name": "check",
    "type": 2,
    "parameters": {"type": "fileSystem", "path": "/bin/true", "args": [], "runner": "nowhere"},
}


@dataclass
class World:
    api: object
    ids: dict[str, str] = field(default_factory=dict)  # label -> id
    jobs: dict[str, str] = field(default_factory=dict)  # entity label -> its job's id
    operations: dict[str, str] = field(default_factory=dict)  # owner id -> its operation's id
    props: dict[str, str] = field(default_factory=dict)  # owner id -> its property's id
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=itertools.count)

    async def add_operation(self, plural: str, owner_id: str) -> None:
        response = await self.api.client.post(
            f"/node/api/{plural}/{owner_id}/operations",
            json=OPERATION,
            headers=self.headers["admin"],
        )
        assert response.status_code == 200, response.text
        self.operations[owner_id] = response.json()["id"]

    async def add_property(self, plural: str, owner_id: str) -> None:
        url = f"/node/api/{plural}/{owner_id}/props"
        self.props[owner_id] = await self.post(url, {"name": "p", "value": "v"})

    async def post(self, url: str, body: dict) -> str:
        response = await self.api.client.post(url, json=body, headers=self.headers["admin"])
        assert response.status_code == 200, response.text
        return response.json()["id"]

    async def fresh(self, label: str) -> str:
        """A new thing of a fresh kind, with its operation, for destructive routes."""
        api = self.api
        n = next(self.counter)
        if label in FRESH_OBJECTS:
            created = await api.object(f"{label}-{n}", self.ids[FRESH_OBJECTS[label]])
            await self.add_operation("objects", created)
            await self.add_property("objects", created)
            return created
        if label in FRESH_LINKS:
            source, target = FRESH_LINKS[label]
            created = await api.link(self.ids[source], self.ids[target])
            await self.add_operation("links", created)
            await self.add_property("links", created)
            return created
        if label == "new_user":
            await api.user(f"fresh-{n}", PASSWORD)
            return api.store.directory.by_login[f"fresh-{n}"]
        if label == "new_class":
            created = await self.post("/node/api/classes", {"name": f"class-{n}"})
            await self.add_operation("classes", created)
            return created
        if label == "new_tag":
            return await self.post("/node/api/tags", {"name": f"tag-{n}"})
        if label == "new_schedule":
            return await self.post("/node/api/schedules", _schedule_body(self, self.ids["host"]))
        if label == "new_script":
            return await self.post("/node/api/scripts", {"name": f"s-{n}", "text": "echo hi"})
        raise AssertionError(label)


async def build_world(api) -> World:
    world = World(api)
    world.ids["1"] = "1"
    for name, parents in OBJECTS.items():
        world.ids[name] = await api.object(name, *[world.ids[p] for p in parents])
    for name, (source, target) in LINKS.items():
        world.ids[name] = await api.link(world.ids[source], world.ids[target])
    for name in ["1", *OBJECTS]:
        world.jobs[name] = await add_job(api.store, world.ids[name], EntityKind.OBJECT)
    for name in LINKS:
        world.jobs[name] = await add_job(api.store, world.ids[name], EntityKind.LINK)
    for login, (permissions, include, exclude) in USERS.items():
        world.headers[login] = await api.user(
            login,
            PASSWORD,
            permissions,
            [world.ids[i] for i in include],
            [world.ids[e] for e in exclude],
        )
    await api.user("blocked", PASSWORD, list(PERMISSIONS), ["1"], status=3)
    await api.user("expired", PASSWORD, list(PERMISSIONS), ["1"], active_to=1_000_000_000_000)
    world.ids["other_user"] = api.store.directory.by_login["viewer"]
    for name in ["1", *OBJECTS]:
        await world.add_operation("objects", world.ids[name])
        await world.add_property("objects", world.ids[name])
    for name in LINKS:
        await world.add_operation("links", world.ids[name])
        await world.add_property("links", world.ids[name])
    world.ids["tag"] = await world.post("/node/api/tags", {"name": "tagged"})
    world.ids["cls"] = await world.post("/node/api/classes", {"name": "servers"})
    await world.add_operation("classes", world.ids["cls"])
    world.ids["script"] = await world.post("/node/api/scripts", {"name": "s", "text": "echo hi"})
    # The admin's schedule of an operation of host: others read it only with manage-operations.
    world.ids["schedule"] = await world.post(
        "/node/api/schedules", _schedule_body(world, world.ids["host"])
    )
    # The admin's batch over host: others read it with manage-operations and sight of host.
    # The root's operation is not host's: the target is skipped and no job is made (the
    # lists below count every job).
    body = {"operation": world.operations["1"], "target": {"objects": [world.ids["host"]]}}
    response = await api.client.post("/node/api/batches", json=body, headers=world.headers["admin"])
    assert response.status_code == 202, response.text
    world.ids["batch"] = response.json()["id"]
    return world


def _batch_body(world: World, target_id: str) -> dict:
    """A batch of the target's own operation over the target's subtree."""
    operation = world.operations.get(target_id, world.operations["1"])
    return {"operation": operation, "target": {"subtree": target_id}, "concurrency": 1}


def _schedule_body(world: World, target_id: str) -> dict:
    operation = world.operations.get(target_id, world.operations["1"])
    return {
        "name": _unique("sched", world),
        "operation": operation,
        "target": {"object": target_id},
        "interval": 3600,
    }


# -- the routes -----------------------------------------------------------------------------

OBJECT_NEEDS = {
    "modify": ("modify-objects", "manage-objects"),
    "delete": ("delete-objects", "manage-objects"),
    "create": ("create-objects", "manage-objects"),
}
LINK_NEEDS = {
    "modify": ("modify-links", "manage-links"),
    "delete": ("delete-links", "manage-links"),
    "create": ("create-links", "manage-links"),
}
MANAGE_USERS = ("manage-users",)
MANAGE_CLASSES = ("manage-classes",)
MANAGE_SCRIPTS = ("manage-scripts",)
SCHEDULE_CHANGERS = ("execute-operations", "manage-operations")
OPERATION_CHANGE = {"description": "changed"}
TAG_LABELLERS = (
    "create-objects",
    "modify-objects",
    "manage-objects",
    "create-links",
    "modify-links",
    "manage-links",
)
TAG_MANAGERS = ("manage-objects", "manage-links")


def _property_routes(plural: str, target: str, manage: str) -> dict:
    base = f"/node/api/{plural}/{{{target}_id}}/props"
    needs = ("manage-properties", manage)
    return {
        ("GET", base): Route(target),
        ("POST", base): Route(
            target, needs, body=lambda w, t: {"name": _unique("p", w), "value": "v"}
        ),
        ("PATCH", base + "/{prop_id}"): Route(target, needs, body=lambda w, t: {"value": "c"}),
        ("DELETE", base + "/{prop_id}"): Route(target, needs, destructive=True),
    }


def _operation_routes(plural: str, target: str, manage: str) -> dict:
    base = f"/node/api/{plural}/{{{target}_id}}/operations"
    needs_all = (manage, "manage-operations")
    return {
        ("GET", base): Route(target),
        ("POST", base): Route(target, needs_all=needs_all, body=lambda w, t: OPERATION),
        ("PATCH", base + "/{operation_id}"): Route(
            target, needs_all=needs_all, body=lambda w, t: OPERATION_CHANGE
        ),
        ("DELETE", base + "/{operation_id}"): Route(target, needs_all=needs_all, destructive=True),
    }


def _state_routes(plural: str, target: str, modify: tuple[str, ...]) -> dict:
    base = f"/node/api/{plural}/{{{target}_id}}"
    return {
        ("PUT", base + "/state"): Route(target, modify, body=lambda w, t: {"state_id": 4}),
        ("GET", base + "/state-history"): Route(target),
        # Never set: SAYMON's 404 naming the triggers, not the entity (test_state_triggers).
        ("GET", base + "/state-triggers"): Route(target, modify, ok=frozenset({200, 404})),
        ("PUT", base + "/state-triggers"): Route(target, modify, body=lambda w, t: []),
        ("GET", base + "/trigger-deliveries"): Route(target),
    }


@dataclass(frozen=True)
class Route:
    """How to call one route and what it names.

    target: "job", "object", "link", "class", "tag", "user", "script" (the first path parameter;
    an ``{operation_id}`` after it is that owner's operation), "parent" (POST /objects names
    a parent), "link-end" (POST /links names its ends), "list", "self" (any authenticated
    caller), "manager" (needs its permission, names nothing).
    needs: any one of these permissions; needs_all: every one of them.
    """

    target: str
    needs: tuple[str, ...] | Callable[[str], tuple[str, ...]] = ()
    needs_all: tuple[str, ...] = ()
    body: Callable[[World, str], object] | None = None
    destructive: bool = False
    # What a permitted call answers (cancelling a finished job is a 409 Conflict).
    ok: frozenset[int] = frozenset({200})

    def needs_for(self, label: str) -> tuple[str, ...]:
        return self.needs(label) if callable(self.needs) else self.needs

    def refusal(self, label: str, permissions: list[str]) -> str | None:
        """The 403 message for a caller with these permissions, or None when allowed."""
        if self.needs_all and not set(self.needs_all) <= set(permissions):
            return "Required permissions: " + " and ".join(self.needs_all)
        needs = self.needs_for(label)
        if needs and not set(needs) & set(permissions):
            return "Required permissions: " + " or ".join(needs)
        return None


def _result_needs(label: str) -> tuple[str, ...]:
    entity = label.removeprefix("job:")
    return LINK_NEEDS["modify"] if entity in LINKS else OBJECT_NEEDS["modify"]


def _unique(prefix: str, world: World) -> str:
    return f"{prefix}-{next(world.counter)}"


MATRIX: dict[tuple[str, str], Route] = {
    ("GET", "/node/api/jobs/{job_id}"): Route("job"),
    ("POST", "/node/api/jobs"): Route("list"),
    ("GET", "/node/api/jobs/{job_id}/output"): Route("job"),
    ("GET", "/node/api/jobs/{job_id}/stream"): Route("job"),
    ("POST", "/node/api/jobs/{job_id}/cancel"): Route(
        "job", ("execute-operations",), ok=frozenset({200, 202, 409})
    ),
    ("GET", "/node/api/objects/{object_id}/jobs"): Route("object"),
    ("GET", "/node/api/links/{link_id}/jobs"): Route("link"),
    ("PATCH", "/node/api/jobs/{job_id}/results"): Route(
        "job", _result_needs, body=lambda w, t: {"checked": True}
    ),
    ("DELETE", "/node/api/users/session"): Route("self"),
    ("GET", "/node/api/users/current"): Route("self"),
    # Any caller; without manage-users it sees IDs and display names only (test_user_profile).
    ("GET", "/node/api/users"): Route("self"),
    ("POST", "/node/api/users"): Route(
        "manager", MANAGE_USERS, body=lambda w, t: {"login": _unique("u", w), "password": "pw"}
    ),
    ("GET", "/node/api/users/{user_id}"): Route("user", MANAGE_USERS),
    ("PATCH", "/node/api/users/{user_id}"): Route(
        "user", MANAGE_USERS, body=lambda w, t: {"email": "x@example.com"}
    ),
    ("DELETE", "/node/api/users/{user_id}"): Route("user", MANAGE_USERS, destructive=True),
    ("POST", "/node/api/users/{user_id}/auth-token"): Route("user", MANAGE_USERS),
    ("DELETE", "/node/api/users/{user_id}/auth-token"): Route("user", MANAGE_USERS),
    ("GET", "/node/api/groups"): Route("manager", MANAGE_USERS),
    ("GET", "/node/api/audit"): Route("manager", MANAGE_USERS),
    ("POST", "/node/api/groups"): Route(
        "manager", MANAGE_USERS, body=lambda w, t: {"name": _unique("g", w)}
    ),
    ("POST", "/node/api/objects"): Route(
        "parent", OBJECT_NEEDS["create"], body=lambda w, t: {"name": "new", "parent_id": t}
    ),
    ("GET", "/node/api/objects"): Route("list"),
    ("GET", "/node/api/objects/{object_id}"): Route("object"),
    ("GET", "/node/api/objects/{object_id}/children"): Route("object"),
    ("GET", "/node/api/objects/{object_id}/children/links"): Route("object"),
    ("PATCH", "/node/api/objects/{object_id}"): Route(
        "object", OBJECT_NEEDS["modify"], body=lambda w, t: {"weight": 2}
    ),
    ("DELETE", "/node/api/objects/{object_id}"): Route(
        "object", OBJECT_NEEDS["delete"], destructive=True
    ),
    ("POST", "/node/api/links"): Route(
        "link-end",
        LINK_NEEDS["create"],
        body=lambda w, t: {"source": w.ids["host"], "target": t},
    ),
    ("GET", "/node/api/links"): Route("list"),
    ("GET", "/node/api/links/{link_id}"): Route("link"),
    ("PATCH", "/node/api/links/{link_id}"): Route(
        "link", LINK_NEEDS["modify"], body=lambda w, t: {"name": "renamed"}
    ),
    ("DELETE", "/node/api/links/{link_id}"): Route("link", LINK_NEEDS["delete"], destructive=True),
    **_operation_routes("objects", "object", "manage-objects"),
    **_operation_routes("links", "link", "manage-links"),
    **_operation_routes("classes", "class", "manage-classes"),
    **_property_routes("objects", "object", "manage-objects"),
    **_property_routes("links", "link", "manage-links"),
    **_state_routes("objects", "object", OBJECT_NEEDS["modify"]),
    **_state_routes("links", "link", LINK_NEEDS["modify"]),
    ("GET", "/node/api/state-history"): Route("list"),
    ("GET", "/node/api/tags"): Route("self"),
    ("POST", "/node/api/tags"): Route(
        "manager", TAG_LABELLERS, body=lambda w, t: {"name": _unique("t", w)}
    ),
    ("GET", "/node/api/tags/{tag_id}"): Route("tag"),
    # Each alert is judged by its entity's kind and sight (test_alerts); the route needs one
    # of the permissions that change states.
    ("POST", "/node/api/alerts/alertmanager"): Route(
        "manager",
        ("modify-objects", "manage-objects", "modify-links", "manage-links"),
        body=lambda w, t: {"version": "4", "alerts": []},
    ),
    ("PATCH", "/node/api/tags/{tag_id}"): Route(
        "tag", TAG_MANAGERS, body=lambda w, t: {"name": _unique("t", w)}
    ),
    ("DELETE", "/node/api/tags/{tag_id}"): Route("tag", TAG_MANAGERS, destructive=True),
    ("POST", "/node/api/objects/{object_id}/operations/{operation_id}/execute"): Route(
        "object", ("execute-operations",)
    ),
    ("POST", "/node/api/links/{link_id}/operations/{operation_id}/execute"): Route(
        "link", ("execute-operations",)
    ),
    ("GET", "/node/api/objects/{object_id}/operations/{operation_id}/arguments"): Route(
        "object", ("execute-operations",)
    ),
    ("GET", "/node/api/links/{link_id}/operations/{operation_id}/arguments"): Route(
        "link", ("execute-operations",)
    ),
    ("GET", "/node/api/classes"): Route("self"),
    ("POST", "/node/api/classes"): Route(
        "manager", MANAGE_CLASSES, body=lambda w, t: {"name": _unique("c", w)}
    ),
    ("GET", "/node/api/classes/{class_id}"): Route("class"),
    ("PATCH", "/node/api/classes/{class_id}"): Route(
        "class", MANAGE_CLASSES, body=lambda w, t: {"name": "renamed"}
    ),
    ("DELETE", "/node/api/classes/{class_id}"): Route("class", MANAGE_CLASSES, destructive=True),
    ("GET", "/node/api/scripts"): Route("manager", MANAGE_SCRIPTS),
    ("POST", "/node/api/scripts"): Route(
        "manager", MANAGE_SCRIPTS, body=lambda w, t: {"name": _unique("s", w), "text": "true"}
    ),
    ("GET", "/node/api/scripts/{script_id}"): Route("script", MANAGE_SCRIPTS),
    ("PATCH", "/node/api/scripts/{script_id}"): Route(
        "script", MANAGE_SCRIPTS, body=lambda w, t: {"text": "echo changed"}
    ),
    ("DELETE", "/node/api/scripts/{script_id}"): Route("script", MANAGE_SCRIPTS, destructive=True),
    ("GET", "/node/api/schedules"): Route("self"),
    ("POST", "/node/api/schedules"): Route(
        "parent", ("execute-operations",), body=lambda w, t: _schedule_body(w, t)
    ),
    ("GET", "/node/api/schedules/{schedule_id}"): Route("schedule"),
    ("PATCH", "/node/api/schedules/{schedule_id}"): Route(
        "schedule", SCHEDULE_CHANGERS, body=lambda w, t: {"name": _unique("renamed", w)}
    ),
    ("DELETE", "/node/api/schedules/{schedule_id}"): Route(
        "schedule", SCHEDULE_CHANGERS, destructive=True
    ),
    ("POST", "/node/api/schedules/{schedule_id}/pause"): Route("schedule", SCHEDULE_CHANGERS),
    ("POST", "/node/api/schedules/{schedule_id}/resume"): Route("schedule", SCHEDULE_CHANGERS),
    ("GET", "/node/api/batches"): Route("self"),
    ("POST", "/node/api/batches"): Route(
        "parent",
        needs_all=("run-bulks", "execute-operations"),
        body=lambda w, t: _batch_body(w, t),
        ok=frozenset({202}),
    ),
    ("GET", "/node/api/batches/{batch_id}"): Route("batch"),
    ("POST", "/node/api/batches/{batch_id}/cancel"): Route("batch", ("manage-operations",)),
}

# Routes that need no credentials (session creation checks the body's; see test_api_auth).
PUBLIC = {
    ("GET", "/node/api/ping"),
    ("POST", "/node/api/users/session"),
    ("GET", "/node/api/openapi.json"),
    ("GET", "/node/api/docs"),
    ("GET", "/node/api/docs/assets/{version}/{name}"),
    # The console's page and files: static, the same for everyone (tests/api/test_console_page).
    ("GET", "/"),
    ("GET", "/console"),
    ("GET", "/console/assets/{version}/{name}"),
    # SAYMON's families opsjobs does not serve: 501 for everyone (tests/api/test_not_served).
    *(
        (method, "/node/api" + route.path)
        for route in not_served.router.routes
        for method in route.methods
    ),
    # Monitoring, outside /node/api: the health routes are open to all; /metrics is open on
    # loopback and needs manage-users elsewhere (tests/api/test_monitoring.py checks that).
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}


def url_for(world: World, path: str, target_id: str) -> str:
    """The path with its first parameter the target, and an ``{operation_id}`` after it the
    target's own operation (or, for a target that names nothing, the root's)."""
    operation_id = world.operations.get(target_id, world.operations.get("1", ""))
    path = path.replace("{operation_id}", operation_id)
    path = path.replace("{prop_id}", world.props.get(target_id, world.props.get("1", "")))
    return re.sub(r"\{[a-z_]+\}", target_id, path, count=1)


def targets(route: Route) -> list[str]:
    """Labels of what the route is asked about."""
    entities_objects = ["1", *OBJECTS]
    labels = {
        "job": [f"job:{e}" for e in [*entities_objects, *LINKS]],
        "object": list(FRESH_OBJECTS) if route.destructive else entities_objects,
        "parent": entities_objects,
        "link-end": entities_objects,
        "link": list(FRESH_LINKS) if route.destructive else list(LINKS),
        "user": ["new_user" if route.destructive else "other_user"],
        "class": ["new_class" if route.destructive else "cls"],
        "script": ["new_script" if route.destructive else "script"],
        "tag": ["new_tag" if route.destructive else "tag"],
        "schedule": ["new_schedule" if route.destructive else "schedule"],
        "batch": ["batch"],
    }
    if route.target in labels:
        return [*labels[route.target], MISSING, MALFORMED]
    return [""]


async def resolve(world: World, route: Route, label: str) -> str:
    if label in (MISSING, MALFORMED, ""):
        return label
    if label.startswith("job:"):
        return world.jobs[label.removeprefix("job:")]
    if route.destructive:
        return await world.fresh(label)
    return world.ids[label]


def entity_label(label: str) -> str:
    return label.removeprefix("job:")


KIND = {
    "job": "Job",
    "object": "Object",
    "parent": "Object",
    "link": "Link",
    "user": "User",
    "class": "Class",
    "script": "Script",
    "tag": "Tag",
    "schedule": "Schedule",
    "batch": "Batch",
}


def request_body(world: World, key: tuple[str, str], target_id: str):
    route = MATRIX[key]
    if route.target == "list" and key[0] == "POST":
        return {"objects": [world.ids[o] for o in ["1", *OBJECTS]]}
    return route.body(world, target_id) if route.body else None


async def call(world: World, key: tuple[str, str], target_id: str, headers: dict, **kwargs):
    body = request_body(world, key, target_id)
    url = url_for(world, key[1], target_id)
    return await world.api.client.request(key[0], url, json=body, headers=headers, **kwargs)


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture
async def world(database_url):
    # Dozens of deliberate authentication failures come from one client address here: raise
    # the throttle's limit so that they are answered, not throttled (throttling has its own
    # tests in test_api_auth).
    async with app_client(
        database_url,
        auth_failure_limit=100_000,
        auth_address_failure_limit=100_000,
        auth_login_failure_limit=100_000,
    ) as api:
        yield await build_world(api)


def test_every_route_has_a_matrix_entry(api):
    served = route_table(_app_of(api))
    missing = served - set(MATRIX) - PUBLIC
    stale = (set(MATRIX) | PUBLIC) - served
    assert not missing, f"routes without a permission-matrix entry: {sorted(missing)}"
    assert not stale, f"matrix entries for routes the app does not serve: {sorted(stale)}"


def _app_of(api):
    return api.client._transport.app


def test_route_table_sees_api_routes(api):
    # Guard against a route walker that silently finds nothing.
    table = route_table(_app_of(api))
    assert ("GET", "/node/api/jobs/{job_id}") in table
    assert all(isinstance(m, str) and p.startswith("/") for m, p in table)
    assert not any(isinstance(r, APIRoute) and r.path == "/" for r in _app_of(api).routes)


ROUTE_KEYS = sorted(MATRIX)
NAMING_KEYS = [k for k in ROUTE_KEYS if MATRIX[k].target != "list"]


async def test_authentication_failures(world):
    """Every protected route refuses every kind of bad credential the same way."""
    cases = [
        ({}, None, "Unauthorized", NOT_LOGGED_IN),
        (basic("admin", "wrong"), None, "InvalidCredentials", INVALID_LOGIN),
        (basic("no-such-login", PASSWORD), None, "InvalidCredentials", INVALID_LOGIN),
        (basic("blocked", PASSWORD), None, "InvalidCredentials", INVALID_LOGIN),
        (basic("expired", PASSWORD), None, "InvalidCredentials", INVALID_LOGIN),
        ({"Authorization": "Basic !!!not-base64"}, None, "InvalidCredentials", INVALID_LOGIN),
        ({}, {"auth-token": "0" * 40}, "Unauthorized", INVALID_TOKEN),
        ({}, {"api-token": "0" * 40}, "Unauthorized", INVALID_TOKEN),
        ({"Cookie": "sid=0123abcd"}, None, "Unauthorized", SESSION_EXPIRED),
    ]
    problems = []
    for key in ROUTE_KEYS:
        method, path = key
        route = MATRIX[key]
        target_id = await resolve(world, route, targets(route)[0])
        for headers, params, code, message in cases:
            response = await call(world, key, target_id, headers, params=params)
            try:
                assert_error(response, 401, code, message)
            except AssertionError as exc:
                problems.append(f"{method} {path} with {headers or params}: {exc}")
    assert not problems, "\n".join(problems)


async def test_access_and_permissions(world, backend):
    """Each route that names something (lists: see test_lists_carry_only_what_the_caller_sees)
    × each user × each thing it can name."""
    problems = []
    for key in NAMING_KEYS:
        route = MATRIX[key]
        for user in USERS:
            refusals: set[str] = set()
            for label in targets(route):
                target_id = await resolve(world, route, label)
                response = await call(world, key, target_id, world.headers[user])
                status, message, named = expectation(world, route, user, label, target_id)
                where = f"{key[0]} {key[1]} as {user} on {label} ({target_id})"
                try:
                    if status == 404:
                        body = assert_error(response, 404, "ResourceNotFound", message)
                        refusals.add(body["message"].replace(named, "<id>"))
                    elif status == 403:
                        assert_error(response, 403, "Forbidden", message)
                    else:
                        assert response.status_code in route.ok, (
                            response.status_code,
                            response.text,
                        )
                except AssertionError as exc:
                    problems.append(f"{where}: {exc}")
            # Hidden and missing read the same: one message shape, whatever was named.
            if len(refusals) > 1:
                problems.append(f"{key} as {user}: refusals differ: {sorted(refusals)}")
    assert not problems, "\n".join(problems)


def _schedule_expectation(route: Route, user: str, label: str, not_found: tuple):
    """The admin's schedule (or batch) on host: another reads it with manage-operations and
    sight of host; to anyone else it does not exist. (A "self" route: any caller.)"""
    if route.target == "self":
        return (200, None, None)
    permissions = USERS[user][0]
    readable = "manage-operations" in permissions and "host" in VISIBLE[user]
    if label in (MISSING, MALFORMED) or not readable:
        return not_found
    refusal = route.refusal(label, permissions)
    return (403, refusal, None) if refusal else (200, None, None)


def expectation(world: World, route: Route, user: str, label: str, target_id: str):
    """(status, message, the id the message names) for one call."""
    visible = VISIBLE[user]
    permissions = USERS[user][0]
    target = route.target
    names_nothing = label in (MISSING, MALFORMED)
    not_found = (404, f"Entity not found: {KIND.get(target)}({target_id})", target_id)
    if target in ("self", "schedule", "batch"):
        return _schedule_expectation(route, user, label, not_found)
    if target in ("manager", "user", "script"):
        # Not entities under the access rule: the permission comes first.
        refusal = route.refusal(label, permissions)
        if refusal:
            return (403, refusal, None)
        return not_found if names_nothing else (200, None, None)
    if target in ("class", "tag"):
        # Catalogue, visible to every caller: only existence comes before permissions.
        if names_nothing:
            return not_found
    elif target == "link-end":
        # The source (host) is checked first, then the target.
        if "host" not in visible:
            host = world.ids["host"]
            return (404, f"Entity not found: Object({host})", host)
        if label not in visible:
            return (404, f"Entity not found: Object({target_id})", target_id)
    elif entity_label(label) not in visible:
        return not_found
    refusal = route.refusal(label, permissions)
    return (403, refusal, None) if refusal else (200, None, None)


async def test_lists_carry_only_what_the_caller_sees(world, backend):
    for user in USERS:
        await _check_lists(world, user)


async def _check_lists(world: World, user: str) -> None:
    api, ids = world.api, world.ids
    headers = world.headers[user]
    visible = VISIBLE[user]
    all_objects = ["1", *OBJECTS]

    response = await api.client.get("/node/api/objects", headers=headers)
    assert response.status_code == 200
    assert {o["id"] for o in response.json()} == {ids[o] for o in all_objects if o in visible}, user

    response = await api.client.get("/node/api/objects?fields=name", headers=headers)
    assert {o["id"] for o in response.json()} == {ids[o] for o in all_objects if o in visible}

    response = await api.client.get("/node/api/links", headers=headers)
    assert response.status_code == 200
    assert {lk["id"] for lk in response.json()} == {ids[lk] for lk in LINKS if lk in visible}

    response = await api.client.post(
        "/node/api/jobs", json={"objects": [ids[o] for o in all_objects]}, headers=headers
    )
    assert response.status_code == 200
    listed = {j["id"] for j in response.json()}
    assert listed == {world.jobs[o] for o in all_objects if o in visible}

    response = await api.client.post(
        "/node/api/jobs", json={"links": [ids[lk] for lk in LINKS]}, headers=headers
    )
    assert response.status_code == 200
    assert {j["id"] for j in response.json()} == {world.jobs[lk] for lk in LINKS if lk in visible}

    # State history: every object and link recorded its first state; only those in sight.
    response = await api.client.get(
        "/node/api/state-history", params={"limit": 1000}, headers=headers
    )
    assert response.status_code == 200
    in_sight = {ids[e] for e in [*OBJECTS, *LINKS] if e in visible}
    assert {e["entityId"] for e in response.json()} == in_sight, user

    # Whatever a list carries, GET /jobs/:id answers the same caller too.
    for job_id in listed:
        response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
        assert response.status_code == 200


async def test_a_list_never_mixes_kinds(world, backend):
    """Naming a link in `objects` (or an object in `links`) brings nothing: a list is exactly
    the jobs GET /jobs/:id would show, and a link job is judged as a link."""
    api, ids = world.api, world.ids
    for user in ("operator", "nobody", "viewer"):
        headers = world.headers[user]
        response = await api.client.post(
            "/node/api/jobs",
            json={"objects": [ids["link_half"], ids["link_hidden"], ids["link_ok"]]},
            headers=headers,
        )
        assert response.status_code == 200
        assert response.json() == [], user
        response = await api.client.post(
            "/node/api/jobs",
            json={"links": [ids["other_host"], ids["hidden"], ids["host"]]},
            headers=headers,
        )
        assert response.status_code == 200
        assert response.json() == [], user
        for name, kind in (("link_half", "objects"), ("other_host", "links")):
            response = await api.client.get(f"/node/api/{kind}/{ids[name]}/jobs", headers=headers)
            assert_error(response, 404, "ResourceNotFound")


async def test_inaccessible_reads_like_missing_byte_for_byte(world):
    """Same status, same headers that matter, same body with only the ID differing."""
    api = world.api
    headers = world.headers["operator"]
    pairs = [
        ("/node/api/jobs/{}", world.jobs["hidden"], "Job"),
        ("/node/api/objects/{}", world.ids["other"], "Object"),
        ("/node/api/links/{}", world.ids["link_half"], "Link"),
        ("/node/api/objects/{}/jobs", world.ids["below"], "Object"),
        ("/node/api/links/{}/jobs", world.ids["link_hidden"], "Link"),
    ]
    for template, hidden_id, kind in pairs:
        missing_id = new_id()
        hidden = await api.client.get(template.format(hidden_id), headers=headers)
        missing = await api.client.get(template.format(missing_id), headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.headers["content-type"] == missing.headers["content-type"]
        assert hidden.json() == {
            "code": "ResourceNotFound",
            "message": f"Entity not found: {kind}({hidden_id})",
        }
        assert hidden.text.replace(hidden_id, "X") == missing.text.replace(missing_id, "X")
