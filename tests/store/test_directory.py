"""The directory (store/directory.py) on its own: the in-memory view that decides who sees
which object, link and job, read from a real database (SQLite and PostgreSQL) and kept up to
date in place. Rights are inherited down every parent, stopped by an exclusion, and a user's
are the union of its own and its groups'; a link needs both ends unless named itself."""

from __future__ import annotations

from sqlalchemy import delete, insert, text, update

from helpers.execution import opened_store
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store import entities, users
from opsjobs.store.core import Store
from opsjobs.store.directory import Directory, read_sqlite
from opsjobs.store.schema import object_parents
from opsjobs.store.schema import users as users_table


async def user(store: Store, login: str, **rights) -> str:
    return (await users.create_user(store, login=login, password_hash="-", **rights))["id"]


async def obj(store: Store, name: str, *parents: str) -> str:
    return (await entities.create_object(store, name=name, parent_ids=list(parents) or ["1"]))["id"]


async def fresh(store: Store) -> Directory:
    """A directory read from the database now, as another process would hold it."""
    directory = Directory()
    async with store.read() as conn:
        await directory.load(conn)
    return directory


def sees(directory: Directory, user_id: str, *object_ids: str) -> list[bool]:
    principal = directory.principals[user_id]
    return [directory.can_see_object(principal, o) for o in object_ids]


async def tree(store: Store) -> dict[str, str]:
    """1 ─ site ─ rack ─ server;  1 ─ dc2 ─ twin;  rack and site ─ shared;  rack ─ deep."""
    t = {"site": await obj(store, "site")}
    t["rack"] = await obj(store, "rack", t["site"])
    t["server"] = await obj(store, "server", t["rack"])
    t["dc2"] = await obj(store, "dc2")
    t["twin"] = await obj(store, "twin", t["dc2"])
    t["shared"] = await obj(store, "shared", t["rack"], t["site"])
    t["deep"] = await obj(store, "deep", t["rack"], t["dc2"])
    return t


async def test_rights_go_down_every_parent_and_an_exclusion_cuts_its_branch(database_url, backend):
    async with opened_store(database_url) as store:
        t = await tree(store)
        u = await user(store, "u", include=[t["site"]], exclude=[t["rack"]])
        for directory in (store.directory, await fresh(store)):
            assert sees(directory, u, t["site"], t["rack"], t["server"]) == [True, False, False]
            # Two parents: one excluded, one included, is enough.
            assert sees(directory, u, t["shared"]) == [True]
            # Excluded on one branch, never included on the other.
            assert sees(directory, u, t["deep"], t["dc2"], t["twin"], "1") == [False] * 4
            # IDs of nothing, of a link, or hostile text: never visible.
            assert sees(directory, u, new_id(), "", "1' OR '1'='1", "x" * 10_000) == [False] * 4


async def test_including_the_root_sees_everything_not_excluded(database_url, backend):
    async with opened_store(database_url) as store:
        t = await tree(store)
        root = await user(store, "root-viewer", include=["1"], exclude=[t["dc2"]])
        nobody = await user(store, "nobody")
        directory = await fresh(store)
        assert sees(directory, root, "1", *(t[k] for k in ("site", "rack", "server", "deep")))
        assert sees(directory, root, t["dc2"], t["twin"]) == [False, False]
        assert directory.visible_object_ids(directory.principals[nobody]) == []
        visible = set(directory.visible_object_ids(directory.principals[root]))
        assert visible == {"1", *t.values()} - {t["dc2"], t["twin"]}


async def test_a_users_rights_are_its_own_and_its_groups_together(database_url, backend):
    async with opened_store(database_url) as store:
        t = await tree(store)
        sees_site = await users.create_group(
            store, name="site", permissions=["manage-objects"], include=[t["site"]]
        )
        not_rack = await users.create_group(store, name="not-rack", exclude=[t["rack"]])
        u = await user(
            store,
            "member",
            permissions=["execute-operations"],
            include=[t["twin"]],
            group_ids=[sees_site["id"], not_rack["id"]],
        )
        directory = await fresh(store)
        assert sees(directory, u, t["site"], t["twin"], t["rack"], t["server"]) == [
            True,
            True,
            False,
            False,
        ]
        rights = directory.principals[u].rights
        assert rights.permissions == {"manage-objects", "execute-operations"}
        assert rights.has_any("manage-objects") and not rights.has_any("manage-users")


