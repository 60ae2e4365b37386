"""Settings, read from the environment (``OPSJOBS_*``) with defaults for one machine.

Each setting is declared once, as a field of :class:`Settings`: its name, type and default,
and through :func:`setting` its one-line meaning; its environment variable is its name in
capitals after ``OPSJOBS_``. :meth:`Settings.from_env` reads them all from that declaration,
and a test holds the README's table of settings to it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "OPSJOBS_"
DEFAULT_DATABASE_PATH = Path("var") / "opsjobs.db"


def default_database_url() -> str:
    # Relative to the working directory, so two checkouts never share one database.
    return f"sqlite+aiosqlite:///{DEFAULT_DATABASE_PATH}"


# -- reading one variable: (variable name, its non-empty text) → value ----------------------


def _number(convert: Callable[[str], Any]) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            return convert(raw)
        except ValueError as exc:
            raise SystemExit(f"{name} must be a number, got {raw!r}") from exc

    return parse


def _flag(_name: str, raw: str) -> bool:
    return raw.strip().lower() not in ("0", "false", "no", "off")


def _text(_name: str, raw: str) -> str:
    return raw


def _tags(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(tag.strip() for tag in raw.split(",") if tag.strip())


def _networks(name: str, raw: str) -> tuple[str, ...]:
    networks = _tags(name, raw)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise SystemExit(f"{name}: {network!r} is not an address or network") from exc
    return networks


# By the field's declared type; a setting may name another reader (setting(parse=...)).
_READERS: dict[str, Callable[[str, str], Any]] = {
    "int": _number(int),
    "float": _number(float),
    "bool": _flag,
    "str": _text,
    "str | None": _text,
    "tuple[str, ...]": _tags,
}


def setting(
    default: Any = dataclasses.MISSING,
    meaning: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    parse: Callable[[str, str], Any] | None = None,
    shown: str | None = None,
) -> Any:
    """Declare a field of Settings as a setting read from the environment.

    ``shown``: the default as the README spells it, when the value's own spelling is not it.
    """
    metadata = {"setting": {"meaning": meaning, "parse": parse, "shown": shown}}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Declared:
    """One setting as declared: what the README documents and from_env reads."""

    name: str
    env: str
    type: str
    default: Any
    shown_default: str
    meaning: str
    parse: Callable[[str, str], Any]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if value == ():
        return "(none)"
    return f"`{value}`"


def declared() -> list[Declared]:
    """Every setting, in declaration order (fields without a declaration are not settings)."""
    found = []
    for f in dataclasses.fields(Settings):
        if "setting" not in f.metadata:
            continue
        meta = f.metadata["setting"]
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        found.append(
            Declared(
                name=f.name,
                env=ENV_PREFIX + f.name.upper(),
                type=str(f.type),
                default=default,
                shown_default=meta["shown"] or _shown(default),
                meaning=meta["meaning"],
                parse=meta["parse"] or _READERS[str(f.type)],
            )
        )
    return found


@dataclass(frozen=True)
class Settings:
    database_url: str = setting(
        factory=default_database_url,
        meaning="sqlite:///path or postgresql://user@host/db",
        shown="`sqlite:///var/opsjobs.db` (relative to the working directory)",
    )
    mqtt_url: str = setting("mqtt://127.0.0.1:1883", "broker for MQTT operations")
    session_idle_seconds: int = setting(3600, "sessions end after this much idle time")
    max_body_bytes: int = setting(1024 * 1024, "larger request bodies are answered 413")
    credential_cache_seconds: int = setting(
        60, "how long a verified Basic credential is remembered (a change to the user forgets it)"
    )
    # Login attempts (failures, and checks under way) within the window before 429: per login
    # from one client address; per client address for all logins; per login from everywhere,
    # a ceiling far above the first so that one address cannot lock a user out.
    auth_failure_limit: int = setting(10, "login attempts for one login from one address")
    auth_address_failure_limit: int = setting(50, "login attempts from one client address")
    auth_login_failure_limit: int = setting(100, "login attempts for one login from anywhere")
    auth_failure_window_seconds: int = setting(60, "the window the login limits count in")
    # Argon2 checks under way at once in this process, and per client address or login: each
    # takes a core and argon2_memory_kib of memory; beyond these a login is answered 429.
    password_checks_at_once: int = setting(8, "Argon2 checks running at once in a process")
    password_checks_per_client: int = setting(4, "Argon2 checks at once per address or login")
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed",
        parse=_networks,
    )
    # Argon2id cost; tests lower it, production keeps argon2-cffi's defaults.
    argon2_time_cost: int = setting(3, "Argon2id passes for new password hashes")
    argon2_memory_kib: int = setting(65536, "Argon2id memory for new password hashes, in KiB")
    # A per-process secret for keying the credential cache; never stored, never configured.
    cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    default_timeout_seconds: int = setting(60, "script timeout when an operation sets none")
    output_cap_bytes: int = setting(1024 * 1024, "output kept per stream and job")
    heartbeat_seconds: float = setting(2.0, "how often each runner says it is alive")
    lost_after_seconds: float = setting(10.0, "a runner silent this long has its jobs lost")
    runner_concurrency: int = setting(8, "jobs a runner runs at once")
    runner_tags: tuple[str, ...] = setting((), "the operation tags a runner takes besides none")
    # `opsjobs serve` runs jobs itself unless this is off (tests that only read jobs, or a
    # deployment where separate `opsjobs runner` processes do all the running).
    embedded_runner: bool = setting(True, "whether `opsjobs serve` runs jobs itself")
    # Runners are woken by an event (in process) or LISTEN/NOTIFY (PostgreSQL); this poll only
    # catches what a lost wake-up would miss.
    runner_poll_seconds: float = setting(5.0, "how often an idle runner looks for jobs")
    stop_grace_seconds: float = setting(
        10.0, "after SIGTERM, how long running jobs may finish before they are cancelled"
    )
    kill_grace_seconds: float = setting(2.0, "between SIGTERM and SIGKILL to a job's process group")
    mqtt_connect_timeout_seconds: float = setting(5.0, "how long an MQTT job waits for the broker")
    work_dir: str | None = setting(
        None,
        "where each script run gets its fresh working directory",
        shown="the system's temporary directory",
    )
    log_level: str = setting("info", "debug, info, warning or error (see logs.py)")
    database_timeout_seconds: float = setting(
        10.0, "how long a request waits for the database before it is answered 503"
    )
    body_timeout_seconds: float = setting(
        20.0, "how long a client has to send a whole request body; then 408"
    )

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """The declared settings from the environment (an empty variable means its default),
        then ``overrides`` that are not None."""
        read = {}
        for s in declared():
            raw = os.environ.get(s.env)
            if raw:
                read[s.name] = s.parse(s.env, raw)
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(cls(**read), **clean)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
