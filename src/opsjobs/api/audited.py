"""Which requests leave a row in the audit log, and the middleware that records them.

``RULES`` names, for each route that changes something, the row its request leaves: the
kind, the target (its type, and where its ID is: a path parameter, or the answer for what
the request created) and a small detail. The middleware applies the table after the route
has answered, from what the request and its answer say: the routes themselves hold no
audit code, and a new route that changes something fails a test until the table names it
(tests/api/test_audit.py).

Recorded: requests of a caller who was identified (api/audit.py PRINCIPAL_KEY), whatever the
outcome (``ok``, ``refused`` with the status, ``failed``). A request refused before its
caller was known (no credentials, a body FastAPI refused before the route ran) leaves none:
nobody to hold to account, and rows anyone could make for free. Failed credentials are
auth.py's to record (``auth.login_failed``), folded per second.

Reads are never recorded: a GET passes through with one comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .audit import principal_of_scope, record_entry
from .observe import templates

PREFIX = "/node/api"
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The answer's ID is read only from answers this large or smaller.
_ANSWER_BYTES = 4 * 1024 * 1024


@dataclass
class Seen:
    """What the middleware saw of one request: its path parameters, body and answer."""

    params: dict[str, Any]
    body_chunks: list[bytes] = field(default_factory=list)
    answer_chunks: list[bytes] = field(default_factory=list)

    def body(self) -> Any:
        return _decoded(self.body_chunks)

    def answer(self) -> Any:
        return _decoded(self.answer_chunks)


def _decoded(chunks: list[bytes]) -> Any:
    try:
        return orjson.loads(b"".join(chunks)) if chunks else None
    except orjson.JSONDecodeError:
        return None


Detail = Callable[[Seen], dict[str, Any] | None]


@dataclass(frozen=True)
class Rule:
    kind: str
    target: str
    # The path parameter that holds the target's ID; None: the answer's ``id`` (a creation);
    # "answer": the answer itself (an execute's job ID); "actor": the caller.
    target_param: str | None = None
    detail: Detail | None = None

    def target_id(self, seen: Seen, actor_id: str) -> str | None:
        if self.target_param == "actor":
            return actor_id
        if self.target_param == "answer":
            answer = seen.answer()
            return answer if isinstance(answer, str) else None
        if self.target_param is not None:
            return seen.params.get(self.target_param)
        answer = seen.answer()
        return str(answer["id"]) if isinstance(answer, dict) and "id" in answer else None


# -- details ----------------------------------------------------------------------------------

# User and group fields whose values the log keeps (rights and membership); of the others
# only the names (a password never: only that it was sent).
_RIGHTS_FIELDS = ("login", "status", "activeTo", "permissions", "objectPermissions", "groups",
                  "group", "name")  # fmt: skip


def _fields(seen: Seen) -> dict[str, Any] | None:
    body = seen.body()
    return {"fields": sorted(body)} if isinstance(body, dict) else None


def _rights(seen: Seen) -> dict[str, Any] | None:
    body = seen.body()
    if not isinstance(body, dict):
        return None
    return {"fields": sorted(body), **{k: body[k] for k in _RIGHTS_FIELDS if k in body}}


def _named(seen: Seen) -> dict[str, Any] | None:
    body = seen.body()
    if not isinstance(body, dict):
        return None
    named = {"name": body["name"]} if isinstance(body.get("name"), str) else {}
    return {**named, "fields": sorted(body)}


def _owned_by(kind: str, with_body: bool = True) -> Detail:
    def detail(seen: Seen) -> dict[str, Any]:
        owner = {"owner": {"type": kind, "id": seen.params.get(f"{kind}_id")}}
        return {**owner, **((_fields(seen) or {}) if with_body else {})}

    return detail


def _execution(kind: str) -> Detail:
    def detail(seen: Seen) -> dict[str, Any]:
        return {
            "operation_id": seen.params.get("operation_id"),
            "entity": {"type": kind, "id": seen.params.get(f"{kind}_id")},
        }

    return detail


def _result_keys(seen: Seen) -> dict[str, Any] | None:
    body = seen.body()
    return {"keys": sorted(body)} if isinstance(body, dict) else None


def _crud(plural: str, kind: str, detail: Detail = _fields) -> dict[tuple[str, str], Rule]:
    one = f"/{plural}/{{{kind}_id}}"
    return {
        ("POST", f"/{plural}"): Rule(f"{kind}.create", kind, None, detail),
        ("PATCH", one): Rule(f"{kind}.update", kind, f"{kind}_id", detail),
        ("DELETE", one): Rule(f"{kind}.delete", kind, f"{kind}_id"),
    }


def _owned(plural: str, kind: str, what: str, segment: str, param: str) -> dict:
    base = f"/{plural}/{{{kind}_id}}/{segment}"
    one = f"{base}/{{{param}}}"
    return {
        ("POST", base): Rule(f"{what}.create", what, None, _owned_by(kind)),
        ("PATCH", one): Rule(f"{what}.update", what, param, _owned_by(kind)),
        ("DELETE", one): Rule(f"{what}.delete", what, param, _owned_by(kind, False)),
    }


def _alerts(seen: Seen) -> dict[str, Any] | None:
    body = seen.body()
    alerts = body.get("alerts") if isinstance(body, dict) else None
    return {"alerts": len(alerts)} if isinstance(alerts, list) else None


def _state(seen: Seen) -> dict[str, Any] | None:
    body = seen.body()
    return {"state_id": body.get("state_id")} if isinstance(body, dict) else None


def _triggers(seen: Seen) -> dict[str, Any] | None:
    """What the triggers do, not where they send it (recipients are personal data)."""
    body = seen.body()
    if not isinstance(body, list):
        return None
    return {"types": [t.get("type") if isinstance(t, dict) else None for t in body[:100]]}


def _batch(seen: Seen) -> dict[str, Any] | None:
    """The operation and the kind of target set, not its IDs (a list may hold thousands)."""
    body = seen.body()
    if not isinstance(body, dict):
        return None
    target = body.get("target")
    kinds = sorted(target)[:5] if isinstance(target, dict) else None
    operation = body.get("operation") if isinstance(body.get("operation"), str) else None
    return {"operation_id": operation, "target": kinds, "fields": sorted(body)[:20]}


def _rules() -> dict[tuple[str, str], Rule]:
    rules: dict[tuple[str, str], Rule] = {
        ("DELETE", "/users/session"): Rule("auth.logout", "user", "actor"),
        ("POST", "/users/{user_id}/auth-token"): Rule("user.token_issue", "user", "user_id"),
        ("DELETE", "/users/{user_id}/auth-token"): Rule("user.token_revoke", "user", "user_id"),
        ("POST", "/groups"): Rule("group.create", "group", None, _rights),
        ("POST", "/jobs/{job_id}/cancel"): Rule("job.cancel", "job", "job_id"),
        ("PATCH", "/jobs/{job_id}/results"): Rule("job.result", "job", "job_id", _result_keys),
        # Alertmanager's webhook: each alert's state change is in the state history.
        ("POST", "/alerts/alertmanager"): Rule("alert.receive", "user", "actor", _alerts),
    }
    rules |= _crud("users", "user", _rights)
    for plural, kind in (("objects", "object"), ("links", "link")):
        rules |= _crud(plural, kind, _named)
        rules |= _owned(plural, kind, "property", "props", "prop_id")
        path = f"/{plural}/{{{kind}_id}}/operations/{{operation_id}}/execute"
        rules[("POST", path)] = Rule("job.execute", "job", "answer", _execution(kind))
        one = f"/{plural}/{{{kind}_id}}"
        rules[("PUT", f"{one}/state")] = Rule(f"{kind}.state", kind, f"{kind}_id", _state)
        rules[("PUT", f"{one}/state-triggers")] = Rule(
            f"{kind}.triggers", kind, f"{kind}_id", _triggers
        )
    for plural, kind in (("objects", "object"), ("links", "link"), ("classes", "class")):
        rules |= _owned(plural, kind, "operation", "operations", "operation_id")
    for plural, kind in (
        ("classes", "class"),
        ("scripts", "script"),
        ("tags", "tag"),
        ("schedules", "schedule"),
    ):
        rules |= _crud(plural, kind, _named)
    for verb in ("pause", "resume"):
        path = f"/schedules/{{schedule_id}}/{verb}"
        rules[("POST", path)] = Rule(f"schedule.{verb}", "schedule", "schedule_id")
    rules[("POST", "/batches")] = Rule("batch.create", "batch", None, _batch)
    rules[("POST", "/batches/{batch_id}/cancel")] = Rule("batch.cancel", "batch", "batch_id")
    return rules


RULES = _rules()

# Changing methods on routes that leave no row here, and why: reads sent as POST, and the
# log-in, which sessions.py and auth.py record (the body holds the password: never read
# here).
NOT_RECORDED = {
    ("POST", "/jobs"): "a history list: a read",
    ("POST", "/users/session"): "log-in: recorded by sessions.py (ok) and auth.py (failed)",
}


# -- the middleware ---------------------------------------------------------------------------


class AuditTrail:
    """Raw ASGI (as observe.py, for the same reason): records the requests RULES names."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[Any]]) -> None:
        self.app = app
        self.routes = routes
        self._paths: dict[Any, str] | None = None  # endpoint → path, made on first use

    def _rule(self, scope: Scope) -> Rule | None:
        if self._paths is None:
            self._paths = templates(self.routes())
        path = self._paths.get(scope.get("endpoint"))
        if path is None or not path.startswith(PREFIX):
            return None
        return RULES.get((scope["method"], path[len(PREFIX) :]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _CHANGES:
            await self.app(scope, receive, send)
            return
        seen = Seen({})
        answer: list[Any] = [500, None]  # status, rule

        async def receive_body() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen.body_chunks.append(message.get("body", b""))
            return message

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer[0], answer[1] = message["status"], self._rule(scope)
            elif message["type"] == "http.response.body" and answer[1] is not None:
                if sum(map(len, seen.answer_chunks)) < _ANSWER_BYTES:
                    seen.answer_chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_body, send_answer)
        finally:
            self._record(scope, answer[1] or self._rule(scope), answer[0], seen)

    def _record(self, scope: Scope, rule: Rule | None, status: int, seen: Seen) -> None:
        principal = principal_of_scope(scope)
        if rule is None or principal is None:
            return
        seen.params = scope.get("path_params") or {}
        detail = rule.detail(seen) if rule.detail is not None else None
        target = (rule.target, rule.target_id(seen, principal.id))
        record_entry(scope, rule.kind, target, status, detail)
