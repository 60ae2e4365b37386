"""What a request handler works with: settings, the store and the authenticator."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ..config import Settings
from ..domain.passwords import Passwords
from ..store.core import Store
from .admission import WriteTurns
from .audit import AuditLog
from .auth import Authenticator


@dataclass
class Context:
    settings: Settings
    store: Store
    passwords: Passwords
    auth: Authenticator
    audit: AuditLog
    # Turns for changing requests (api/admission.py): taken on SQLite only.
    write_turns: WriteTurns
    # The embedded runner's name while one runs in this process (compose.py): /readyz
    # watches its heartbeat.
    runner_name: str | None = None

    @classmethod
    def create(cls, settings: Settings) -> Context:
        store = Store(settings.database_url, settings.database_timeout_seconds)
        passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        audit = AuditLog(store)
        auth = Authenticator(settings, store, passwords, audit)
        at_once = settings.writes_at_once if store.is_sqlite else 0
        turns = WriteTurns(at_once, settings.write_share)
        return cls(settings, store, passwords, auth, audit, turns)


def context(request: Request) -> Context:
    """The context of the app serving ``request`` (create_app keeps it in app.state): how a
    module-level endpoint reaches the store and the authenticator, for two attribute reads."""
    return request.app.state.context
