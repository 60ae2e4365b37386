"""Executing an operation: one run of an operation of an object or a link, recorded as a
queued job for a runner to take.

The one way a job comes to be, for the execute routes (docs/api.md §10) and ``opsjobs exec``
alike: the operation is rendered into a spec for this entity, this caller and these
arguments, then the job is inserted ``queued``. An idempotency key makes a retried request
answer the job of the first one instead of queueing another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain.clock import now_ms
from ..domain.errors import BadRequest, Conflict, NotFound
from ..domain.ids import new_id
from ..domain.jobs import JobStatus
from ..domain.kinds import EntityKind
from ..domain.operations import render_spec, runner_tag
from ..domain.spec import dump_spec
from ..domain.templates import Values, property_map
from ..logs import current_request_id
from ..store.core import Store
from ..store.operations import (
    JobRef,
    Target,
    cached_target,
    enqueue_once,
    execution_target,
    job_for_key,
)

# The key as the API names it (a request header), in the messages of its refusals.
KEY_NAME = "Idempotency-Key"
KEY_MAX = 255  # the width of jobs.idempotency_key


def rendered(
    target: Target, entity_id: str, user: Any, args: dict[str, Any], default_timeout: float
):
    """The run of ``target``'s operation on ``entity_id`` as ``user`` with ``args``: what an
    execute request, a schedule's run and a batch's target each render."""
    return render_spec(
        target.operation,
        Values(
            entity_id=entity_id,
            properties=property_map(target.properties),
            user_id=user.id,
            user_login=user.login,
            args=args,
        ),
        default_timeout=default_timeout,
        script_text=target.script_text,
    )


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks for a run: a user, or nobody (``opsjobs exec`` without ``--user``)."""

    id: str | None
    login: str | None


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Execute operation ``operation_id`` on the object or link (``kind``) ``entity_id``, as
    ``requester``, with ``args`` for ``{{args.<name>}}`` (and an idempotency key)."""

    kind: str  # "object" or "link"
    entity_id: str
    operation_id: str
    requester: Requester
    args: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


async def execute_operation(store: Store, run: RunRequest, *, default_timeout: float) -> str:
    """Record the run as a queued job, or find the job its idempotency key names; its ID.

    Refused, before anything is written: a key out of bounds (400); a key already used for
    another operation or entity (409); an operation the entity does not have (404);
    arguments or a template that cannot be rendered (400). Whether the caller may see the
    entity and execute its operations is the caller's to check first.
    """
    key = checked_key(run.idempotency_key)
    if key is not None:
        earlier = await job_for_key(store, run.requester.id, key)
        if earlier is not None:
            return _same_run(earlier, run)
    target = await cached_target(store, run.kind, run.entity_id, run.operation_id)
    job = await _enqueue(store, run, target, default_timeout)
    if job is None:  # the target changed since an earlier execute read it: read it now
        target = await execution_target(store, run.kind, run.entity_id, run.operation_id)
        job = await _enqueue(store, run, target, default_timeout)
        if job is None:  # a target just read is inserted unchecked, so this is a bug
            # (Names only: the run's arguments may hold secrets, and this error is logged.)
            raise RuntimeError(
                f"{run.kind} {run.entity_id} operation {run.operation_id}: "
                "a target read now was refused as changed"
            )
    return _same_run(job, run)


async def _enqueue(
    store: Store, run: RunRequest, target: Target, default_timeout: float
) -> JobRef | None:
    """The run of ``target`` rendered and queued (None if a cached target changed)."""
    try:
        spec = rendered(target, run.entity_id, run.requester, run.args, default_timeout)
    except BadRequest:
        if not target.cached:
            raise
        return None  # read again: an operation gone since is a 404, as refusals go
    # Two requests with one key can both find no job before: the store lets one in and
    # answers the other with the winner's job.
    row = _queued_row(run, target, dump_spec(spec, current_request_id()))
    return await enqueue_once(store, row, (run.kind, target))


def checked_key(key: str | None) -> str | None:
    if key is not None and not 0 < len(key) <= KEY_MAX:
        raise BadRequest(f"{KEY_NAME}: must be 1 to {KEY_MAX} characters")
    return key


def _same_run(job: JobRef, run: RunRequest) -> str:
    """The job's ID, if it is a run of the operation and entity asked for (409 if not)."""
    if job.owner_id != run.entity_id or job.operation_id != run.operation_id:
        raise Conflict(f"{KEY_NAME}: already used for another operation or entity")
    return job.id


def _queued_row(run: RunRequest, target: Target, spec: str) -> dict[str, Any]:
    return job_row(
        owner_id=run.entity_id,
        kind=EntityKind.of_word(run.kind),
        operation_id=run.operation_id,
        operation_name=target.operation["name"],
        user_id=run.requester.id,
        spec=spec,
        runner_tag=runner_tag(target.operation),
        idempotency_key=run.idempotency_key,
    )


def job_row(
    *,
    owner_id: str,
    kind: EntityKind,
    operation_id: str | None,
    operation_name: str,
    user_id: str | None,
    spec: str,
    runner_tag: str | None,
    process_meta: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A job row as it is queued, whoever asks for the run (a person, a trigger)."""
    return {
        "id": new_id(),
        "owner_id": owner_id,
        "owner_type": kind.value,
        "operation_id": operation_id,
        "operation_name": operation_name,
        "user_id": user_id,
        "timestamp": now_ms(),
        "process_meta": process_meta,
        "description": "{}",
        "results": "[]",
        "status": JobStatus.QUEUED.value,
        "spec": spec,
        "runner_tag": runner_tag,
        "idempotency_key": idempotency_key,
        # Runners take a person's runs before what triggers, schedules and batches queue.
        "priority": 0 if process_meta is None else 1,
    }


# -- for callers that name an entity or a user without knowing more ---------------------------


def entity_kind(store: Store, entity_id: str) -> str:
    """ "object" or "link": which of them ``entity_id`` names (404 if neither)."""
    if store.directory.object_exists(entity_id):
        return "object"
    if store.directory.link_exists(entity_id):
        return "link"
    raise NotFound(f"Entity not found: Object or Link({entity_id})")


def requester_by_login(store: Store, login: str | None) -> Requester:
    """The user of this login (404 if none), or nobody for None."""
    if login is None:
        return Requester(None, None)
    principal = store.directory.principal_by_login(login)
    if principal is None:
        raise NotFound(f"no user with login {login!r}")
    return Requester(principal.id, principal.login)
