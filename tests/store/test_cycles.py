"""The object tree stays a tree: a parent change or creation that would
make an object its own ancestor is refused, naming the loop, however it is sent and however
many servers send it at once; and a loop left by older data is seen and repaired by whoever
sees the whole tree, instead of hiding its objects and their jobs from everyone."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text

from helpers import add_job, assert_error
from helpers.execution import opened_store
from opsjobs.domain.access import detached, object_allowed, with_root_for
from opsjobs.domain.errors import BadRequest
from opsjobs.domain.rights import PERMISSIONS, Rights
from opsjobs.store import entities
from opsjobs.store.schema import object_parents, revisions

pytestmark = pytest.mark.timeout(60)


async def patch_parents(api, headers, object_id: str, parents):
    return await api.client.patch(
        f"/node/api/objects/{object_id}", json={"parent_id": parents}, headers=headers
    )


async def chain(api) -> tuple[str, str, str]:
    """1 ── c ── c1 ── c2 (each the parent of the next)."""
    c = await api.object("c")
    c1 = await api.object("c1", c)
    c2 = await api.object("c2", c1)
    return c, c1, c2


async def stored_parents(store) -> dict[str, list[str]]:
    async with store.read() as conn:
        rows = await conn.execute(select(object_parents.c.object_id, object_parents.c.parent_id))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.object_id, []).append(row.parent_id)
        return found


def assert_no_loop(parents: dict[str, list[str]]) -> None:
    assert not detached(parents | {"1": []}), parents


# -- refused through the API -----------------------------------------------------------------


async def test_the_issues_loop_is_refused_for_a_user_with_modify_objects_on_it(api, backend):
    await api.admin()
    c, c1, c2 = await chain(api)
    # Only modify-objects, and sight of c and what lies below it: the issue's user.
    user = await api.user("mod", permissions=["modify-objects"], include=[c])
    response = await patch_parents(api, user, c, c2)
    assert_error(response, 400, "BadRequest", contains=(f"{c} → {c2} → {c1} → {c}",))
    # Nothing changed, in the database or in the directory.
    assert (await stored_parents(api.store))[c] == ["1"]
    assert api.store.directory.parents[c] == ("1",)
    assert (await api.client.get(f"/node/api/objects/{c}", headers=user)).status_code == 200


async def test_direct_and_indirect_loops_and_multi_parent_loops_are_refused(api, backend):
    admin = await api.admin()
    c, c1, c2 = await chain(api)
    other = await api.object("other")
    cases = [
        (c, c),  # itself
        (c, c1),  # its child
        (c, c2),  # its grandchild
        (c1, c2),  # its child, one level down
        (c, ["1", c2]),  # one parent of two makes the loop
        (c, [other, c1]),
    ]
    for object_id, parents in cases:
        response = await patch_parents(api, admin, object_id, parents)
        assert_error(response, 400, "BadRequest", contains=("parent_id",))
    # A multi-parent object below c: c cannot go under it either.
    multi = await api.object("multi", other, c2)
    response = await patch_parents(api, admin, c, multi)
    assert_error(response, 400, "BadRequest", contains=(f"{c} → {multi} → {c2} → {c1} → {c}",))
    assert_no_loop(await stored_parents(api.store))
    # Moves that close no loop still work: sideways, up, and under several parents.
    assert (await patch_parents(api, admin, c2, [other, c])).status_code == 200
    assert (await patch_parents(api, admin, c1, other)).status_code == 200
    assert (await patch_parents(api, admin, c, c2)).status_code == 400  # c2 still below c
    assert (await patch_parents(api, admin, c2, other)).status_code == 200
    assert (await patch_parents(api, admin, c, c2)).status_code == 200  # now it is not
    assert_no_loop(await stored_parents(api.store))


async def test_creating_an_object_that_old_rows_name_as_a_parent_cannot_close_a_loop(api, backend):
    """A new object has nothing below it, unless rows left behind name its ID as a parent:
    creating it with an explicit ID under its own would-be child is refused."""
    await api.admin()
    orphan = await api.object("orphan")
    async with api.store.write() as conn:  # orphan's parent is an ID that does not exist yet
        await conn.execute(delete(object_parents).where(object_parents.c.object_id == orphan))
        await conn.execute(insert(object_parents).values(object_id=orphan, parent_id="f" * 24))
    await api.store.reload_directory()
    with pytest.raises(BadRequest, match="loop"):
        await entities.create_object(
            api.store, name="ghost", parent_ids=[orphan], object_id="f" * 24
        )


async def test_concurrent_changes_from_two_processes_cannot_together_make_a_loop(
    backend, database_url
):
    """Each change alone is harmless (a under b, b under a); sent at once through two stores
    (two servers), both checks would pass on the same old tree. A third connection holds the
    directory's write turn while both are sent, so both are surely in flight together."""
    async with opened_store(database_url) as one, opened_store(database_url) as two:
        for _round in range(5):
            a = (await entities.create_object(one, name="a", parent_ids=["1"]))["id"]
            b = (await entities.create_object(one, name="b", parent_ids=["1"]))["id"]
            await two.reload_directory()
            blocker = one.db.writer.connect() if backend == "postgresql" else None
            if blocker is not None:
                conn = await blocker.__aenter__()
                transaction = await conn.begin()
                await conn.execute(revisions.update().values(value=revisions.c.value + 1))
            moves = [
                asyncio.create_task(entities.update_object(one, a, {"parent_id": [b]})),
                asyncio.create_task(entities.update_object(two, b, {"parent_id": [a]})),
            ]
            await asyncio.sleep(0.3)  # both reach the lock (on PostgreSQL) and wait there
            if blocker is not None:
                await transaction.commit()
                await blocker.__aexit__(None, None, None)
            results = await asyncio.gather(*moves, return_exceptions=True)
            refused = [r for r in results if isinstance(r, BadRequest)]
            assert len(refused) == 1, results
            assert "loop" in str(refused[0])
            assert_no_loop(await stored_parents(one))


