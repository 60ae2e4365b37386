"""Settings, read from the environment (``OPSJOBS_*``) and an optional TOML file, with
defaults for one machine.

Each setting is declared once, as a field of :class:`Settings`: its name, type and default,
and through :func:`setting` its one-line meaning and the values it accepts; its environment
variable is its name in capitals after ``OPSJOBS_``, its key in the file its name.
:meth:`Settings.from_env` reads them all from that declaration (default, then file, then
environment), and a test holds the README's table of settings to it. A value a setting does
not accept stops the process at start with the setting's name and what it accepts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import secrets
import shlex
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "OPSJOBS_"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("logfmt", "json")
# The TOML file of settings, when a command is given none with --config.
CONFIG_ENV = "OPSJOBS_CONFIG"
DEFAULT_DATABASE_PATH = Path("var") / "opsjobs.db"
# A hundred years: the most any retention setting or `opsjobs purge --older-than` accepts.
MAX_RETENTION_DAYS = 36500


def default_database_url() -> str:
    # Relative to the working directory, so two checkouts never share one database.
    return f"sqlite+aiosqlite:///{DEFAULT_DATABASE_PATH}"


# -- reading one variable: (variable name, its non-empty text) → value ----------------------


class InvalidSetting(SystemExit):
    """A value a setting does not accept: the process stops with this one line (SystemExit
    prints it, without a traceback, and exits with status 1)."""


def _number(convert: Callable[[str], Any]) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            return convert(raw)
        except ValueError:
            raise InvalidSetting(f"{name} must be a number, got {raw!r}") from None

    return parse


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word not in _TRUE + _FALSE:
        raise InvalidSetting(f"{name} must be true or false (or 1/0, yes/no, on/off), got {raw!r}")
    return word in _TRUE


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
            raise InvalidSetting(f"{name}: {network!r} is not an address or network") from exc
    return networks


# A command line, split once when the settings are read, as a shell would split it, but
# never run by one: the argv it gives is what runs (execution/phone.py).
Argv = tuple[str, ...]


def _argv(name: str, raw: str) -> Argv:
    try:
        argv = tuple(shlex.split(raw))
    except ValueError as exc:
        raise InvalidSetting(f"{name}: not a command line: {exc}") from None
    if any("\0" in arg for arg in argv):
        raise InvalidSetting(f"{name}: a command line holds no NUL characters")
    return argv


# An address, or a display name and an address in <>: one sender, never a second header
# or a second address (a name holds none of the characters that would start one).
_ADDRESS = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
_SENDER = re.compile(rf"{_ADDRESS}|[^<>\"(),:;@\[\]\\\x00-\x1f\x7f]{{1,100}} <{_ADDRESS}>")


def _sender(name: str, raw: str) -> str:
    if _SENDER.fullmatch(raw) is None:
        raise InvalidSetting(
            f"{name} must be an e-mail address (ops@example.org or Ops <ops@example.org>), "
            f"got {raw!r}"
        )
    return raw


# What a message template (notify_subject, notify_template) may name, as $name or ${name};
# execution/notice.py gives each its value (docs/api.md, "Trigger actions: messages").
NOTIFY_FIELDS = (
    "entity_kind",
    "entity_id",
    "entity_name",
    "state",
    "state_id",
    "previous_state",
    "previous_state_id",
    "time",
    "time_ms",
    "trigger_type",
    "delivery_id",
)


def _template(name: str, raw: str) -> str:
    template = string.Template(raw)
    if not template.is_valid():
        raise InvalidSetting(f"{name}: a $ must start a field name or be written $$, got {raw!r}")
    unknown = sorted(set(template.get_identifiers()) - set(NOTIFY_FIELDS))
    if unknown:
        raise InvalidSetting(
            f"{name}: no field {', '.join(unknown)}; the fields are {', '.join(NOTIFY_FIELDS)}"
        )
    return raw


def _subject(name: str, raw: str) -> str:
    if "\n" in raw or "\r" in raw:
        raise InvalidSetting(f"{name}: a subject is one line")
    return _template(name, raw)


def _label_name(name: str, raw: str) -> str:
    if _LABEL_NAME.fullmatch(raw) is None:
        raise InvalidSetting(
            f"{name} must be a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*), got {raw!r}"
        )
    return raw


def _alert_state(name: str, where: str, value: Any) -> None:
    if type(value) is not int or value not in ALERT_STATE_IDS:
        states = ", ".join(map(str, ALERT_STATE_IDS))
        raise InvalidSetting(f"{name}: {where} must be a built-in state ({states}), got {value!r}")


def _alert_states(name: str, raw: str) -> str:
    """``{"severity": {value: state}, "alertname": {value: state}, "default": state,
    "resolved": state}``, all four given; answers the text as given once it is checked."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidSetting(f"{name} must be a JSON object, got {raw[:200]!r}") from None
    keys = ("severity", "alertname", "default", "resolved")
    if not isinstance(value, dict) or sorted(value) != sorted(keys):
        raise InvalidSetting(f"{name} must be a JSON object of exactly {', '.join(keys)}")
    for key in ("severity", "alertname"):
        names = value[key]
        if not isinstance(names, dict) or len(names) > ALERT_STATE_NAMES_MAX:
            raise InvalidSetting(
                f"{name}: {key} must be an object of at most {ALERT_STATE_NAMES_MAX} names to states"
            )
        for label, state in names.items():
            _alert_state(name, f"{key}.{label}", state)
    _alert_state(name, "default", value["default"])
    _alert_state(name, "resolved", value["resolved"])
    return raw


