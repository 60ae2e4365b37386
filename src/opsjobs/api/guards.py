"""Who may do what: the one place where routes ask whether a caller may see an entity or a
job, and whether the caller holds the permissions an action needs (docs/rights.md).

Every route refuses in the same order: credentials (401, before any guard), then sight (404:
what the caller may not see is answered as what does not exist, so that its existence does
not leak), then permissions (403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..domain.entity_fields import discovery_ref
from ..domain.errors import Forbidden, NotFound
from ..domain.ids import is_object_id
from ..domain.jobs import JobRow
from ..domain.kinds import EntityKind
from ..domain.users import Principal
from ..store.batches import targets as batch_targets
from ..store.core import Store
from ..store.entities import object_id_by_discovery
from ..store.jobs import has_jobs
from ..store.operations import owner_exists, owner_not_found

# -- permissions ----------------------------------------------------------------------------


def require_any(principal: Principal, *permissions: str) -> None:
    """403 unless the caller holds at least one of ``permissions`` (typically an action's own
    permission and the manage- permission that includes it)."""
    if not principal.rights.has_any(*permissions):
        raise Forbidden.needs(*permissions)


def require_all(principal: Principal, *permissions: str) -> None:
    """403 unless the caller holds every one of ``permissions``."""
    held = principal.rights.permissions
    if not all(permission in held for permission in permissions):
        raise Forbidden("Required permissions: " + " and ".join(permissions))


def require_missing(principal: Principal, *permissions: str) -> None:
    """403 unless the caller holds every one of ``permissions``, naming those it lacks."""
    held = principal.rights.permissions
    missing = [permission for permission in permissions if permission not in held]
    if missing:
        raise Forbidden("Required permissions: " + " and ".join(missing))


def holds_any(principal: Principal, *permissions: str) -> bool:
    """Whether the caller holds one of ``permissions``, for a route whose answer, not its
    refusal, depends on them (``GET /users`` shows less to a caller without manage-users)."""
    return principal.rights.has_any(*permissions)


# -- entities -------------------------------------------------------------------------------


async def visible_entity(store: Store, principal: Principal, kind: str, entity_id: str) -> None:
    """404 unless the caller may see this entity: an object or link (``kind`` "object" or
    "link") by the access rule; a class (``kind`` "class") is catalogue, visible to every
    caller, so only its existence is checked."""
    if kind == "class":
        seen = await owner_exists(store, kind, entity_id)
    else:
        seen = store.directory.can_see_entity(principal, kind, entity_id)
    if not seen:
        raise owner_not_found(kind, entity_id)


async def visible_object_ref(store: Store, principal: Principal, object_ref: str) -> str:
    """The ID of the object ``object_ref`` names, by its ID or as ``discovery id:<id>``
    (SAYMON, models/object), if the caller may see it; else 404 naming ``object_ref``."""
    discovery_id = discovery_ref(object_ref)
    if discovery_id is None:
        await visible_entity(store, principal, "object", object_ref)
        return object_ref
    object_id = await object_id_by_discovery(store, discovery_id)
    if object_id is None or not store.directory.can_see_object(principal, object_id):
        raise NotFound.entity(EntityKind.OBJECT.label, object_ref)
    return object_id


def visible_among(store: Store, principal: Principal, kind: str, ids: list[str]) -> list[str]:
    """Those of ``ids`` (objects or links) the caller may see, in their order."""
    can_see = store.directory.can_see_entity
    return [i for i in ids if can_see(principal, kind, i)]


def service_properties_check(principal: Principal) -> Callable[[], None]:
    """What the store calls when a change touches a Service property: 403 unless the caller
    holds manage-service-properties (SAYMON, methods/properties)."""
    return lambda: require_all(principal, "manage-service-properties")


def may_change_carriers(
    store: Store, principal: Principal
) -> Callable[[list[str], list[str]], None]:
    """What the store calls with the objects and links carrying a tag before the tag is
    renamed or deleted: doing so changes each of them, so the caller must be able to change
    each one (see it, and hold its kind's modify- or manage- permission); else 403, naming
    none of them."""

    def check(object_ids: list[str], link_ids: list[str]) -> None:
        for kind, ids, permissions in (
            ("object", object_ids, ("modify-objects", "manage-objects")),
            ("link", link_ids, ("modify-links", "manage-links")),
        ):
            if not ids:
                continue
            seen = visible_among(store, principal, kind, ids)
            if len(seen) < len(ids) or not principal.rights.has_any(*permissions):
                raise Forbidden(
                    "The tag is carried by objects or links you may not change: it stays as it is"
                )

    return check


def require_trigger_rights(principal: Principal, sent: Any) -> None:
    """403 unless the caller may save these state triggers (docs/api.md §18): an
    ``operation`` trigger runs the entity's operation later, which needs the right to run it
    now (``execute-operations``); a ``script`` trigger runs a program of its own, which needs
    the right to define operations. Read from the body as sent, so that the refusal comes
    before any complaint about the body (docs/api.md §2)."""
    types = (
        {t.get("type") for t in sent if isinstance(t, Mapping)} if isinstance(sent, list) else ()
    )
    if "operation" in types:
        require_all(principal, "execute-operations")
    if "script" in types:
        require_all(principal, "manage-operations")


def visible_entity_ids(store: Store, principal: Principal, kind: str) -> list[str]:
    """The IDs of every object (``kind`` "object") or link (else) the caller may see."""
    if kind == "object":
        return store.directory.visible_object_ids(principal)
    return store.directory.visible_link_ids(principal)


def may_read_schedule(
    store: Store, principal: Principal, owner_id: str, kind: str, target_id: str
) -> bool:
    """Whether the caller may read a schedule (docs/api.md §20): its own, or another user's
    with ``manage-operations`` and sight of its target."""
    if owner_id == principal.id:
        return True
    return principal.rights.has_any("manage-operations") and store.directory.can_see_entity(
        principal, kind, target_id
    )


async def may_read_batch(store: Store, principal: Principal, owner_id: str, batch_id: str) -> bool:
    """Whether the caller may read a batch (docs/api.md §21): its own, or another user's with
    ``manage-operations`` and sight of every one of its targets (its counts and jobs then
    say nothing the caller could not see for itself)."""
    if owner_id == principal.id:
        return True
    if not principal.rights.has_any("manage-operations"):
        return False
    can_see = store.directory.can_see_owner
    return all(can_see(principal, i, t) for i, t in await batch_targets(store, batch_id))


# -- jobs -----------------------------------------------------------------------------------
# A job is exactly as visible as its owner (Directory.can_see_owner); the history of a
# deleted owner stays visible to those who manage that kind of entity.


def may_see_job(store: Store, principal: Principal, row: JobRow) -> bool:
    """Whether the caller may see this job (for a check that is not a refusal)."""
    return store.directory.can_see_owner(principal, row.owner_id, row.owner_type)


def visible_job(store: Store, principal: Principal, job_id: str, row: JobRow | None) -> JobRow:
    """``row``, the job ``job_id`` as read (None: no such job), if the caller may see it;
    else 404, the same as for a job that does not exist."""
    if row is None or not may_see_job(store, principal, row):
        raise NotFound.entity("Job", job_id)
    return row


async def read_visible_job(store: Store, principal: Principal, job_id: str) -> JobRow:
    """The row of job ``job_id`` if it exists and the caller may see it; else 404."""
    row = await store.job_row(job_id) if is_object_id(job_id) else None
    return visible_job(store, principal, job_id, row)


def sees_records_of(store: Store, principal: Principal) -> Callable[[str, int], bool]:
    """Whether the caller may read the records (jobs, state changes) of an owner, by ID and
    ``owner_type``: exactly as its jobs (a deleted owner's for its kind's managers)."""
    can_see = store.directory.can_see_owner
    return lambda owner_id, owner_type: can_see(principal, owner_id, owner_type)


def owners_in_sight(store: Store, principal: Principal, most: int) -> list[str] | None:
    """The IDs of every object and link whose records the caller may read, when they are at
    most ``most``; else None (read everything and ask :func:`sees_records_of`). A manager
    of a kind also reads deleted entities' records, which no list of existing ones names."""
    if principal.rights.has_any("manage-objects", "manage-links"):
        return None
    found = visible_entity_ids(store, principal, "object")
    if len(found) <= most:
        found += visible_entity_ids(store, principal, "link")
    return found if len(found) <= most else None


def visible_owners(
    store: Store, principal: Principal, owner_ids: list[str], owner_type: int
) -> list[str]:
    """Those of ``owner_ids`` whose jobs the caller may see, each once, in their order."""
    can_see = store.directory.can_see_owner
    return [i for i in dict.fromkeys(owner_ids) if can_see(principal, i, owner_type)]


# Whether anything of a kind (jobs, state changes, deliveries) is stored for an owner.
HasRecords = Callable[[Store, str, int], Awaitable[bool]]


async def visible_history(
    store: Store,
    principal: Principal,
    owner_id: str,
    owner_type: int,
    has_records: HasRecords = has_jobs,
) -> None:
    """404 unless the caller may see the jobs (or other records, ``has_records``) of this
    owner. A deleted owner's history is shown (to managers) only while it has any: an ID
    that names nothing is a 404 for all."""
    directory = store.directory
    exists = (
        directory.object_exists(owner_id)
        if owner_type == EntityKind.OBJECT
        else directory.link_exists(owner_id)
    )
    if not directory.can_see_owner(principal, owner_id, owner_type) or (
        not exists and not await has_records(store, owner_id, owner_type)
    ):
        raise NotFound.entity(EntityKind(owner_type).label, owner_id)


async def visible_records_owner(
    store: Store, principal: Principal, kind: str, ref: str, has_records: HasRecords
) -> str:
    """The ID of the object or link ``ref`` names (an object also as ``discovery id:<id>``)
    whose records the caller may read, by the rule of :func:`visible_history`; else 404
    naming ``ref``."""
    owner_type = EntityKind.of_word(kind)
    owner_id: str | None = ref
    discovery_id = discovery_ref(ref) if owner_type is EntityKind.OBJECT else None
    if discovery_id is not None:
        owner_id = await object_id_by_discovery(store, discovery_id)
    try:
        if owner_id is None:
            raise NotFound.entity(owner_type.label, ref)
        await visible_history(store, principal, owner_id, owner_type, has_records)
    except NotFound:
        raise NotFound.entity(owner_type.label, ref) from None
    return owner_id


async def visible_ref(store: Store, principal: Principal, kind: str, ref: str) -> str:
    """The ID of the existing object or link ``ref`` names (an object also by discovery ID),
    if the caller may see it; else 404 naming ``ref``."""
    if kind == "object":
        return await visible_object_ref(store, principal, ref)
    await visible_entity(store, principal, kind, ref)
    return ref