# -- a loop in old data: seen and repaired ---------------------------------------------------


async def make_old_loop(store) -> tuple[str, str, str, str]:
    """The issue's state, written straight into the tables as older versions could leave it:
    c → c2 → c1 → c, and d below c."""
    c = (await entities.create_object(store, name="c", parent_ids=["1"]))["id"]
    c1 = (await entities.create_object(store, name="c1", parent_ids=[c]))["id"]
    c2 = (await entities.create_object(store, name="c2", parent_ids=[c1]))["id"]
    d = (await entities.create_object(store, name="d", parent_ids=[c]))["id"]
    async with store.write() as conn:
        await conn.execute(delete(object_parents).where(object_parents.c.object_id == c))
        await conn.execute(insert(object_parents).values(object_id=c, parent_id=c2))
        await conn.execute(text("UPDATE revisions SET value = value + 1"))
    await store.reload_directory()
    return c, c1, c2, d


async def test_an_administrator_sees_and_repairs_a_loop_left_by_old_data(api, backend):
    admin = await api.admin()
    c, c1, c2, d = await make_old_loop(api.store)
    job = await add_job(api.store, d)
    stranger = await api.user("stranger", permissions=list(PERMISSIONS), include=["zzz"])
    # Whoever sees the whole tree sees the loop, what lies below it and their jobs.
    for object_id in (c, c1, c2, d):
        response = await api.client.get(f"/node/api/objects/{object_id}", headers=admin)
        assert response.status_code == 200, response.text
        refused = await api.client.get(f"/node/api/objects/{object_id}", headers=stranger)
        assert refused.status_code == 404
    assert (await api.client.get(f"/node/api/jobs/{job}", headers=admin)).status_code == 200
    assert (await api.client.get(f"/node/api/jobs/{job}", headers=stranger)).status_code == 404
    listed = await api.client.get("/node/api/objects?fields=name", headers=admin)
    assert {c, c1, c2, d} <= {o["id"] for o in listed.json()}
    # Closing the loop tighter is still refused; moving c back under the root repairs it.
    assert (await patch_parents(api, admin, c2, d)).status_code == 400
    response = await patch_parents(api, admin, c, "1")
    assert response.status_code == 200, response.text
    assert_no_loop(await stored_parents(api.store))
    assert not api.store.directory.detached
    # Repaired: ordinary inheritance again.
    below_c = await api.user("below-c", include=[c])
    for object_id in (c, c1, c2, d):
        response = await api.client.get(f"/node/api/objects/{object_id}", headers=below_c)
        assert response.status_code == 200


async def test_a_loop_in_old_data_does_not_hang_access_checks(api, backend):
    await api.admin()
    c, c1, c2, d = await make_old_loop(api.store)
    user = await api.user("inside", include=[c1], exclude=[c])
    # c1 included; c excluded; c2 below c1; d only below the excluded c.
    assert (await api.client.get(f"/node/api/objects/{c1}", headers=user)).status_code == 200
    assert (await api.client.get(f"/node/api/objects/{c2}", headers=user)).status_code == 200
    assert (await api.client.get(f"/node/api/objects/{c}", headers=user)).status_code == 404
    assert (await api.client.get(f"/node/api/objects/{d}", headers=user)).status_code == 404


# -- the rule on its own ---------------------------------------------------------------------


def test_detached_finds_loops_and_dangling_parents_only():
    parents = {
        "1": [],
        "a": ["1"],
        "b": ["a", "x"],  # one good parent is enough
        "x": ["y"],
        "y": ["x"],  # a loop
        "z": ["x"],  # below the loop
        "gone": ["missing"],  # its parent no longer exists
        "self": ["self"],
    }
    assert detached(parents) == {"x", "y", "z", "gone", "self"}


def rights(include=(), exclude=()) -> Rights:
    return Rights(frozenset(), frozenset(include), frozenset(exclude))


NODES = ["1", "a", "b", "c", "d", "e"]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_with_the_root_added_every_object_is_seen_by_whoever_sees_the_root(data):
    nodes = NODES[: data.draw(st.integers(2, len(NODES)))]
    parents = {"1": []} | {
        n: data.draw(st.lists(st.sampled_from(nodes), max_size=3, unique=True)) for n in nodes[1:]
    }
    cut_off = detached(parents)
    effective = with_root_for(cut_off, lambda o: parents.get(o, ()))
    for node in nodes:
        assert object_allowed(node, rights(include=["1"]), effective)
        if node not in cut_off:  # attached objects keep exactly their own parents
            assert tuple(effective(node)) == tuple(parents[node])
    # Nothing else changes for someone who does not see the root.
    for node in nodes:
        somebody = rights(include=["a"])
        plain = object_allowed(node, somebody, lambda o: parents.get(o, ()))
        assert object_allowed(node, somebody, effective) == plain