# By the field's declared type; a setting may name another reader (setting(parse=...)).
_READERS: dict[str, Callable[[str, str], Any]] = {
    "int": _number(int),
    "float": _number(float),
    "bool": _flag,
    "str": _text,
    "str | None": _text,
    "tuple[str, ...]": _tags,
    "Argv": _argv,
}


def setting(
    default: Any = dataclasses.MISSING,
    meaning: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    parse: Callable[[str, str], Any] | None = None,
    shown: str | None = None,
    positive: bool = False,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    secret: bool = False,
) -> Any:
    """Declare a field of Settings as a setting read from the environment or the file.

    ``shown``: the default as the README spells it, when the value's own spelling is not it.
    A number is never negative, and with ``positive`` never 0 either, nor above ``maximum``
    when one is given; ``choices``: the only texts accepted. ``secret``: ``config show`` masks it (a URL only its password).
    """
    metadata = {
        "setting": {
            "meaning": meaning,
            "parse": parse,
            "shown": shown,
            "positive": positive,
            "maximum": maximum,
            "choices": choices,
            "secret": secret,
        }
    }
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
    positive: bool = False
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False

    def accepts(self) -> str:
        """What the setting accepts, in words, for the message that refuses a value."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type in ("int", "float"):
            whole = "a whole number" if self.type == "int" else "a number"
            most = "" if self.maximum is None else f" and at most {self.maximum:g}"
            return f"{whole} {'above 0' if self.positive else '0 or more'}{most}"
        if self.type == "bool":
            return "true or false"
        if self.parse is _networks:
            return "addresses or networks such as 10.0.0.0/8 (a list, or comma-separated)"
        if self.parse is _argv:
            return "a command line (a text split as a shell would, or a list of arguments)"
        if self.parse in (_template, _subject):
            return "a text with fields $name of: " + ", ".join(NOTIFY_FIELDS)
        if self.type == "tuple[str, ...]":
            return "a list of texts (or one comma-separated text)"
        return "a text"

    def read(self, where: str, raw: str) -> Any:
        """``raw`` text read as the setting's value, or stop, saying what it accepts."""
        try:
            value = self.parse(where, raw)
        except InvalidSetting as exc:
            if self.accepts() in str(exc.code):
                raise
            raise InvalidSetting(f"{exc.code} ({where} accepts {self.accepts()})") from None
        return self.check(where, value)

    def check(self, where: str, value: Any) -> Any:
        """``value`` if the setting accepts it; else stop, naming ``where`` it came from."""
        number = self.type in ("int", "float")
        too_small = number and (value <= 0 if self.positive else value < 0)
        too_big = number and self.maximum is not None and value > self.maximum
        unknown = self.choices and str(value).lower() not in self.choices
        if too_small or too_big or unknown:
            raise InvalidSetting(f"{where} must be {self.accepts()}, got {value!r}")
        return value


