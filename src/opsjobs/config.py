"""Settings, read from the environment (``OPSJOBS_*``) with defaults for one machine."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATABASE_PATH = Path("var") / "opsjobs.db"


def default_database_url() -> str:
    # Relative to the working directory, so two checkouts never share one database.
    return f"sqlite+aiosqlite:///{DEFAULT_DATABASE_PATH}"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    session_idle_seconds: int = 3600
    max_body_bytes: int = 1024 * 1024
    # Verified Basic credentials are remembered this long (they are also dropped at once when
    # the user changes).
    credential_cache_seconds: int = 60
    # Authentication failures per login or per client address before 429.
    auth_failure_limit: int = 10
    auth_failure_window_seconds: int = 60
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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        base = cls(
            database_url=os.environ.get("OPSJOBS_DATABASE_URL") or default_database_url(),
            mqtt_url=os.environ.get("OPSJOBS_MQTT_URL") or "mqtt://127.0.0.1:1883",
            session_idle_seconds=_env_int("OPSJOBS_SESSION_IDLE_SECONDS", 3600),
            max_body_bytes=_env_int("OPSJOBS_MAX_BODY_BYTES", 1024 * 1024),
            credential_cache_seconds=_env_int("OPSJOBS_CREDENTIAL_CACHE_SECONDS", 60),
            auth_failure_limit=_env_int("OPSJOBS_AUTH_FAILURE_LIMIT", 10),
            auth_failure_window_seconds=_env_int("OPSJOBS_AUTH_FAILURE_WINDOW_SECONDS", 60),
            default_timeout_seconds=_env_int("OPSJOBS_DEFAULT_TIMEOUT_SECONDS", 60),
            output_cap_bytes=_env_int("OPSJOBS_OUTPUT_CAP_BYTES", 1024 * 1024),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(base, **clean)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
