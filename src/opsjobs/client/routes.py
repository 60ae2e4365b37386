"""Every route of the API (docs/api.md), written once as a method that builds a :class:`Call`.

``Client`` and ``AsyncClient`` both inherit these methods and differ only in ``_send``: the
sync client's answers the decoded value, the async client's a coroutine of it. So on an
``AsyncClient`` every method below is awaited (``await client.get_job(job_id)``).
"""

from __future__ import annotations

from typing import Any

from .calls import Call, JobQuery, json_answer, kind_path, no_answer, segment
from .errors import ProtocolError
from .tree import build_tree


def _job_id(response) -> str:
    answer = json_answer(response)
    if not isinstance(answer, str):
        raise ProtocolError("execute: the answer is not a job ID")
    return answer


class Routes:
    """The API's methods. Subclasses provide ``_send(call)``."""

    def _send(self, call: Call) -> Any:  # pragma: no cover - always overridden
        raise NotImplementedError

    # -- jobs (§5–§8) ------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Any:
        """The job document (§5)."""
        return self._send(Call("GET", f"/jobs/{segment(job_id)}"))

    def list_jobs(
        self,
        *,
        objects: list[str] | None = None,
        links: list[str] | None = None,
        query: JobQuery | None = None,
    ) -> Any:
        """``POST /jobs``: the history of several objects or of several links (§6)."""
        body: dict[str, Any] = (query or JobQuery()).fields()
        if objects is not None:
            body["objects"] = list(objects)
        if links is not None:
            body["links"] = list(links)
        return self._send(Call("POST", "/jobs", body=body))

    def list_entity_jobs(self, kind: str, entity_id: str, query: JobQuery | None = None) -> Any:
        """The history of one object (``kind="object"``) or link (§6)."""
        if kind == "class":
            raise ValueError("classes have no job history")
        params = (query or JobQuery()).fields()
        return self._send(Call("GET", kind_path(kind, entity_id) + "/jobs", params=params))

    def object_jobs(self, object_id: str, query: JobQuery | None = None) -> Any:
        return self.list_entity_jobs("object", object_id, query)

    def link_jobs(self, link_id: str, query: JobQuery | None = None) -> Any:
        return self.list_entity_jobs("link", link_id, query)

    def add_result(self, job_id: str, payload: dict[str, Any]) -> Any:
        """Append a custom result to a job (§7)."""
        call = Call("PATCH", f"/jobs/{segment(job_id)}/results", body=payload, decode=no_answer)
        return self._send(call)

    def get_output(
        self, job_id: str, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> Any:
        """Stored output from a byte offset: ``{"stream", "offset", "next", "data",
        "finished", "status"}`` (§8)."""
        params = {"stream": stream, "offset": offset, "limit": limit}
        return self._send(Call("GET", f"/jobs/{segment(job_id)}/output", params=params))

    def cancel_job(self, job_id: str) -> Any:
        """Cancel a queued or running job; the job document as it is now (§8)."""
        return self._send(Call("POST", f"/jobs/{segment(job_id)}/cancel"))

    # -- executing (§10) ---------------------------------------------------------------------

    def execute(
        self,
        owner_id: str,
        operation_id: str,
        args: dict[str, Any] | None = None,
        *,
        kind: str = "object",
        idempotency_key: str | None = None,
    ) -> Any:
        """Run an operation of an object or link; the new job's ID."""
        if kind == "class":
            raise ValueError("an operation runs on an object or a link, not a class")
        path = kind_path(kind, owner_id) + f"/operations/{segment(operation_id)}/execute"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        return self._send(Call("POST", path, body=args or {}, headers=headers, decode=_job_id))

    def run_arguments(self, owner_id: str, operation_id: str, *, kind: str = "object") -> Any:
        """The arguments a run of the operation takes: each declared one, then each
        ``{{args.NAME}}`` its templates use undeclared (§10)."""
        if kind == "class":
            raise ValueError("an operation runs on an object or a link, not a class")
        path = kind_path(kind, owner_id) + f"/operations/{segment(operation_id)}/arguments"
        return self._send(Call("GET", path))

    # -- operations (§9) ---------------------------------------------------------------------

    def list_operations(self, kind: str, entity_id: str) -> Any:
        return self._send(Call("GET", kind_path(kind, entity_id) + "/operations"))

    def create_operation(self, kind: str, entity_id: str, operation: dict[str, Any]) -> Any:
        path = kind_path(kind, entity_id) + "/operations"
        return self._send(Call("POST", path, body=operation))

    def update_operation(
        self, kind: str, entity_id: str, operation_id: str, changes: dict[str, Any]
    ) -> Any:
        path = kind_path(kind, entity_id) + f"/operations/{segment(operation_id)}"
        return self._send(Call("PATCH", path, body=changes))

    def delete_operation(self, kind: str, entity_id: str, operation_id: str) -> Any:
        path = kind_path(kind, entity_id) + f"/operations/{segment(operation_id)}"
        return self._send(Call("DELETE", path, decode=no_answer))

    # -- objects, links, classes, scripts (§11–§13) ------------------------------------------

    def list_entities(self, kind: str, fields: list[str] | None = None) -> Any:
        """Every object (``kind="object"``), link, class or script the caller may see."""
        params = {"fields": ",".join(fields)} if fields else {}
        return self._send(Call("GET", "/" + _collection(kind), params=params))

    def get_entity(self, kind: str, entity_id: str) -> Any:
        return self._send(Call("GET", f"/{_collection(kind)}/{segment(entity_id)}"))

    def create_entity(self, kind: str, document: dict[str, Any]) -> Any:
        """Create an object, link, class or script from its fields; answers it with its ID."""
        return self._send(Call("POST", "/" + _collection(kind), body=document))

    def update_entity(self, kind: str, entity_id: str, changes: dict[str, Any]) -> Any:
        path = f"/{_collection(kind)}/{segment(entity_id)}"
        return self._send(Call("PATCH", path, body=changes))

    def delete_entity(self, kind: str, entity_id: str) -> Any:
        path = f"/{_collection(kind)}/{segment(entity_id)}"
        return self._send(Call("DELETE", path, decode=no_answer))

    def list_objects(self, fields: list[str] | None = None) -> Any:
        return self.list_entities("object", fields)

    def get_object(self, object_id: str) -> Any:
        return self.get_entity("object", object_id)

    def list_links(self, fields: list[str] | None = None) -> Any:
        return self.list_entities("link", fields)

    def get_link(self, link_id: str) -> Any:
        return self.get_entity("link", link_id)

    def object_tree(self) -> Any:
        """The visible objects as a tree: ``[{"id", "name", "children": [...]}]`` (tree.py)."""
        params = {"fields": "name,parent_id"}
        return self._send(Call("GET", "/objects", params=params, decode=_tree))

    # -- states, state history, state triggers (§18) ----------------------------------------

    def set_state(self, kind: str, entity_id: str, state_id: int) -> Any:
        """Set an object's or link's state; answers its document."""
        path = _entity_path(kind, entity_id) + "/state"
        return self._send(Call("PUT", path, body={"state_id": state_id}))

    def state_history(
        self, kind: str | None = None, entity_id: str | None = None, **page: int
    ) -> Any:
        """State changes, newest first: of one object or link, or (no ``kind``) of all the
        caller may see. ``page``: ``from_``, ``to``, ``limit``, ``skip``."""
        params = {k.rstrip("_"): v for k, v in page.items() if v is not None}
        path = "" if kind is None else _entity_path(kind, entity_id or "")
        return self._send(Call("GET", path + "/state-history", params=params))

    def get_state_triggers(self, kind: str, entity_id: str) -> Any:
        return self._send(Call("GET", _entity_path(kind, entity_id) + "/state-triggers"))

    def set_state_triggers(self, kind: str, entity_id: str, triggers: list[dict]) -> Any:
        """Replace the entity's own state triggers (``[]``: none)."""
        path = _entity_path(kind, entity_id) + "/state-triggers"
        return self._send(Call("PUT", path, body=list(triggers), decode=no_answer))

    def trigger_deliveries(self, kind: str, entity_id: str, **page: int) -> Any:
        """What the entity's triggers did, newest first. ``page``: ``limit``, ``skip``."""
        path = _entity_path(kind, entity_id) + "/trigger-deliveries"
        params = {k: v for k, v in page.items() if v is not None}
        return self._send(Call("GET", path, params=params))

    # -- schedules (§20) -----------------------------------------------------------------------

    def list_schedules(self) -> Any:
        """The schedules the caller may read."""
        return self._send(Call("GET", "/schedules"))

    def create_schedule(self, schedule: dict[str, Any]) -> Any:
        """Make a schedule (``name``, ``operation``, ``target``, ``cron`` or ``interval``, …),
        owned by the caller; answers it."""
        return self._send(Call("POST", "/schedules", body=schedule))

    def get_schedule(self, schedule_id: str) -> Any:
        return self._send(Call("GET", f"/schedules/{segment(schedule_id)}"))

    def update_schedule(self, schedule_id: str, changes: dict[str, Any]) -> Any:
        return self._send(Call("PATCH", f"/schedules/{segment(schedule_id)}", body=changes))

    def delete_schedule(self, schedule_id: str) -> Any:
        call = Call("DELETE", f"/schedules/{segment(schedule_id)}", decode=no_answer)
        return self._send(call)

    def pause_schedule(self, schedule_id: str) -> Any:
        return self._send(Call("POST", f"/schedules/{segment(schedule_id)}/pause"))

    def resume_schedule(self, schedule_id: str) -> Any:
        return self._send(Call("POST", f"/schedules/{segment(schedule_id)}/resume"))

    # -- batches (§21) -------------------------------------------------------------------------

    def create_batch(self, batch: dict[str, Any]) -> Any:
        """Run an operation over a target set (``operation``, ``target``, ``args``,
        ``concurrency``, ``stopAfterFailures``, ``name``), as the caller; answers the batch
        at once, its jobs queued from then on."""
        return self._send(Call("POST", "/batches", body=batch))

    def list_batches(self, limit: int | None = None) -> Any:
        """The batches the caller may read, newest first, without their jobs."""
        params = {} if limit is None else {"limit": limit}
        return self._send(Call("GET", "/batches", params=params))

    def get_batch(self, batch_id: str, **page: int) -> Any:
        """A batch with its counts and a page of its jobs. ``page``: ``limit``, ``skip``."""
        params = {k: v for k, v in page.items() if v is not None}
        return self._send(Call("GET", f"/batches/{segment(batch_id)}", params=params))

    def cancel_batch(self, batch_id: str) -> Any:
        """Cancel a batch: no more jobs, its queued and running ones cancelled."""
        return self._send(Call("POST", f"/batches/{segment(batch_id)}/cancel"))

    # -- users, groups, sessions, tokens (§3, §14) -------------------------------------------

    def login(self, login: str, password: str) -> Any:
        """Open a session; its cookie is sent with every later request of this client."""
        body = {"login": login, "password": password}
        return self._send(Call("POST", "/users/session", body=body, decode=no_answer))

    def logout(self) -> Any:
        return self._send(Call("DELETE", "/users/session", decode=no_answer))

    def current_user(self) -> Any:
        return self._send(Call("GET", "/users/current"))

    def issue_token(self, user_id: str) -> Any:
        """A new API token for the user (replacing any earlier one); shown only once."""
        return self._send(Call("POST", f"/users/{segment(user_id)}/auth-token"))

    def revoke_token(self, user_id: str) -> Any:
        call = Call("DELETE", f"/users/{segment(user_id)}/auth-token", decode=no_answer)
        return self._send(call)

    # -- the audit log (§19) ------------------------------------------------------------------

    def audit(
        self,
        *,
        start: int | None = None,
        end: int | None = None,
        kind: str | None = None,
        actor: str | None = None,
        limit: int | None = None,
        skip: int | None = None,
    ) -> Any:
        """Rows of the audit log, newest first; times in ms, ``kind`` exact or a prefix
        ending in ``.``, ``actor`` a user's ID or login. Needs ``manage-users``."""
        params = {"from": start, "to": end, "kind": kind, "actor": actor}
        params |= {"limit": limit, "skip": skip}
        return self._send(Call("GET", "/audit", params=params))

    def ping(self) -> Any:
        return self._send(Call("GET", "/ping"))


# Collections with the plain list/get/create/update/delete routes; users and groups too.
COLLECTIONS = {
    "object": "objects",
    "link": "links",
    "class": "classes",
    "script": "scripts",
    "user": "users",
    "group": "groups",
}


def _collection(kind: str) -> str:
    if kind not in COLLECTIONS:
        raise ValueError(f"kind must be one of {', '.join(COLLECTIONS)}, not {kind!r}")
    return COLLECTIONS[kind]


def _tree(response) -> list[dict[str, Any]]:
    return build_tree(json_answer(response))


def _entity_path(kind: str, entity_id: str) -> str:
    """The path of an object or a link: only they have states (docs/api.md §18)."""
    if kind not in ("object", "link"):
        raise ValueError(f"kind must be object or link, not {kind!r}")
    return kind_path(kind, entity_id)
