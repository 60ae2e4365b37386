"""Who is calling: Basic credentials, a session cookie or an API token (docs/api.md §3).
A cookie-authenticated request that changes anything must also carry the session's CSRF
token (csrf.py).

Argon2 verification costs tens of milliseconds by design, so a verified Basic header is
remembered under a keyed hash of the header (never the password) for a short while. An entry
holds the Principal object it verified; a change to any user reloads the directory, which makes
new Principal objects, so a changed password, status or rights is never served from the cache.

Argon2 must not stall the requests of a busy client (measured with `make bench`): concurrent
requests carrying the same uncached header share one verification (a client with 32
connections would otherwise cause 32 at once), and an entry in use is verified again in the
background during the last quarter of its life, so it is renewed before it expires. An entry
is never used past its lifetime, and one nobody uses simply expires.

Every password check goes through the login throttle (throttle.py) first; requests sharing a
verification are one attempt.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import time

import anyio.to_thread
from starlette.requests import Request

from ..config import Settings
from ..domain.audit import AuditEntry
from ..domain.clock import now_ms
from ..domain.errors import InvalidCredentials, TooManyRequests, Unauthorized
from ..domain.names import lookup_form
from ..domain.passwords import Passwords
from ..domain.users import Principal
from ..logs import current_request_id
from ..store.core import Store
from ..store.sessions import live_session
from ..store.users import token_hash
from .audit import AuditLog, note_principal
from .client import Peers
from .csrf import check_csrf
from .throttle import LoginThrottle

_CACHE_LIMIT = 100_000


class Authenticator:
    def __init__(
        self, settings: Settings, store: Store, passwords: Passwords, audit: AuditLog
    ) -> None:
        self.settings = settings
        self.store = store
        self.passwords = passwords
        self.audit = audit
        self.throttle = LoginThrottle.from_settings(settings)
        self.peers = Peers(settings.trusted_proxies)
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        # Verifications in progress, by cache key: later requests with that header wait for it.
        self._verifying: dict[bytes, asyncio.Future[Principal]] = {}
        self._cache_ttl = settings.credential_cache_seconds
        # A real hash to verify against for unknown logins, so response time does not tell
        # which logins exist.
        self._decoy_hash = passwords.hash("opsjobs-decoy")

    async def authenticate(self, request: Request) -> Principal:
        """Who is calling, decided on a directory at least as new as the database was when
        the request began: a user, password or right changed through another process or
        host a moment ago is honoured here (read-your-writes, docs/deployment.md)."""
        await self.store.catch_up()
        return note_principal(request, await self.identify(request))

    async def identify(self, request: Request) -> Principal:
        """Who is calling, as this process's directory knows it now, without catching up.
        Only for a caller that reads the directory revision along with its own data and
        identifies again on a newer one (GET /jobs/:id)."""
        header = request.headers.get("authorization")
        if header is not None and header[:6].lower() == "basic ":
            return await self._basic(header, request)
        params = request.query_params
        token = params.get("auth-token") or params.get("api-token")
        if token is not None:
            return self._token(token, request)
        session_id = request.cookies.get("sid")
        if session_id:
            return await self._session(session_id, request)
        raise Unauthorized("Not logged in.")

    async def _basic(self, header: str, request: Request) -> Principal:
        # Keyed BLAKE2b is a MAC like HMAC-SHA256, at a third of its cost here (OpenSSL 3
        # looks the digest up by name on every HMAC call).
        key = hashlib.blake2b(header.encode(), key=self.settings.cache_key, digest_size=32).digest()
        cached = self._cache.get(key)
        if cached is not None:
            principal, expires = cached
            now = time.monotonic()
            if (
                now < expires
                and self.store.directory.principals.get(principal.id) is principal
                and principal.may_log_in(now_ms())
            ):
                if now > expires - self._cache_ttl / 4 and key not in self._verifying:
                    client = self.peers.address(request)  # only a verification needs it
                    self._start_verification(key, header, client, renewal=True)  # unawaited
                return principal
            del self._cache[key]
        verifying = self._verifying.get(key) or self._start_verification(
            key, header, self.peers.address(request)
        )
        # Shielded: a waiter whose client went away does not cancel the others' verification.
        return await asyncio.shield(verifying)

    def _start_verification(
        self, key: bytes, header: str, client: str, renewal: bool = False
    ) -> asyncio.Future:
        verifying = asyncio.ensure_future(self._verify_basic(key, header, client, renewal))
        self._verifying[key] = verifying
        verifying.add_done_callback(functools.partial(self._verified, key))
        return verifying

    def _verified(self, key: bytes, done: asyncio.Future[Principal]) -> None:
        del self._verifying[key]
        if not done.cancelled():
            done.exception()  # retrieved: a failure nobody waited for any more is not logged

    async def _verify_basic(self, key: bytes, header: str, client: str, renewal: bool) -> Principal:
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            login, _, password = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            self.audit.login_failed(None, client, "basic", 401)
            raise InvalidCredentials() from None
        principal = await self.check_password(login, password, client, "basic")
        if not renewal:  # a credential's first use, or its first after its entry expired
            self.audit.add(self._logged_in(principal, client, "basic"))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (principal, time.monotonic() + self._cache_ttl)
        return principal

    async def check_password(
        self, login: str, password: str, client: str, method: str = "password"
    ) -> Principal:
        """Verify a login and password: the Principal, or InvalidCredentials; TooManyRequests
        when the throttle refuses the attempt, which it counts before the slow check runs.
        A refusal is recorded in the audit log as a failed log-in of ``login`` by ``method``
        (never the password)."""
        try:
            return await self._check_password(login, password, client)
        except (InvalidCredentials, TooManyRequests) as exc:
            status = 429 if isinstance(exc, TooManyRequests) else 401
            self.audit.login_failed(login, client, method, status)
            raise

    async def _check_password(self, login: str, password: str, client: str) -> Principal:
        with self.throttle.attempt(login, client) as attempt:
            await self.store.catch_up()  # a user made or changed elsewhere a moment ago counts
            directory = self.store.directory
            principal = directory.principal_by_login(login) or directory.principal_by_login(
                lookup_form(login)
            )
            password_hash = principal.password_hash if principal else self._decoy_hash
            ok = await anyio.to_thread.run_sync(self.passwords.verify, password_hash, password)
            if not ok or principal is None or not principal.may_log_in(now_ms()):
                raise InvalidCredentials()
            attempt.forgive()
        return principal

    async def check_token(self, token: str, request: Request) -> Principal:
        """The user an API token names (for a log-in with it), or 401 Invalid API token."""
        await self.store.catch_up()  # a token issued elsewhere a moment ago counts
        return self._token(token, request)

    def _token(self, token: str, request: Request) -> Principal:
        principal = self.store.directory.principal_by_token_hash(token_hash(token))
        if principal is None or not principal.may_log_in(now_ms()):
            # The login is unknown: a token names nobody until it matches.
            self.audit.login_failed(None, self.peers.address(request), "token", 401)
            raise Unauthorized("Invalid API token.")
        return principal

    @staticmethod
    def _logged_in(principal: Principal, client: str, method: str) -> AuditEntry:
        return AuditEntry(
            "auth.login",
            actor_id=principal.id,
            actor_login=principal.login,
            address=client,
            target_type="user",
            target_id=principal.id,
            detail={"method": method},
            request_id=current_request_id(),
        )

    async def _session(self, session_id: str, request: Request) -> Principal:
        session = await live_session(
            self.store, session_id, self.settings.session_idle_seconds * 1000
        )
        principal = self.store.directory.principals.get(session.user_id) if session else None
        if principal is None or not principal.may_log_in(now_ms()):
            raise Unauthorized("Session expired.")
        # After the session is known good: a stale cookie is a 401, as before.
        check_csrf(request, session.csrf_hash)
        return principal
