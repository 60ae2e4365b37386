"""Recording the audit log (docs/security.md, "Audit log"): rows gathered in memory and
written in batches, failed logins folded per login, address and second.

A request adds its row to a list and goes on: the request pays a few microseconds, not a
transaction. A task of the app writes what has gathered ``FLUSH_SECONDS`` after the first
row of a batch came (one transaction for all of them, store/audit.py), when the app shuts
down, and before the audit log is read here (``flush``), so a reader sees this process's own
acts. A failed write is retried (the rows stay, up to MAX_PENDING, the oldest dropped
beyond with a warning); a process killed at once loses at most the rows of its last
moments (docs/decisions.md, "Audit log").

Failed logins cost an attacker nothing to send, so one row per failure would let anyone make
the server write as fast as they can send. Failures are held until their second is over and
written as one row per (login tried, client address, method) and second, with
``detail.count``; past
MAX_FAILURE_KEYS distinct pairs in one second the rest of that second's failures are folded
into one row with neither login nor address.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import Scope

from ..domain.audit import FAILED, OK, REFUSED, AuditEntry, bounded
from ..domain.users import Principal
from ..logs import current_request_id
from ..store.audit import append
from ..store.core import Store
from ..store.retry import describe

log = structlog.get_logger("opsjobs.audit")

FLUSH_SECONDS = 0.05
MAX_PENDING = 100_000
MAX_FAILURE_KEYS = 1000
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
LOGIN_FAILED = "auth.login_failed"
FOLDED = "many"  # the method of the row that folds a second's failures past MAX_FAILURE_KEYS

# Where the caller's Principal is kept in the request's scope once it is known (auth.py): the
# recorder reads it after the route has answered.
PRINCIPAL_KEY = "opsjobs.principal"


def outcome_of(status: int) -> str:
    """The outcome an answer's status says."""
    if status < 400:
        return OK
    return FAILED if status >= 500 else REFUSED


class AuditLog:
    """The rows of one process on their way to the database."""

    def __init__(self, store: Store, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._pending: list[AuditEntry] = []
        # (second, login, address, method) → the row counting that second's failures.
        self._failures: dict[tuple[int, str | None, str | None, str], AuditEntry] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.dropped = 0

    def add(self, entry: AuditEntry) -> None:
        self._pending.append(entry)
        self._trim()
        self._wake.set()

    def _trim(self) -> None:
        """Past MAX_PENDING rows (the database has refused them for long), drop the oldest:
        a tenth more than needed at once, so that a full list is not shifted on every add."""
        if len(self._pending) <= MAX_PENDING:
            return
        cut = len(self._pending) - MAX_PENDING + MAX_PENDING // 10
        del self._pending[:cut]
        self.dropped += cut
        log.warning("audit rows dropped: the database has refused them too long",
                    rows=cut, dropped_in_process=self.dropped)  # fmt: skip

    def login_failed(
        self, login: str | None, address: str | None, method: str, status: int
    ) -> None:
        """One failed log-in: counted into the row of its login, address, method and second."""
        entry = AuditEntry(LOGIN_FAILED, REFUSED, status, request_id=current_request_id())
        key = (entry.at // 1000, bounded(login), bounded(address), method)
        if key not in self._failures and len(self._failures) >= MAX_FAILURE_KEYS:
            key = (key[0], None, None, FOLDED)  # one row for the rest of this second's
        held = self._failures.get(key)
        if held is not None:
            held.detail["count"] += 1
            return
        entry.address, entry.target_type, entry.target_id = key[2], "login", key[1]
        entry.detail = {"method": key[3], "count": 1}
        self._failures[key] = entry
        self._wake.set()

    def _release_failures(self, everything: bool) -> None:
        """Move the failures of seconds that are over (or all) to the rows to write."""
        second = AuditEntry("").at // 1000
        over = [k for k in self._failures if everything or k[0] < second]
        for key in over:
            self._pending.append(self._failures.pop(key))

    async def flush(self, everything: bool = True) -> None:
        """Write what has gathered (with ``everything``, also the failures of this second)."""
        async with self._writing:
            self._release_failures(everything)
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await append(self.store, batch)
            except BaseException:
                self._pending[:0] = batch  # kept for the next attempt, in order
                self._trim()
                raise

    async def run(self) -> None:
        """Write batches as rows come, until cancelled."""
        failures = 0
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_seconds)
            self._wake.clear()
            try:
                await self.flush(everything=False)
                failures = 0
            except Exception as exc:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("audit rows not written yet", rows=len(self._pending),
                            error=describe(exc), retry_in=delay)  # fmt: skip
                await asyncio.sleep(delay)
                self._wake.set()
            if self._failures and self._timer is None:  # written once their second is over
                self._timer = asyncio.get_running_loop().call_later(1.0, self._timer_rang)

    def _timer_rang(self) -> None:
        self._timer = None
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Stop the task and write everything still held (the app is shutting down)."""
        if self._task is not None:
            async with self._writing:  # never in the middle of a write it began
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            await self.flush()
        except Exception as exc:
            log.error("audit rows lost at shutdown", rows=len(self._pending),
                      error=describe(exc))  # fmt: skip
        if self.dropped:
            log.error("audit rows were dropped while the database refused them",
                      rows=self.dropped)  # fmt: skip


def principal_of_scope(scope: Scope) -> Principal | None:
    return scope.get(PRINCIPAL_KEY)


def note_principal(request: Request, principal: Principal) -> Principal:
    """Remember who the caller is, for the row its request leaves."""
    request.scope[PRINCIPAL_KEY] = principal
    return principal


def record_entry(
    scope: Scope,
    kind: str,
    target: tuple[str, str | None] | None = None,
    status: int = 200,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add the row of an act done by the request of ``scope``: the actor, the client's
    address and the request ID are read from the request; ``status`` is the answer's, which
    says the outcome."""
    ctx = scope["app"].state.context
    principal = principal_of_scope(scope)
    target_type, target_id = target if target is not None else (None, None)
    ctx.audit.add(
        AuditEntry(
            kind,
            outcome_of(status),
            None if status < 400 else status,
            actor_id=principal.id if principal else None,
            actor_login=principal.login if principal else None,
            address=ctx.auth.peers.address(Request(scope)),
            target_type=target_type,
            target_id=target_id,
            detail=detail,
            request_id=current_request_id(),
        )
    )


def record(
    request: Request,
    kind: str,
    *,
    target: tuple[str, str | None] | None = None,
    status: int = 200,
    detail: dict[str, Any] | None = None,
) -> None:
    """``record_entry`` for a route's own act (the log-in)."""
    record_entry(request.scope, kind, target, status, detail)
