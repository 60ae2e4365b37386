"""A pytest plugin: no log line the suite produces may hold a secret the suite used.

Secrets are registered as the suite uses them: every password `Api.user()` and `basic()`
make, and every credential a test client sends (Basic header, `auth-token`, `sid` cookie) or
receives (a `sid` cookie). Log lines are collected from this process (the product's own
logging configuration, plus a file handler installed at session start) and from every
`opsjobs` process the tests start (their output goes to files under ``process_log()``).
At the end of the session every line is searched for every secret; one found fails the
session, naming the file, the line and the secret's kind.

Command output (`run_cli`) holds what a command prints on purpose (a generated password is
printed once, for the operator), so it is checked at once against the secrets known before
the command ran (``check_output``), not at the end.

The audit log is held to the same rule: every row of every database the suite uses is
searched too. SQLite databases are registered as tests make them (``register_database``)
and read at the end of the session; a PostgreSQL database is emptied between tests and
dropped at the end, so its rows are read before that (``dump_audit_pg``) and kept as lines
of a file among the logs.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from opsjobs import logs

# Values shorter than this are left out: the suite sends short wrong passwords ("nope") on
# purpose, and such words occur in ordinary messages ("Unknown group: nope").
MIN_LENGTH = 6

_secrets: dict[str, str] = {}  # secret -> what it is
_findings: list[str] = []
_log_dir: Path | None = None
_in_process: Path | None = None
_databases: set[Path] = set()  # SQLite files whose audit rows are searched at the end


def register(secret: str | None, kind: str = "secret") -> None:
    if secret and len(secret) >= MIN_LENGTH:
        _secrets.setdefault(secret, kind)


def register_password(login: str, password: str) -> None:
    register(password, f"password of {login}")
    register(base64.b64encode(f"{login}:{password}".encode()).decode(), f"Basic of {login}")


def register_authorization(value: str | None) -> None:
    if not value:
        return
    scheme, _, credentials = value.partition(" ")
    register(credentials.strip(), f"{scheme} credentials")
    if scheme.lower() == "basic":
        try:
            login, _, password = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return
        register(password, f"password of {login}")


def register_request(request) -> None:
    """An httpx request hook: the credentials a test client sends."""
    register_authorization(request.headers.get("authorization"))
    for name, value in parse_qsl(request.url.query.decode(), keep_blank_values=True):
        if name in ("auth-token", "api-token"):
            register(value, name)
    register(request.headers.get("x-csrf-token"), "CSRF token")
    cookies = SimpleCookie()
    cookies.load(request.headers.get("cookie", ""))
    if "sid" in cookies:
        register(cookies["sid"].value, "session ID")
    if "csrf" in cookies:
        register(cookies["csrf"].value, "CSRF token")


def register_response(response) -> None:
    """An httpx response hook: a session ID the server hands out."""
    for header in response.headers.get_list("set-cookie"):
        cookies = SimpleCookie()
        cookies.load(header)
        if "sid" in cookies:
            register(cookies["sid"].value, "session ID")
        if "csrf" in cookies:
            register(cookies["csrf"].value, "CSRF token")


def client_hooks(asynchronous: bool = True) -> dict:
    """``event_hooks`` for an httpx client whose credentials are to be registered."""
    if not asynchronous:
        return {"request": [register_request], "response": [register_response]}

    async def on_request(request) -> None:
        register_request(request)

    async def on_response(response) -> None:
        register_response(response)

    return {"request": [on_request], "response": [on_response]}


def _pattern(secrets: Iterable[str]) -> re.Pattern | None:
    # A secret counts where it stands alone: "secret" is in "secrets.py", as a word it is not.
    words = sorted(set(secrets), key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(re.escape(word) for word in words)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


def leaks(text: str, secrets: dict[str, str] | None = None) -> list[str]:
    """The kinds of the secrets found in ``text``, one entry per line that holds any."""
    secrets = _secrets if secrets is None else secrets
    pattern = _pattern(secrets)
    if pattern is None:
        return []
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in pattern.finditer(line):
            found.append(f"line {number}: {secrets[match.group(0)]}")
    return found


def check_output(source: str, text: str) -> None:
    """Command output, checked now against the secrets known so far."""
    for finding in leaks(text):
        _findings.append(f"{source}: {finding}")


# -- the audit log ----------------------------------------------------------------------------

_AUDIT_SQL = "SELECT * FROM audit_log ORDER BY at"


def register_database(url: str) -> None:
    """A database the suite uses: its audit rows are searched at the end (SQLite; see
    ``dump_audit_pg`` for PostgreSQL)."""
    if url.startswith("sqlite") and ":memory:" not in url:
        _databases.add(Path(url.split(":///", 1)[1]))


def audit_lines(path: Path) -> list[str]:
    """Every audit row of the SQLite file ``path``, one line each (none if it has no table)."""
    if not path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return [repr(row) for row in conn.execute(_AUDIT_SQL)]
    except sqlite3.Error:  # a database of an older schema, or not a database at all
        return []
    finally:
        conn.close()


def audit_findings(path: Path, secrets: dict[str, str] | None = None) -> list[str]:
    """The secrets found in the audit rows of ``path``, one entry per row holding any."""
    return [f"{path} audit_log: {found}" for found in leaks("\n".join(audit_lines(path)), secrets)]


async def dump_audit_pg(conn, source: str) -> None:
    """Keep the audit rows of a PostgreSQL database (``conn``, a SQLAlchemy async connection)
    among the logs, before the database is emptied or dropped."""
    from sqlalchemy import text

    try:
        rows = (await conn.execute(text(_AUDIT_SQL))).all()
    except Exception:  # no such table (yet): nothing to keep
        await conn.rollback()
        return
    if rows and _log_dir is not None:
        with process_log(f"audit-{source}").open("a", encoding="utf-8") as file:
            file.writelines(repr(tuple(row)) + "\n" for row in rows)


def process_log(name: str) -> Path:
    """A file for an `opsjobs` process's output, searched at the end of the session."""
    assert _log_dir is not None
    handle, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=_log_dir)
    os.close(handle)
    return Path(path)