# A setting named like this (…_password, …_token, …_key) holds a secret, declared so or not.
_SECRET_NAME = re.compile(r"(^|_)(password|secret|token|key)$")


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
                positive=meta["positive"],
                maximum=meta["maximum"],
                choices=meta["choices"],
                secret=meta["secret"] or _SECRET_NAME.search(f.name) is not None,
            )
        )
    return found


SMTP_SECURITY = ("none", "starttls", "tls")
# Alerts that set states (docs/api.md, "Alerts that set states"). The states an alert may
# set: SAYMON's built-in ones (domain/states.BUILT_IN; a test holds the two equal).
ALERT_STATE_IDS = (1, 3, 4, 5, 6, 7, 8, 9)
ALERT_STATE_NAMES_MAX = 64
DEFAULT_ALERT_STATES = (
    '{"severity": {"critical": 5, "warning": 4}, "alertname": {}, "default": 5, "resolved": 3}'
)
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
DEFAULT_SUBJECT = "$entity_name: $state"
DEFAULT_TEMPLATE = (
    "$entity_kind $entity_name ($entity_id) is $state, was $previous_state, since $time"
)


@dataclass(frozen=True)
class Settings:
    database_url: str = setting(
        factory=default_database_url,
        meaning="sqlite:///path or postgresql://user@host/db",
        shown="`sqlite:///var/opsjobs.db` (relative to the working directory)",
        secret=True,
    )
    mqtt_url: str = setting("mqtt://127.0.0.1:1883", "broker for MQTT operations", secret=True)
    session_idle_seconds: int = setting(
        3600, "sessions end after this much idle time", positive=True
    )
    max_body_bytes: int = setting(
        1024 * 1024, "larger request bodies are answered 413", positive=True
    )
    # The front door (api/front_door.py) answers GET /node/api/jobs/:id and the execute POSTs
    # ahead of the app's middleware; off, every request takes the whole app (same answers,
    # more CPU).
    front_door: bool = setting(True, "whether the hot routes skip the middleware stack")
    credential_cache_seconds: int = setting(
        60, "how long a verified Basic credential is remembered (a change to the user forgets it)"
    )
    # Login attempts (failures, and checks under way) within the window before 429: per login
    # from one client address; per client address for all logins; per login from everywhere,
    # a ceiling far above the first so that one address cannot lock a user out.
    auth_failure_limit: int = setting(
        10, "login attempts for one login from one address", positive=True
    )
    auth_address_failure_limit: int = setting(
        50, "login attempts from one client address", positive=True
    )
    auth_login_failure_limit: int = setting(
        100, "login attempts for one login from anywhere", positive=True
    )
    auth_failure_window_seconds: int = setting(
        60, "the window the login limits count in", positive=True
    )
    # Argon2 checks under way at once in this process, and per client address or login: each
    # takes a core and argon2_memory_kib of memory; beyond these a login is answered 429.
    password_checks_at_once: int = setting(
        8, "Argon2 checks running at once in a process", positive=True
    )
    password_checks_per_client: int = setting(
        4, "Argon2 checks at once per address or login", positive=True
    )
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed",
        parse=_networks,
    )
    # On SQLite, changing requests handled at once in a process, and their share of the time
    # while reads are being served (api/admission.py): a burst of changes cannot starve reads.
    writes_at_once: int = setting(
        1, "changing requests handled at once in a process on SQLite (0: no limit)"
    )
    write_share: float = setting(
        0.05,
        "on SQLite, the share of time changes may take while reads wait",
        positive=True,
        maximum=1.0,
    )
    # Argon2id cost; tests lower it, production keeps argon2-cffi's defaults.
    argon2_time_cost: int = setting(3, "Argon2id passes for new password hashes", positive=True)
    argon2_memory_kib: int = setting(
        65536, "Argon2id memory for new password hashes, in KiB", positive=True
    )
    # A per-process secret for keying the credential cache; never stored, never configured.
    cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    default_timeout_seconds: int = setting(
        60, "script timeout when an operation sets none", positive=True
    )
    output_cap_bytes: int = setting(1024 * 1024, "output kept per stream and job", positive=True)
    heartbeat_seconds: float = setting(2.0, "how often each runner says it is alive", positive=True)
    lost_after_seconds: float = setting(
        10.0, "a runner silent this long has its jobs lost", positive=True
    )
    runner_concurrency: int = setting(8, "jobs a runner runs at once", positive=True)
    runner_tags: tuple[str, ...] = setting((), "the operation tags a runner takes besides none")
    # `opsjobs serve` runs jobs itself unless this is off (tests that only read jobs, or a
    # deployment where separate `opsjobs runner` processes do all the running).
    embedded_runner: bool = setting(True, "whether `opsjobs serve` runs jobs itself")
    # Runners are woken by an event (in process) or LISTEN/NOTIFY (PostgreSQL); this poll only
    # catches what a lost wake-up would miss.
    runner_poll_seconds: float = setting(
        5.0, "how often an idle runner looks for jobs", positive=True
    )
    # State triggers (docs/api.md §14): every `opsjobs serve` process acts on due firings;
    # each firing acts once in total however many do.
    trigger_dispatcher: bool = setting(
        True,
        "whether `opsjobs serve` acts on due trigger firings and due schedules, and moves "
        "running batches on",
    )
    # Firings made in this process, or announced by NOTIFY on PostgreSQL, wake the
    # dispatcher at once; this look catches the rest (other processes on one SQLite file).
    trigger_poll_seconds: float = setting(
        1.0, "how often an idle dispatcher looks for due firings", positive=True
    )
    trigger_late_after_seconds: float = setting(
        5.0,
        "a firing (or a schedule's due time) acted on this long after its time was late",
        positive=True,
    )
    stop_grace_seconds: float = setting(
        10.0, "after SIGTERM, how long running jobs may finish before they are cancelled"
    )
    kill_grace_seconds: float = setting(2.0, "between SIGTERM and SIGKILL to a job's process group")
    mqtt_connect_timeout_seconds: float = setting(
        5.0, "how long an MQTT job waits for the broker", positive=True
    )
    work_dir: str | None = setting(
        None,
        "where each script run gets its fresh working directory",
        shown="the system's temporary directory",
    )
    log_level: str = setting(
        "info", "debug, info, warning or error (see logs.py)", choices=LOG_LEVELS
    )
    log_format: str = setting(
        "logfmt", "logfmt (key=value) or json, one line per event", choices=LOG_FORMATS
    )
    database_timeout_seconds: float = setting(
        10.0,
        "how long a request waits for the database before it is answered 503",
        positive=True,
    )
    body_timeout_seconds: float = setting(
        20.0, "how long a client has to send a whole request body; then 408", positive=True
    )
    # Read by the retention purger (store/audit.py purge_audit deletes one batch at a time).
    audit_retention_days: int = setting(
        365, "audit log rows older than this many days are deleted; 0 keeps them forever"
    )
    # /metrics shows how busy the server is and which runners exist: open to these networks
    # (the machine itself by default), and elsewhere to a user with manage-users only.
    metrics_open_to: tuple[str, ...] = setting(
        ("127.0.0.0/8", "::1"),
        "client networks that may read /metrics without credentials",
        parse=_networks,
        shown="`127.0.0.0/8, ::1`",
    )
    # Messages of state triggers (execution/notify.py; docs/api.md, "Trigger actions:
    # messages"). E-mail goes through this SMTP server; none configured, it is not sent.
    smtp_host: str = setting(
        "", "SMTP server for trigger e-mail; none: e-mail is not sent", shown="(none)"
    )
    smtp_port: int = setting(587, "the SMTP server's port", positive=True)
    smtp_security: str = setting(
        "starttls",
        "none, starttls (required, not merely tried) or tls (TLS from the first byte)",
        choices=SMTP_SECURITY,
    )
    smtp_from: str = setting(
        "opsjobs@localhost", "the sender of trigger e-mail (From and MAIL FROM)", parse=_sender
    )
    smtp_user: str = setting("", "login at the SMTP server; none: no login", shown="(none)")
    smtp_password: str = setting("", "password at the SMTP server", shown="(none)", secret=True)
    smtp_timeout_seconds: float = setting(
        30.0, "how long each step of an SMTP conversation may take", positive=True
    )
    sms_command: Argv = setting(
        (), "the command that sends an SMS (phone and text as its last two arguments)", parse=_argv
    )
    voice_command: Argv = setting(
        (), "the command that makes a voice call (phone and text as its last two arguments)",
        parse=_argv,
    )  # fmt: skip
    notify_command_timeout_seconds: float = setting(
        30.0, "how long an SMS or voice command may run", positive=True
    )
    notify_subject: str = setting(
        DEFAULT_SUBJECT, "the subject of trigger e-mail (a template)", parse=_subject,
        shown=f"`{DEFAULT_SUBJECT}`",
    )  # fmt: skip
    notify_template: str = setting(
        DEFAULT_TEMPLATE, "the text of trigger messages (a template)", parse=_template,
        shown=f"`{DEFAULT_TEMPLATE}`",
    )  # fmt: skip
    notify_attempts_max: int = setting(
        5, "attempts at a message before it is failed", positive=True
    )
    notify_retry_seconds: float = setting(
        30.0, "the wait before the second attempt at a message; doubled for each next one",
        positive=True,
    )  # fmt: skip
    notify_concurrency: int = setting(4, "messages a process sends at once", positive=True)
    # Alerts that set states (api/routes/alerts.py): which label names an alert's entity,
    # and which state an alert sets.
    alert_id_label: str = setting(
        "opsjobs_id", "the alert label that names an object's or link's ID", parse=_label_name
    )
    alert_discovery_label: str = setting(
        "opsjobs_discovery_id", "the alert label that names an object's discovery ID",
        parse=_label_name,
    )  # fmt: skip
    alert_states: str = setting(
        DEFAULT_ALERT_STATES, "the state an alert sets, by severity or alert name (JSON)",
        parse=_alert_states, shown=f"`{DEFAULT_ALERT_STATES}`",
    )  # fmt: skip
    # Retention (service/retention.py, docs/deployment.md "Retention"). Days are bounded so
    # that a cutoff in milliseconds always fits the 64-bit columns.
    retention_days: int = setting(
        0, "finished jobs older than this many days are purged; 0 keeps them for ever",
        maximum=MAX_RETENTION_DAYS,
    )  # fmt: skip
    retention_keep_per_owner_operation: int = setting(
        10, "the most recent finished jobs of each object or link and operation always kept",
        maximum=1000,
    )  # fmt: skip
    output_retention_days: int = setting(
        0, "stored output of jobs older than this many days is purged; 0: kept as long as the job",
        maximum=MAX_RETENTION_DAYS,
    )  # fmt: skip
    purge_interval_seconds: float = setting(
        3600.0, "how often each server looks for jobs and output to purge", positive=True,
        maximum=7 * 86400,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if 0 < self.retention_days < self.output_retention_days:
            raise InvalidSetting(
                f"OPSJOBS_OUTPUT_RETENTION_DAYS ({self.output_retention_days}) must not exceed "
                f"OPSJOBS_RETENTION_DAYS ({self.retention_days}): output goes with its job"
            )

    @classmethod
    def from_env(cls, config: str | Path | None = None, **overrides: object) -> Settings:
        """The declared settings: defaults, then the TOML file ``config`` (else the one
        OPSJOBS_CONFIG names, if any), then the environment (an empty variable means no
        value), then ``overrides`` that are not None."""
        return resolve(config, **overrides).settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# -- where each value comes from: default, file, env ----------------------------------------

DEFAULT, FILE, ENV, OPTION = "default", "file", "env", "option"
_TEXT_TYPES = ("str", "str | None", "tuple[str, ...]", "Argv")


def _typed(s: Declared, where: str, value: Any) -> Any:
    """A value as TOML typed it, in the setting's type; refused if TOML typed it otherwise."""
    if s.type == "tuple[str, ...]" and isinstance(value, list):
        if all(isinstance(item, str) and "," not in item for item in value):
            value = ",".join(value)
    if s.type == "Argv" and isinstance(value, list):
        if all(isinstance(item, str) and "\0" not in item for item in value):
            return tuple(value)  # an argv already: nothing to split
    if s.type in _TEXT_TYPES and isinstance(value, str):
        return s.read(where, value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {
        "int": number and isinstance(value, int),
        "float": number,
        "bool": isinstance(value, bool),
    }.get(s.type, False)
    if not fits:
        raise InvalidSetting(f"{where} must be {s.accepts()}, got {value!r}")
    return float(value) if s.type == "float" else value


def read_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file sets (top-level keys, named as the settings are)."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise InvalidSetting(f"{path}: cannot read the settings file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSetting(f"{path}: not a TOML file: {exc}") from None
    by_name = {s.name: s for s in declared()}
    values = {}
    for key, value in data.items():
        s = by_name.get(key)
        if s is None:
            raise InvalidSetting(
                f"{path}: {key!r} is not a setting; the settings are {', '.join(by_name)}"
            )
        where = f"{path}: {key}"
        values[key] = s.check(where, _typed(s, where, value))  # text: checked by read
    return values


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    sources: dict[str, str]  # setting name → DEFAULT, FILE, ENV or OPTION


def resolve(config: str | Path | None = None, **overrides: object) -> Resolved:
    """The settings and where each came from; the environment wins over the file."""
    path = config or os.environ.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    sources = {s.name: DEFAULT for s in declared()}
    if path is not None:
        values.update(read_file(Path(path)))
        sources.update(dict.fromkeys(values, FILE))
    for s in declared():
        raw = os.environ.get(s.env)
        if raw:
            values[s.name] = s.read(s.env, raw)
            sources[s.name] = ENV
    clean = {k: v for k, v in overrides.items() if v is not None}
    sources.update(dict.fromkeys(clean, OPTION))
    return Resolved(replace(Settings(**values), **clean), sources)


# -- showing a value without its secret -----------------------------------------------------

MASK = "***"
# A query parameter whose name says it holds a secret (asyncpg takes ?password=...).
_SECRET_PARAMETER = re.compile(r"(?i)([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*")


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        user = userinfo.partition(":")[0]
        url = url.replace(f"{userinfo}@", f"{user}:{MASK}@", 1)
    return _SECRET_PARAMETER.sub(rf"\1{MASK}", url)


def masked(s: Declared, value: Any) -> Any:
    """``value`` as ``config show`` prints it: a secret's secret part replaced by ***."""
    if not s.secret or not value or not isinstance(value, str):
        return value
    return _masked_url(value) if "://" in value else MASK
