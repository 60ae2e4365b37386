"""Settings, read from the environment (``OPSJOBS_*``) with defaults for one machine."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DATABASE_PATH = Path("var") / "opsjobs.db"


def default_database_url() -> str:
    # Relative to the working directory, so two checkouts never share one database.
    return f"sqlite+aiosqlite:///{DEFAULT_DATABASE_PATH}"


def _env_number(name: str, default: T, convert: Callable[[str], T]) -> T:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


def _env_tags(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name) or ""
    return tuple(tag.strip() for tag in raw.split(",") if tag.strip())


def _env_networks(name: str) -> tuple[str, ...]:
    networks = _env_tags(name)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise SystemExit(f"{name}: {network!r} is not an address or network") from exc
    return networks


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    session_idle_seconds: int = 3600
    max_body_bytes: int = 1024 * 1024
    # Verified Basic credentials are remembered this long (they are also dropped at once when
    # the user changes).
    credential_cache_seconds: int = 60
    # Login attempts (failures, and checks under way) within the window before 429: per login
    # from one client address; per client address for all logins; per login from everywhere,
    # a ceiling far above the first so that one address cannot lock a user out.
    auth_failure_limit: int = 10
    auth_address_failure_limit: int = 50
    auth_login_failure_limit: int = 100
    auth_failure_window_seconds: int = 60
    # Argon2 checks under way at once in this process, and per client address or login: each
    # takes a core and argon2_memory_kib of memory; beyond these a login is answered 429.
    password_checks_at_once: int = 8
    password_checks_per_client: int = 4
    # Addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are
    # believed (the client address for throttling, https for the cookie's Secure flag).
    trusted_proxies: tuple[str, ...] = ()
    # Argon2id cost; tests lower it, production keeps argon2-cffi's defaults.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # A per-process secret for keying the credential cache; never stored.
    cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    default_timeout_seconds: int = 60
    output_cap_bytes: int = 1024 * 1024
    heartbeat_seconds: float = 2.0
    lost_after_seconds: float = 10.0
    runner_concurrency: int = 8
    runner_tags: tuple[str, ...] = ()
    # `opsjobs serve` runs jobs itself unless this is off (tests that only read jobs, or a
    # deployment where separate `opsjobs runner` processes do all the running).
    embedded_runner: bool = True
    # Runners are woken by an event (in process) or LISTEN/NOTIFY (PostgreSQL); this poll only
    # catches what a lost wake-up would miss.
    runner_poll_seconds: float = 5.0
    # After SIGTERM a runner lets running jobs finish this long, then cancels the rest.
    stop_grace_seconds: float = 10.0
    # Between SIGTERM and SIGKILL to a job's process group (timeout, cancel, shutdown).
    kill_grace_seconds: float = 2.0
    mqtt_connect_timeout_seconds: float = 5.0
    # Where each script run gets its fresh working directory (default: the system's temp
    # directory, $TMPDIR).
    work_dir: str | None = None
    # Logging: debug, info, warning or error (see logs.py).
    log_level: str = "info"
    # How long a request waits for the database (a connection to PostgreSQL, a lock on SQLite)
    # before it is answered 503 with Retry-After.
    database_timeout_seconds: float = 10.0
    # How long a client has to send a whole request body once its headers are in; then 408.
    body_timeout_seconds: float = 20.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        base = cls(
            database_url=os.environ.get("OPSJOBS_DATABASE_URL") or default_database_url(),
            mqtt_url=os.environ.get("OPSJOBS_MQTT_URL") or "mqtt://127.0.0.1:1883",
            session_idle_seconds=_env_int("OPSJOBS_SESSION_IDLE_SECONDS", 3600),
            max_body_bytes=_env_int("OPSJOBS_MAX_BODY_BYTES", 1024 * 1024),
            credential_cache_seconds=_env_int("OPSJOBS_CREDENTIAL_CACHE_SECONDS", 60),
            auth_failure_limit=_env_int("OPSJOBS_AUTH_FAILURE_LIMIT", 10),
            auth_address_failure_limit=_env_int("OPSJOBS_AUTH_ADDRESS_FAILURE_LIMIT", 50),
            auth_login_failure_limit=_env_int("OPSJOBS_AUTH_LOGIN_FAILURE_LIMIT", 100),
            auth_failure_window_seconds=_env_int("OPSJOBS_AUTH_FAILURE_WINDOW_SECONDS", 60),
            password_checks_at_once=_env_int("OPSJOBS_PASSWORD_CHECKS_AT_ONCE", 8),
            password_checks_per_client=_env_int("OPSJOBS_PASSWORD_CHECKS_PER_CLIENT", 4),
            trusted_proxies=_env_networks("OPSJOBS_TRUSTED_PROXIES"),
            argon2_time_cost=_env_int("OPSJOBS_ARGON2_TIME_COST", 3),
            argon2_memory_kib=_env_int("OPSJOBS_ARGON2_MEMORY_KIB", 65536),
            default_timeout_seconds=_env_int("OPSJOBS_DEFAULT_TIMEOUT_SECONDS", 60),
            output_cap_bytes=_env_int("OPSJOBS_OUTPUT_CAP_BYTES", 1024 * 1024),
            heartbeat_seconds=_env_float("OPSJOBS_HEARTBEAT_SECONDS", 2.0),
            lost_after_seconds=_env_float("OPSJOBS_LOST_AFTER_SECONDS", 10.0),
            runner_concurrency=_env_int("OPSJOBS_RUNNER_CONCURRENCY", 8),
            runner_tags=_env_tags("OPSJOBS_RUNNER_TAGS"),
            embedded_runner=_env_flag("OPSJOBS_EMBEDDED_RUNNER", True),
            runner_poll_seconds=_env_float("OPSJOBS_RUNNER_POLL_SECONDS", 5.0),
            stop_grace_seconds=_env_float("OPSJOBS_STOP_GRACE_SECONDS", 10.0),
            kill_grace_seconds=_env_float("OPSJOBS_KILL_GRACE_SECONDS", 2.0),
            mqtt_connect_timeout_seconds=_env_float("OPSJOBS_MQTT_CONNECT_TIMEOUT_SECONDS", 5.0),
            work_dir=os.environ.get("OPSJOBS_WORK_DIR") or None,
            log_level=os.environ.get("OPSJOBS_LOG_LEVEL") or "info",
            database_timeout_seconds=_env_float("OPSJOBS_DATABASE_TIMEOUT_SECONDS", 10.0),
            body_timeout_seconds=_env_float("OPSJOBS_BODY_TIMEOUT_SECONDS", 20.0),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(base, **clean)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
