"""Logging: one configuration for every process (``serve`` and its workers, ``runner``, every
command), structlog's events and the standard library's records (granian, asyncpg,
SQLAlchemy, uvicorn) alike.

Each event is one line on stderr: ``key=value`` (logfmt), or a JSON object with the
``json`` format for log shippers. A request's ID (api/request_id.py) is bound to the logging
context for the request's lines, and a job's runner binds it again for that job's lines. An exception is rendered once, as
the plain text of its traceback (frames and message, never local variables: a frame's locals
hold request headers and credentials), capped in length, inside that same line. As defence in
depth every line passes through ``redact``, which blanks the shapes a secret takes (an
``Authorization`` value, ``auth-token=``/``sid=``/``password=`` values, a password in a URL);
the primary rule stays that nothing logs a request's headers, cookies or query string.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import re
import sys
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import structlog

REDACTED = "[redacted]"

# Names under which a secret travels: query parameters, cookies, JSON keys, keyword arguments.
_SECRET_NAMES = (
    r"auth[-_]?token|api[-_]?token|access[-_]?token|api[-_]?key|token|sid|session[-_]?id"
    r"|authenticationToken|csrf|x-csrf-token"
    r"|password|passwd|secret|authorization|cookie|set-cookie"
)
# A key that is a secret's name, or ends in one after a separator (``db.password``).
_SECRET_NAME = re.compile(rf"(?i)(?<![\w-])(?:{_SECRET_NAMES})$")
_PATTERNS = (
    # An Authorization header's credentials, in any rendering of the header.
    (re.compile(r"(?i)\b(basic|bearer|digest)(\s+)[A-Za-z0-9._~+/=-]{2,}"), rf"\1\2{REDACTED}"),
    # name=value: query strings, Cookie headers, logfmt, keyword-argument reprs.
    (
        re.compile(
            rf"(?i)(?<![\w-])({_SECRET_NAMES})(\s*=\s*)(?!\[redacted\])"
            r"(?:\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|[^\s&;,'\"()\[\]{}]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
    # "name": "value" and 'name': b'value': JSON documents, dict and tuple reprs.
    (
        re.compile(
            rf"(?i)([\"']?)(?<![\w-])({_SECRET_NAMES})\1(\s*[:,]\s*)b?([\"'])(?:\\.|(?!\4).)*\4"
        ),
        rf"\1\2\1\3\4{REDACTED}\4",
    ),
    # A password inside a URL: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@'\"]*):[^\s@/'\"]+@"), rf"\1:{REDACTED}@"),
)


# Every shape above holds one of these (lower case): a secret name holds one of the first
# ones, an Authorization value its scheme, a URL's password its "://". Looking for them with
# ``in`` costs a fortieth of a search with the patterns, and most log lines hold none.
SECRET_HINTS = (
    "token", "key", "sid", "session", "csrf", "passw", "secret", "authorization", "cookie",
    "basic", "bearer", "digest", "://",
)  # fmt: skip


def may_hold_secret(text: str) -> bool:
    """False only if no shape of ``redact`` can match ``text``. The patterns ignore case by
    Unicode's rules, under which a few other letters match ASCII ones (the Kelvin sign is a
    k): only ASCII text is judged by its lower case, any other is always looked at."""
    if not text.isascii():
        return True
    lowered = text.lower()
    for hint in SECRET_HINTS:  # a loop, not any(): no generator per value of every line
        if hint in lowered:
            return True
    return False


def redact(text: str) -> str:
    """``text`` with every value in a secret's shape replaced by ``[redacted]``."""
    if not may_hold_secret(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# An exception's text is bounded: the innermost frames say where it failed, and a recursion
# error must not fill the log.
MAX_TRACEBACK_FRAMES = 30
MAX_EXCEPTION_CHARS = 8000
_MARKERS = re.compile(r"^\s*[~^]+\s*$")


def format_exception(exc_info: Any) -> str:
    """The plain traceback of ``exc_info``: innermost frames only, no local variables."""
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not exc_info or exc_info[0] is None:
        return ""
    lines = traceback.format_exception(*exc_info, limit=-MAX_TRACEBACK_FRAMES)
    # Without the ^^^^ lines that mark the failing expression: the frame's line says it.
    text = "\n".join(
        line for line in "".join(lines).splitlines() if not _MARKERS.match(line)
    ).rstrip()
    if len(text) > MAX_EXCEPTION_CHARS:
        half = MAX_EXCEPTION_CHARS // 2
        text = (
            f"{text[:half]}\n[... {len(text) - MAX_EXCEPTION_CHARS} characters ...]\n{text[-half:]}"
        )
    return text


def _render_exception(_logger: Any, _name: str, event: dict) -> dict:
    exc_info = event.pop("exc_info", None)
    if exc_info:
        rendered = format_exception(exc_info)
        if rendered:
            event["exception"] = rendered
    return event


@functools.lru_cache(maxsize=1024)  # keys are names in the code, not data: a few dozen
def _is_secret_name(key: str) -> bool:
    return _SECRET_NAME.search(key) is not None


def _redact_values(event: dict) -> bool:
    """Redact the event's values in place; answers whether the rendered line may still
    hold a secret's shape, spread over a key and its value (``user.password=...``)."""
    hinted = False
    texts: list[str] = []
    for key, value in event.items():
        if key.startswith("_") or value is None:
            continue
        if _is_secret_name(key):  # whatever its type: a number can be a secret too
            event[key] = REDACTED
            continue
        hinted = hinted or _key_may_hold_secret(key)
        if isinstance(value, bool | int | float):
            continue
        if not isinstance(value, str):
            value = event[key] = str(value)
        texts.append(value)
    # The values are looked at together, once: most lines hold a hint in none of them, and
    # none can appear across two (no hint holds the NUL between them).
    if texts and may_hold_secret("\0".join(texts)):
        hinted = True
        for key, value in event.items():
            if isinstance(value, str) and not key.startswith("_"):
                event[key] = redact(value)
    return hinted


@functools.lru_cache(maxsize=1024)
def _key_may_hold_secret(key: str) -> bool:
    return may_hold_secret(key)


def _redacting(render: Callable[[Any, str, dict], str]) -> Callable[[Any, str, dict], str]:
    """``render`` of the event with its values redacted, and the line too where a key or a
    value holds a hint of a secret. A line whose keys and values hold none holds none
    either: the renderer adds only separators, quotes and escapes between and around them.
    """

    def redact_and_render(logger: Any, name: str, event: dict) -> str:
        hinted = _redact_values(event)
        line = render(logger, name, event)
        return redact(line) if hinted else line

    return redact_and_render


# The text of the current second, made once a second rather than on every line.
_second: tuple[int, str] = (-1, "")


def utc_timestamp(at_ns: int | None = None) -> str:
    """ISO 8601 in UTC to the microsecond, ``2026-01-02T03:04:05.678901Z``."""
    global _second
    seconds, nanoseconds = divmod(time.time_ns() if at_ns is None else at_ns, 1_000_000_000)
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{nanoseconds // 1000:06d}Z"


def _add_timestamp(_logger: Any, _name: str, event: dict) -> dict:
    event["timestamp"] = utc_timestamp()
    return event


_SHARED = (
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    _add_timestamp,
    _render_exception,
)


class DropServerAppErrors(logging.Filter):
    """granian reports an exception that leaves the app (its only way to abort a response
    whose headers are out); the app has logged it already, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name.startswith("_granian")
            and record.getMessage().startswith("Application callable raised an exception")
        )


FORMATS = ("logfmt", "json")


_LOGFMT_FIRST = ("timestamp", "level", "logger", "event")


@functools.lru_cache(maxsize=1024)  # keys are names in the code, not data: a few dozen
def _logfmt_key(key: str) -> str:
    if any(c <= " " for c in key):
        raise ValueError(f'Invalid key: "{key}"')
    return key


def render_logfmt(_logger: Any, _name: str, event: dict) -> str:
    """structlog's ``LogfmtRenderer(key_order=_LOGFMT_FIRST, drop_missing=True)``, line for
    line, but checking each key once per process rather than a character at a time on
    every line (which took a third of a line's cost)."""
    items = []
    for key in _LOGFMT_FIRST:
        value = event.pop(key, None)
        if value is not None:
            items.append((key, value))
    items += event.items()
    elements = []
    for key, value in items:
        key = _logfmt_key(key)
        if value is None:
            elements.append(f"{key}=")
            continue
        if value is True:  # a flag: the key alone
            elements.append(key)
            continue
        value = "false" if value is False else str(value)
        quoted = " " in value or "=" in value or '"' in value
        if quoted and "\\" in value:
            value = value.replace("\\", "\\\\")
        value = value.replace('"', '\\"').replace("\n", "\\n")
        elements.append(f'{key}="{value}"' if quoted else f"{key}={value}")
    return " ".join(elements)


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=False)
    return render_logfmt


class LineFormatter(structlog.stdlib.ProcessorFormatter):
    """structlog's ProcessorFormatter, with a shorter way for structlog's own events.

    For those (every line opsjobs writes itself) the line is what the processors make of a
    copy of the event: the base class copies the whole record first (for other handlers:
    the record is left untouched here too), and then formats the line once more as a
    ``%(message)s`` record, which is the line itself. The two together cost as much as the
    rest of the line. Records from other libraries take the base class's way."""

    def format(self, record: logging.LogRecord) -> str:
        name = getattr(record, "_name", None)
        if not isinstance(name, str) or not isinstance(record.msg, dict):
            return super().format(record)
        logger = getattr(record, "_logger", None)
        return self.render(logger, name, {**record.msg, "_record": record, "_from_structlog": True})

    def render(self, logger: Any, name: str, event: Any) -> str:
        """The line of a structlog event (which the processors may change in place)."""
        if self.logger is not None:
            logger = self.logger
        for processor in self.processors:
            event = processor(logger, name, event)
        return event


def formatter(fmt: str = "logfmt") -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler: structlog's events and stdlib records, one line each."""
    return LineFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_SHARED],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redacting(_renderer(fmt)),
        ],
    )


