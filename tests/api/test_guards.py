"""The guards of api/guards.py, called directly on a real store, and the rule that routes
decide sight and permissions through them only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.execution import opened_store, queue, trivial
from opsjobs.api import guards
from opsjobs.api.errors import status_and_code
from opsjobs.domain.errors import Forbidden, NotFound
from opsjobs.domain.ids import new_id
from opsjobs.domain.jobs import DOCUMENT_COLUMNS, HistoryRow, JobRow, job_document
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.rights import Rights
from opsjobs.domain.users import Principal
from opsjobs.store import classes, entities, users
from opsjobs.store.jobs import JobFilter, stream_history

SRC = Path(__file__).resolve().parents[2] / "src" / "opsjobs"


def caller(*permissions: str) -> Principal:
    """A caller with these permissions and no entity access (permission checks only)."""
    rights = Rights(frozenset(permissions), frozenset(), frozenset())
    return Principal(new_id(), "caller", "", 1, None, rights)


# -- permissions ----------------------------------------------------------------------------


def test_require_any_passes_with_one_of_the_permissions():
    guards.require_any(caller("manage-objects"), "modify-objects", "manage-objects")
    guards.require_any(caller("modify-objects"), "modify-objects", "manage-objects")


def test_require_any_refuses_naming_the_alternatives():
    with pytest.raises(Forbidden) as refused:
        guards.require_any(caller("modify-links"), "modify-objects", "manage-objects")
    assert status_and_code(refused.value) == (403, "Forbidden")
    assert refused.value.message == "Required permissions: modify-objects or manage-objects"


def test_require_all_needs_every_permission():
    guards.require_all(caller("manage-classes", "manage-operations"), "manage-classes")
    guards.require_all(
        caller("manage-classes", "manage-operations"), "manage-classes", "manage-operations"
    )
    for held in [(), ("manage-classes",), ("manage-operations",)]:
        with pytest.raises(Forbidden) as refused:
            guards.require_all(caller(*held), "manage-classes", "manage-operations")
        assert refused.value.message == (
            "Required permissions: manage-classes and manage-operations"
        )


def test_one_permission_reads_the_same_either_way():
    for require in (guards.require_any, guards.require_all):
        with pytest.raises(Forbidden) as refused:
            require(caller("manage-users"), "manage-scripts")
        assert refused.value.message == "Required permissions: manage-scripts"


# -- entities and jobs, on a real store -----------------------------------------------------


@pytest.fixture
async def world(database_url, backend):
    """Two sibling subtrees A and B under the root, a child of A, links within A and across,
    and a user who sees subtree A only (minus one excluded child)."""
    async with opened_store(database_url) as store:

        async def obj(name: str, parent: str = "1") -> str:
            return (await entities.create_object(store, name=name, parent_ids=[parent]))["id"]

        a, b = await obj("A"), await obj("B")
        child, hidden = await obj("A child", a), await obj("A hidden", a)
        inner = (await entities.create_link(store, source=a, target=child))["id"]
        across = (await entities.create_link(store, source=a, target=b))["id"]
        await users.create_user(
            store, login="viewer", password_hash="-", include=[a], exclude=[hidden]
        )
        await users.create_user(
            store, login="manager", password_hash="-", permissions=["manage-objects"]
        )
        yield {
            "store": store,
            "viewer": store.directory.principal_by_login("viewer"),
            "manager": store.directory.principal_by_login("manager"),
            **dict(a=a, b=b, child=child, hidden=hidden, inner=inner, across=across),
        }


async def refused_as_missing(call, what: str) -> None:
    with pytest.raises(NotFound) as refused:
        await call
    assert status_and_code(refused.value) == (404, "ResourceNotFound")
    assert refused.value.message == f"Entity not found: {what}"


async def test_visible_entity_follows_the_access_rule(world):
    store, viewer = world["store"], world["viewer"]
    for kind, seen in [("object", "a"), ("object", "child"), ("link", "inner")]:
        await guards.visible_entity(store, viewer, kind, world[seen])
    # Out of sight, excluded, or not there at all: one and the same answer.
    missing = new_id()
    for kind, name, entity_id in [
        ("object", "Object", world["b"]),
        ("object", "Object", world["hidden"]),
        ("object", "Object", missing),
        ("object", "Object", world["inner"]),  # a link's ID asked as an object
        ("link", "Link", world["across"]),  # one end out of sight
        ("link", "Link", missing),
        ("link", "Link", world["a"]),
    ]:
        call = guards.visible_entity(store, viewer, kind, entity_id)
        await refused_as_missing(call, f"{name}({entity_id})")


async def test_a_class_is_catalogue_checked_for_existence_only(world):
    store = world["store"]
    class_id = (await classes.create_class(store, name="Server"))["id"]
    await guards.visible_entity(store, caller(), "class", class_id)  # no rights at all
    missing = new_id()
    await refused_as_missing(
        guards.visible_entity(store, world["manager"], "class", missing), f"Class({missing})"
    )


async def test_visible_entity_ids_lists_what_the_caller_sees(world):
    store, viewer = world["store"], world["viewer"]
    assert set(guards.visible_entity_ids(store, viewer, "object")) == {world["a"], world["child"]}
    assert guards.visible_entity_ids(store, viewer, "link") == [world["inner"]]
    assert guards.visible_entity_ids(store, caller(), "object") == []


async def test_a_job_is_as_visible_as_its_owner(world):
    store, viewer = world["store"], world["viewer"]
    seen_id = await queue(store, trivial(), owner_id=world["child"])
    unseen_id = await queue(store, trivial(), owner_id=world["b"])
    row = await guards.read_visible_job(store, viewer, seen_id)
    assert isinstance(row, JobRow)
    assert (row.id, row.owner_id, row.owner_type, row.status) == (
        seen_id,
        world["child"],
        EntityKind.OBJECT,
        "queued",
    )
    assert guards.visible_job(store, viewer, seen_id, row) is row
    assert guards.may_see_job(store, viewer, row)
    assert not guards.may_see_job(store, viewer, await store.job_row(unseen_id))
    # Someone else's job reads exactly like one that does not exist.
    for job_id in [unseen_id, new_id(), "not-an-id", "../" + seen_id]:
        await refused_as_missing(guards.read_visible_job(store, viewer, job_id), f"Job({job_id})")
    with pytest.raises(NotFound):
        guards.visible_job(store, viewer, unseen_id, await store.job_row(unseen_id))
    with pytest.raises(NotFound):
        guards.visible_job(store, viewer, seen_id, None)


async def test_a_deleted_owners_jobs_are_for_its_managers(world):
    store = world["store"]
    gone = new_id()  # an owner no longer in the directory, whose history outlives it
    object_job = await queue(store, trivial(), owner_id=gone)
    link_job = await queue(store, trivial(), owner_id=gone, owner_type=EntityKind.LINK)
    assert (await guards.read_visible_job(store, world["manager"], object_job)).id == object_job
    for principal, job_id in [
        (world["viewer"], object_job),
        (world["manager"], link_job),  # manage-objects is not manage-links
        (caller("manage-objects", "modify-links"), link_job),
    ]:
        await refused_as_missing(
            guards.read_visible_job(store, principal, job_id), f"Job({job_id})"
        )
    assert (await guards.read_visible_job(store, caller("manage-links"), link_job)).id == link_job


async def test_visible_owners_keeps_the_visible_ones_once_in_order(world):
    store, viewer = world["store"], world["viewer"]
    asked = [world["child"], world["b"], world["a"], world["child"], new_id(), world["hidden"]]
    assert guards.visible_owners(store, viewer, asked, EntityKind.OBJECT) == [
        world["child"],
        world["a"],
    ]
    assert guards.visible_owners(store, viewer, [world["inner"]], EntityKind.OBJECT) == []
    assert guards.visible_owners(store, viewer, [world["inner"]], EntityKind.LINK) == [
        world["inner"]
    ]


async def test_visible_history(world):
    store, viewer, manager = world["store"], world["viewer"], world["manager"]
    await guards.visible_history(store, viewer, world["a"], EntityKind.OBJECT)
    await guards.visible_history(store, viewer, world["inner"], EntityKind.LINK)
    await refused_as_missing(
        guards.visible_history(store, viewer, world["b"], EntityKind.OBJECT),
        f"Object({world['b']})",
    )
    await refused_as_missing(
        guards.visible_history(store, viewer, world["across"], EntityKind.LINK),
        f"Link({world['across']})",
    )
    # An ID that names nothing is a 404 for everyone, managers too, until it has history.
    gone = new_id()
    await refused_as_missing(
        guards.visible_history(store, manager, gone, EntityKind.OBJECT), f"Object({gone})"
    )
    await queue(store, trivial(), owner_id=gone)
    await guards.visible_history(store, manager, gone, EntityKind.OBJECT)
    await refused_as_missing(
        guards.visible_history(store, viewer, gone, EntityKind.OBJECT), f"Object({gone})"
    )


# -- typed rows -----------------------------------------------------------------------------


def test_the_row_types_are_the_document_columns():
    assert DOCUMENT_COLUMNS == JobRow._fields
    assert HistoryRow._fields == (*JobRow._fields, "operation_name")
    row = JobRow._make(range(len(DOCUMENT_COLUMNS)))
    document = job_document(row)
    assert document["owner_id"] == row.owner_id and document["owner_type"] == row.owner_type
    assert document["execution"]["status"] == row.status


async def test_the_store_reads_typed_rows(world):
    store = world["store"]
    job_id = await queue(store, trivial(), owner_id=world["a"], operation_name="check")
    row = await store.job_row(job_id)
    revision, same = await store.job_row_at(job_id)
    assert isinstance(row, JobRow) and same == row and isinstance(revision, int)
    assert (row.id, row.owner_id) == (job_id, world["a"])
    assert await store.job_row(new_id()) is None
    assert (await store.job_row_at(new_id()))[1] is None
    batches = [b async for b in stream_history(store, [world["a"]], EntityKind.OBJECT, JobFilter())]
    (history,) = [r for batch in batches for r in batch]
    assert isinstance(history, HistoryRow)
    for column in ("id", "owner_id", "owner_type", "status", "description", "results"):
        assert getattr(history, column) == getattr(row, column)
    assert history.operation_name == "check"


# -- routes decide through the guards only --------------------------------------------------

# What a route module must not do itself: check permissions, ask the directory who sees
# what, or read a job row by position.
_OWN_CHECKS = {"has_any", "can_see_object", "can_see_link", "can_see_entity", "can_see_owner"}
_OWN_LISTS = {"visible_object_ids", "visible_link_ids"}
_HELPER_NAMES = ("require", "permitted", "visible", "in_sight", "can_see")


def _decisions(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.lstrip("_").startswith(_HELPER_NAMES):
                found.append(f"{where} defines {node.name}()")
        elif isinstance(node, ast.Attribute):
            if node.attr in _OWN_CHECKS | _OWN_LISTS:
                found.append(f"{where} calls .{node.attr}")
            elif node.attr == "permissions" and (
                isinstance(node.value, ast.Attribute) and node.value.attr == "rights"
            ):
                found.append(f"{where} reads rights.permissions")
            elif node.attr == "needs" and getattr(node.value, "id", None) == "Forbidden":
                found.append(f"{where} raises Forbidden.needs")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Forbidden":
            found.append(f"{where} raises Forbidden")
        elif (
            isinstance(node, ast.Subscript)
            and getattr(node.value, "id", None) == "row"
            and isinstance(node.slice, ast.Constant)
        ):
            found.append(f"{where} reads row[{node.slice.value!r}]")
    return found


def test_no_route_decides_sight_or_permissions_itself():
    # Every module of the API but the guards, and the CLI that reads job rows.
    modules = [p for p in (SRC / "api").rglob("*.py") if p.name != "guards.py"]
    modules.append(SRC / "cli" / "execution.py")
    assert len(modules) > 10
    found = [
        problem
        for path in modules
        for problem in _decisions(path.read_text(), str(path.relative_to(SRC)))
    ]
    assert found == []


def test_the_check_finds_what_it_forbids():
    # The rule above is only as good as its detector: each forbidden shape is caught.
    source = """
def _require(principal, *p):
    if not principal.rights.has_any(*p):
        raise Forbidden.needs(*p)
def _require_manager(principal): ...
def permitted(ctx, principal): ...
async def in_sight(principal): ...
def visible_object(principal, object_id):
    if not directory.can_see_object(principal, object_id): ...
def f(principal, row, directory):
    if "x" not in principal.rights.permissions:
        raise Forbidden("no")
    directory.visible_link_ids(principal)
    return row[9], directory.can_see_owner(principal, row[3], row[4])
"""
    problems = _decisions(source, "sample.py")
    for expected in [
        "defines _require()",
        "defines _require_manager()",
        "defines permitted()",
        "defines in_sight()",
        "defines visible_object()",
        "calls .has_any",
        "raises Forbidden.needs",
        "calls .can_see_object",
        "reads rights.permissions",
        "raises Forbidden",
        "calls .visible_link_ids",
        "reads row[9]",
        "reads row[3]",
        "calls .can_see_owner",
    ]:
        assert any(p.endswith(expected) for p in problems), (expected, problems)
    assert _decisions("def script_manager(request): return row.status", "ok.py") == []