def in_process_log() -> Path:
    assert _in_process is not None
    return _in_process


class LogSince:
    """The lines this process logged since it was made (for a test to inspect its own)."""

    def __init__(self) -> None:
        self.offset = in_process_log().stat().st_size

    def lines(self) -> list[str]:
        for handler in logging.getLogger().handlers:
            handler.flush()
        with in_process_log().open("rb") as file:
            file.seek(self.offset)
            return file.read().decode(errors="replace").splitlines()


def pytest_configure(config: pytest.Config) -> None:
    global _log_dir, _in_process
    _log_dir = Path(tempfile.mkdtemp(prefix="opsjobs-test-logs-"))
    _in_process = _log_dir / "in-process.log"
    # The product's configuration, as every `opsjobs` process applies it, plus a copy of
    # every line into a file of our own.
    logs.configure("info")
    handler = logging.FileHandler(_in_process, encoding="utf-8")
    handler.setFormatter(logs.formatter())
    logging.getLogger().addHandler(handler)


@pytest.fixture
def log_since() -> LogSince:
    return LogSince()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _log_dir is None:
        return
    for handler in logging.getLogger().handlers:
        handler.flush()
    for path in sorted(_log_dir.iterdir()):
        text = path.read_bytes().decode(errors="replace")
        for finding in leaks(text):
            _findings.append(f"{path}: {finding}")
    for database in sorted(_databases):
        _findings.extend(audit_findings(database))
    if _findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        shutil.rmtree(_log_dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter) -> None:
    if _findings:
        terminalreporter.section("secrets in logs", sep="=", red=True, bold=True)
        for finding in _findings[:50]:
            terminalreporter.write_line(finding)
        terminalreporter.write_line(
            f"{len(_findings)} log lines hold a secret the suite used; logs kept in {_log_dir}"
        )
    else:
        terminalreporter.write_line(
            f"log secrets: {len(_secrets)} secrets, none found in any log line nor in the "
            f"audit rows of {len(_databases)} databases"
        )