async def test_a_group_that_no_longer_exists_grants_nothing(database_url, backend):
    async with opened_store(database_url) as store:
        t = await tree(store)
        u = await user(store, "orphaned")
        async with store.write() as conn:  # as old data might hold it
            await conn.execute(
                update(users_table)
                .where(users_table.c.id == u)
                .values(group_ids=f'["{new_id()}", 7, null, "1"]')
            )
        directory = await fresh(store)
        assert sees(directory, u, "1", t["site"]) == [False, False]
        assert directory.principals[u].rights.permissions == frozenset()


async def test_a_link_needs_both_ends_unless_it_is_named_itself(database_url, backend):
    async with opened_store(database_url) as store:
        t = await tree(store)
        inside = (await entities.create_link(store, source=t["site"], target=t["server"]))["id"]
        across = (await entities.create_link(store, source=t["site"], target=t["twin"]))["id"]
        named = (await entities.create_link(store, source=t["twin"], target=t["dc2"]))["id"]
        u = await user(store, "l", include=[t["site"], named], exclude=[])
        cut = await user(store, "c", include=[t["site"]], exclude=[inside])
        directory = await fresh(store)
        pu, pc = directory.principals[u], directory.principals[cut]
        assert [directory.can_see_link(pu, x) for x in (inside, across, named)] == [
            True,
            False,
            True,
        ]
        assert directory.can_see_link(pc, inside) is False  # excluded though both ends are seen
        assert directory.can_see_link(pu, t["site"]) is False  # an object is not a link
        assert set(directory.visible_link_ids(pu)) == {inside, named}
        assert directory.can_see_entity(pu, "object", t["site"])
        assert not directory.can_see_entity(pu, "object", inside)
        assert directory.can_see_entity(pu, "link", inside)


async def test_jobs_are_as_visible_as_their_owner_and_a_gone_owners_to_managers(
    database_url, backend
):
    async with opened_store(database_url) as store:
        t = await tree(store)
        link = (await entities.create_link(store, source=t["site"], target=t["twin"]))["id"]
        viewer = await user(store, "viewer", include=[t["site"]])
        objects_manager = await user(store, "om", permissions=["manage-objects"])
        links_manager = await user(store, "lm", permissions=["manage-links"])
        directory = store.directory
        p = {
            k: directory.principals[v]
            for k, v in (("viewer", viewer), ("om", objects_manager), ("lm", links_manager))
        }
        assert directory.can_see_owner(p["viewer"], t["server"], EntityKind.OBJECT)
        assert not directory.can_see_owner(p["om"], t["server"], EntityKind.OBJECT)  # exists: rule
        assert not directory.can_see_owner(p["viewer"], link, EntityKind.LINK)  # twin unseen
        await entities.delete_link(store, link)
        await entities.delete_object(store, t["server"])
        gone_object, gone_link = t["server"], link
        for directory in (store.directory, await fresh(store)):
            q = {k: directory.principals[v.id] for k, v in p.items()}
            assert not directory.can_see_owner(q["viewer"], gone_object, EntityKind.OBJECT)
            assert directory.can_see_owner(q["om"], gone_object, EntityKind.OBJECT)
            assert not directory.can_see_owner(q["lm"], gone_object, EntityKind.OBJECT)
            assert directory.can_see_owner(q["lm"], gone_link, EntityKind.LINK)
            assert not directory.can_see_owner(q["om"], gone_link, EntityKind.LINK)
            # An ID that never existed: the same answers as one deleted.
            assert directory.can_see_owner(q["om"], new_id(), EntityKind.OBJECT)
            assert not directory.can_see_owner(q["viewer"], new_id(), EntityKind.LINK)


async def test_changes_made_in_place_answer_like_a_fresh_read(database_url, backend):
    async with opened_store(database_url) as store:
        t = await tree(store)
        u = await user(store, "mover", include=[t["site"]])
        principal = store.directory.principals[u]
        assert store.directory.can_see_object(principal, t["server"])  # remembered now
        # Move the rack under dc2: the remembered answer must not survive the move.
        await entities.update_object(store, t["rack"], {"parent_id": [t["dc2"]]})
        await entities.delete_object(store, t["deep"])
        added = await obj(store, "added", t["server"])
        live, read = store.directory, await fresh(store)
        assert live.revision == read.revision
        assert live.parents == read.parents and live.link_ends == read.link_ends
        everything = ["1", added, *t.values()]
        assert sees(live, u, *everything) == sees(read, u, *everything)
        assert sees(live, u, t["rack"], t["server"], added, t["shared"]) == [
            False,
            False,
            False,
            True,
        ]