# The level of each of structlog's method names (``exception`` logs at ERROR, as the
# standard library's does).
_METHOD_LEVELS = {
    **{name.lower(): level for name, level in logging.getLevelNamesMapping().items()},
    "exception": logging.ERROR,
    "warn": logging.WARNING,
}
# Handlers whose whole handling of a record is their filters, then the formatted line
# written to their stream and flushed, under their lock (StreamHandler.emit): what
# ``_write`` does with the line itself.
_PLAIN_HANDLERS = (logging.StreamHandler, logging.FileHandler)


def _plain_handlers(logger: Any, level: int) -> list[logging.Handler] | None:
    """The handlers a record of ``logger`` at ``level`` would reach (Logger.callHandlers),
    if each of them only writes the line of a LineFormatter to its stream, and no filter
    can drop it (DropServerAppErrors never drops structlog's events: their message is a
    dict's repr); else None, for the standard library's way."""
    if not isinstance(logger, logging.Logger) or logger.disabled or logger.filters:
        return None
    reached = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if level < handler.level:
                continue
            if (
                type(handler) not in _PLAIN_HANDLERS
                or not isinstance(handler.formatter, LineFormatter)
                or handler.stream is None  # a FileHandler that opens its file when used
                or not all(isinstance(f, DropServerAppErrors) for f in handler.filters)
            ):
                return None
            reached.append(handler)
        if not current.propagate:
            break
        current = current.parent
    return reached or None  # none: the standard library's last resort says so


