"""An in-memory view of who may see what: users, groups, the object graph and link ends.

Every process keeps one. It answers the access rule without touching the database, which is
what keeps ``GET /node/api/jobs/:id`` to one indexed read. Changes made by this process are
applied in place; changes made by others are noticed through the ``directory`` revision,
which every write to users, groups, objects or links bumps in its own transaction (so the
revision orders those writes as they committed). ``revision`` is the newest of them this
view holds: every change up to it is in, none after it is missing from a later reload.
Requests catch up with the database before they answer (``Store.catch_up``).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import closing
from types import SimpleNamespace

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.access import detached, link_allowed, object_allowed, with_root_for
from ..domain.kinds import EntityKind
from ..domain.rights import Rights
from ..domain.users import Principal
from .schema import groups, links, object_parents, objects, revisions, users


class Directory:
    def __init__(self) -> None:
        self.revision = 0
        self.principals: dict[str, Principal] = {}
        self.by_login: dict[str, str] = {}
        self.by_token_hash: dict[str, str] = {}
        self.parents: dict[str, tuple[str, ...]] = {}
        self.link_ends: dict[str, tuple[str, str]] = {}
        # Objects whose parents do not lead to the root (old loops): see domain/access.py.
        self.detached: frozenset[str] = frozenset()
        self._effective_parents = self._parents_of
        self._memo: dict[str, dict[str, bool]] = defaultdict(dict)
        # Object -> its children, made from ``parents`` when a subtree is first asked for.
        self._children: dict[str, list[str]] | None = None
        # Counts changes made in place by this process (see load).
        self._own_changes = 0

    # -- loading -------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection) -> None:
        """Read everything again through ``conn`` and swap it in at once."""

        async def read() -> tuple:
            return await self._read(conn)

        await self.load_with(read, conn.rollback)

    async def load_with(
        self, read: Callable[[], Awaitable[tuple]], between: Callable[[], Awaitable[None]]
    ) -> None:
        """Swap in what ``read()`` answers (see ``build``), all at once.

        A change this process makes while the reads are under way may be missing from what
        they return (read before it committed); swapping that in would undo the change here
        until the next reload, so the reads are done again instead (``between()`` first, to
        let them see a new snapshot).
        """
        while True:
            changes = self._own_changes
            loaded = await read()
            if self._own_changes == changes:
                break
            await between()
        if loaded[0] < self.revision:
            # Read before a reload that has already swapped in a newer snapshot (this
            # process's own change, reloaded while a follower's reload was under way):
            # swapping it in would undo that change here until the next reload.
            return
        self._swap(*loaded)

    async def _read(self, conn: AsyncConnection) -> tuple:
        revision = await read_revision(conn)
        return build(revision, [await conn.execute(query) for query in _QUERIES])

    def _swap(self, revision, principals, by_token, parents, ends) -> None:
        # A user that did not change keeps its Principal object: the credential cache
        # (api/auth.py) recognises a still valid verification by that identity, so a change
        # to someone else costs nobody a new password check.
        old = self.principals
        principals = {
            user_id: old[user_id] if old.get(user_id) == principal else principal
            for user_id, principal in principals.items()
        }
        # Everything at once: a request never sees half a reload.
        self.principals = principals
        self.by_login = {p.login: p.id for p in principals.values()}
        self.by_token_hash = by_token
        self.parents = {k: tuple(v) for k, v in parents.items()}
        self.link_ends = ends
        self.revision = revision
        self._find_detached()
        self._memo = defaultdict(dict)
        self._children = None

    def _find_detached(self) -> None:
        self.detached = detached(self.parents)
        self._effective_parents = with_root_for(self.detached, self._parents_of)

    async def refresh_if_stale(self, conn: AsyncConnection) -> bool:
        if await read_revision(conn) != self.revision:
            await self.load(conn)
            return True
        return False

    # -- in-place changes made by this process ------------------------------------------

    def _advance(self, revision: int) -> bool:
        """Record our own write; False when another process wrote in between (reload then)."""
        self._own_changes += 1
        self._memo = defaultdict(dict)
        self._children = None
        if revision == self.revision + 1:
            self.revision = revision
            return True
        return False

    def put_object(self, revision: int, object_id: str, parent_ids: tuple[str, ...]) -> bool:
        is_new = object_id not in self.parents
        self.parents[object_id] = parent_ids
        # Cycles are refused, so an object placed under parents that lead to the root leads
        # there too, and so does everything below it. Only when the tree has detached parts
        # (old data) may the change have joined them back: then look again.
        under_root = all(p in self.parents and p not in self.detached for p in parent_ids)
        if not under_root or (self.detached and not is_new):
            self._find_detached()
        return self._advance(revision)

    def drop_object(self, revision: int, object_id: str) -> bool:
        # Only an object without children is deleted (store/entities.py).
        self.parents.pop(object_id, None)
        if object_id in self.detached:
            self._find_detached()
        return self._advance(revision)

    def put_link(self, revision: int, link_id: str, source: str, target: str) -> bool:
        self.link_ends[link_id] = (source, target)
        return self._advance(revision)

    def drop_link(self, revision: int, link_id: str) -> bool:
        self.link_ends.pop(link_id, None)
        return self._advance(revision)

    # -- questions -----------------------------------------------------------------------

    def principal_by_login(self, login: str) -> Principal | None:
        user_id = self.by_login.get(login)
        return self.principals.get(user_id) if user_id else None

    def principal_by_token_hash(self, token_hash: str) -> Principal | None:
        user_id = self.by_token_hash.get(token_hash)
        return self.principals.get(user_id) if user_id else None

    def object_exists(self, object_id: str) -> bool:
        return object_id in self.parents

    def link_exists(self, link_id: str) -> bool:
        return link_id in self.link_ends

    def _parents_of(self, object_id: str) -> tuple[str, ...]:
        return self.parents.get(object_id, ())

    def can_see_object(self, principal: Principal, object_id: str) -> bool:
        """Access to an existing object; False for one that does not exist."""
        memo = self._memo[principal.id]
        key = "o" + object_id
        allowed = memo.get(key)
        if allowed is None:
            allowed = object_id in self.parents and object_allowed(
                object_id, principal.rights, self._effective_parents
            )
            memo[key] = allowed
        return allowed

    def can_see_link(self, principal: Principal, link_id: str) -> bool:
        memo = self._memo[principal.id]
        key = "l" + link_id
        allowed = memo.get(key)
        if allowed is None:
            ends = self.link_ends.get(link_id)
            allowed = ends is not None and link_allowed(
                link_id, ends, principal.rights, self._effective_parents
            )
            memo[key] = allowed
        return allowed

    def can_see_entity(self, principal: Principal, kind: str, entity_id: str) -> bool:
        """Access to an existing object (``kind`` "object") or link (any other kind)."""
        if kind == "object":
            return self.can_see_object(principal, entity_id)
        return self.can_see_link(principal, entity_id)

    def can_see_owner(self, principal: Principal, owner_id: str, owner_type: int) -> bool:
        """Whether the owner of a job is visible: jobs are exactly as visible as their owner.

        A deleted owner's history stays readable to those who manage that kind of entity.
        """
        if owner_type == EntityKind.OBJECT:
            if owner_id in self.parents:
                return self.can_see_object(principal, owner_id)
            return principal.rights.has_any("manage-objects")
        if owner_id in self.link_ends:
            return self.can_see_link(principal, owner_id)
        return principal.rights.has_any("manage-links")

    def subtree(self, object_id: str, keep: Callable[[str], bool], most: int) -> list[str]:
        """The object and its descendants, each once (breadth first, children in their
        order), walking only through objects ``keep`` accepts; at most ``most`` of them (the
        walk stops there). An object reached by several paths, or through a loop left in old
        data, is listed once."""
        if self._children is None:
            children: dict[str, list[str]] = defaultdict(list)
            for child, its_parents in self.parents.items():
                for parent in its_parents:
                    children[parent].append(child)
            self._children = children
        if object_id not in self.parents or not keep(object_id):
            return []
        found = {object_id: None}
        frontier = [object_id]
        while frontier and len(found) < most:
            following = []
            for node in frontier:
                for child in self._children.get(node, ()):
                    if child not in found and keep(child):
                        found[child] = None
                        following.append(child)
            frontier = following
        return list(found)[:most]

    def visible_object_ids(self, principal: Principal) -> list[str]:
        return [oid for oid in self.parents if self.can_see_object(principal, oid)]

    def visible_link_ids(self, principal: Principal) -> list[str]:
        return [lid for lid in self.link_ends if self.can_see_link(principal, lid)]


_QUERIES = (
    select(groups),
    select(users),
    select(objects.c.id),
    select(object_parents.c.object_id, object_parents.c.parent_id).order_by(
        object_parents.c.object_id, object_parents.c.position
    ),
    select(links.c.id, links.c.source, links.c.target),
)
_REVISION = select(revisions.c.value).where(revisions.c.name == "directory")


def build(revision: int, results: list) -> tuple:
    """What ``_swap`` takes, from the rows of ``_QUERIES`` in their order."""
    group_rows, user_rows, object_rows, parent_rows, link_rows = results
    group_rights = {
        row.id: _rights(row.permissions, row.include, row.exclude) for row in group_rows
    }
    principals: dict[str, Principal] = {}
    by_token: dict[str, str] = {}
    for row in user_rows:
        principals[row.id] = _principal(row, group_rights)
        if row.token_hash:
            by_token[row.token_hash] = row.id
    parents: dict[str, list[str]] = {row.id: [] for row in object_rows}
    for row in parent_rows:
        parents.setdefault(row.object_id, []).append(row.parent_id)
    ends = {row.id: (row.source, row.target) for row in link_rows}
    return revision, principals, by_token, parents, ends


def _sql(query) -> str:
    return str(query.compile(dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}))


_SQLITE_QUERIES = tuple(_sql(q) for q in _QUERIES)
_SQLITE_REVISION = _sql(_REVISION)


def _named_row(cursor: sqlite3.Cursor, values: tuple) -> SimpleNamespace:
    return SimpleNamespace(**{d[0]: v for d, v in zip(cursor.description, values, strict=True)})


def read_sqlite(path: str) -> tuple:
    """Everything, from one read snapshot of a SQLite file, for ``load_with``; blocking, for a
    worker thread: one hop for the whole directory instead of one per row through aiosqlite."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.row_factory = _named_row
        db.execute("BEGIN")  # one snapshot for every table
        revision = db.execute(_SQLITE_REVISION).fetchone().value
        results = [db.execute(sql).fetchall() for sql in _SQLITE_QUERIES]
        db.execute("COMMIT")
    return build(int(revision), results)


async def read_revision(conn: AsyncConnection) -> int:
    return int((await conn.execute(_REVISION)).scalar_one())


def _rights(permissions: str, include: str, exclude: str) -> Rights:
    return Rights(
        permissions=frozenset(orjson.loads(permissions)),
        include=frozenset(orjson.loads(include)),
        exclude=frozenset(orjson.loads(exclude)),
    )


def _principal(row, group_rights: dict[str, Rights]) -> Principal:
    own = _rights(row.permissions, row.include, row.exclude)
    parts = [own] + [group_rights[g] for g in orjson.loads(row.group_ids) if g in group_rights]
    return Principal(
        id=row.id,
        login=row.login,
        password_hash=row.password_hash,
        status=row.status,
        active_to=row.active_to,
        rights=Rights.union(parts),
    )