async def test_a_loop_left_by_old_data_is_seen_by_whoever_sees_the_root(database_url, backend):
    async with opened_store(database_url) as store:
        a = await obj(store, "a")
        b = await obj(store, "b", a)
        async with store.write() as conn:  # a <-> b, cut off from the root
            await conn.execute(delete(object_parents).where(object_parents.c.object_id == a))
            await conn.execute(insert(object_parents).values(object_id=a, parent_id=b))
            await conn.execute(text("UPDATE revisions SET value = value + 1"))
        root = await user(store, "root", include=["1"])
        inside = await user(store, "inside", include=[b])
        other = await user(store, "other", include=[await obj(store, "elsewhere")])
        directory = await fresh(store)
        assert directory.detached == {a, b}
        assert sees(directory, root, a, b) == [True, True]
        assert sees(directory, inside, a, b) == [True, True]
        assert sees(directory, other, a, b) == [False, False]


async def test_users_are_found_by_login_and_token_and_unchanged_ones_keep_their_identity(
    database_url, backend
):
    async with opened_store(database_url) as store:
        kept = await user(store, "kept")
        changed = await user(store, "changed")
        await users.set_token(store, changed, "token-0123456789")
        directory = store.directory
        before = directory.principals[kept]
        assert directory.principal_by_login("kept") is before
        assert directory.principal_by_login("nobody") is None
        assert directory.principal_by_token_hash(users.token_hash("token-0123456789")).id == changed
        assert directory.principal_by_token_hash(users.token_hash("guess")) is None
        assert directory.principal_by_token_hash("") is None
        await users.update_user(store, changed, {"status": 3})
        # A reload swaps in a new view; the user that did not change is the same object
        # (the credential cache recognises a checked password by it).
        assert directory.principals[kept] is before
        assert directory.principals[changed].status == 3


def test_an_own_change_that_skips_a_revision_asks_for_a_reload():
    directory = Directory()
    child = new_id()
    assert directory.put_object(1, child, ("1",)) is True
    assert directory.revision == 1 and directory.object_exists(child)
    # Revision 2 was someone else's: the view cannot be trusted until it reloads.
    assert directory.put_link(3, "l" * 24, child, "1") is False
    assert directory.revision == 1 and directory.link_exists("l" * 24)
    assert directory.drop_object(2, child) is True
    assert not directory.object_exists(child)


async def test_the_one_snapshot_read_of_a_sqlite_file_builds_the_same_view(database_url):
    # database_url without ``backend`` is a SQLite file.
    async with opened_store(database_url) as store:
        t = await tree(store)
        await entities.create_link(store, source=t["site"], target=t["twin"])
        group = await users.create_group(store, name="g", include=[t["dc2"]])
        u = await user(store, "s", include=[t["site"]], group_ids=[group["id"]])
        await users.set_token(store, u, "token-abcdef0123")
        read = await fresh(store)
    snapshot = Directory()

    async def from_the_file() -> tuple:
        return read_sqlite(database_url.removeprefix("sqlite:///"))

    async def nothing() -> None:
        return None

    await snapshot.load_with(from_the_file, nothing)
    assert snapshot.revision == read.revision
    assert snapshot.parents == read.parents and snapshot.link_ends == read.link_ends
    assert snapshot.principals == read.principals
    assert snapshot.by_token_hash == read.by_token_hash
    assert sees(snapshot, u, *t.values()) == sees(read, u, *t.values())


async def test_a_reload_that_read_before_a_newer_one_was_swapped_in_is_not_swapped_in(
    database_url, backend
):
    """Two reloads of one process overlap (a follower's, and the one a change of this
    process makes): the one that read first and ends last never undoes the newer one."""
    async with opened_store(database_url) as store:
        before = await fresh(store)  # read before the user existed
        await user(store, "late")
        assert "late" in store.directory.by_login
        stale = (
            before.revision,
            before.principals,
            before.by_token_hash,
            before.parents,
            before.link_ends,
        )

        async def read_before() -> tuple:
            return stale

        async def nothing() -> None:
            return None

        await store.directory.load_with(read_before, nothing)
        assert "late" in store.directory.by_login