def _write(handler: logging.Handler, line: str) -> None:
    """StreamHandler.emit of a formatted line, as Handler.handle calls it."""
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)  # type: ignore[attr-defined]
        handler.flush()
    except RecursionError:
        raise
    except Exception:
        handler.handleError(logging.makeLogRecord({"msg": line}))
    finally:
        handler.release()


def to_handlers(logger: Any, name: str, event: dict) -> Any:
    """The last processor: the event's line written straight to the handlers that would
    write it, when they are plain ones (``_plain_handlers``). The standard library's way
    makes a LogRecord of the event, asks each logger on the way and each handler, and
    formats the record (which only renders the event): it cost most of a line. Any other
    handler on the way (pytest's caplog, a library's) gets the event the standard
    library's way, every handler alike."""
    level = _METHOD_LEVELS.get(name)
    handlers = None if level is None else _plain_handlers(logger, level)
    if handlers is None:
        return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, name, event)
    for handler in handlers:
        formatter: LineFormatter = handler.formatter  # type: ignore[assignment]
        # A copy for each, as LineFormatter.format makes: the processors change it in place.
        line = formatter.render(logger, name, {**event, "_record": None, "_from_structlog": True})
        _write(handler, line)
    raise structlog.DropEvent


LEVELS = ("debug", "info", "warning", "error")


def _checked(level: str) -> str:
    if level.lower() not in LEVELS:
        raise SystemExit(f"OPSJOBS_LOG_LEVEL must be one of {', '.join(LEVELS)}, got {level!r}")
    return level.upper()


def dict_config(level: str = "info", fmt: str = "logfmt") -> dict:
    """The stdlib configuration; also handed to granian, which applies it in every process
    it starts."""
    level = _checked(level)
    if fmt not in FORMATS:
        raise SystemExit(f"OPSJOBS_LOG_FORMAT must be one of {', '.join(FORMATS)}, got {fmt!r}")
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": "opsjobs.logs.formatter", "fmt": fmt}},
        "filters": {"server_app_errors": {"()": "opsjobs.logs.DropServerAppErrors"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["server_app_errors"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "_granian": {**propagate, "level": level},
            "granian.access": {**propagate, "level": level},
            "uvicorn": {**propagate, "level": level},
            "uvicorn.error": {**propagate, "level": level},
            "uvicorn.access": {**propagate, "level": level},
            "asyncpg": {**propagate, "level": "WARNING"},
            "sqlalchemy": {**propagate, "level": "WARNING"},
            "aiosqlite": {**propagate, "level": "WARNING"},
            "alembic": {**propagate, "level": "WARNING"},
        },
    }


def configure(level: str = "info", fmt: str = "logfmt") -> None:
    """Route structlog through the standard library and configure both, for this process."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            *_SHARED,
            to_handlers,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(dict_config(level, fmt))
    # No record's file, line and function, thread or process: no line shows them, and
    # finding them walks the stack and asks threading and multiprocessing on every call
    # (the standard library's own advice for speed, in its logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


# The ID of the HTTP request being served (set by api/observe.py), or of the request that
# made the job a runner is running. A plain context variable, not structlog's bound context:
# setting it is on every request's path, and costs a fraction of a bind.
REQUEST_ID: ContextVar[str | None] = ContextVar("opsjobs_request_id", default=None)


def current_request_id() -> str | None:
    """The ID of the HTTP request being served, if any: a job records it, so that the
    runner's lines about the job carry it too."""
    return REQUEST_ID.get()


def _add_request_id(_logger: Any, _name: str, event: dict) -> dict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event
