"""Logs never hold a password, token, session ID or cookie, whatever fails.

An unhandled error is logged once, as one line, with the traceback's frames and message and
none of the frames' local variables; the request's credentials (Basic header, ?auth-token=,
the sid cookie) appear nowhere, in process or in a real `opsjobs serve`. The suite-wide
search for the secrets the tests used is log_secrets.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sqlite3

import httpx
import pytest
import structlog
from starlette.requests import Request
from starlette.routing import Route

import log_secrets
from conftest import basic
from helpers import app_client, assert_error, cli_env, free_port, run_cli, running_server
from opsjobs import logs
from opsjobs.logs import format_exception, redact

LOCAL_MARKER = "value-of-a-local-variable-7c1f"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic YWRtaW46aHVudGVyMjI=", "YWRtaW46aHVudGVyMjI="),
        ("authorization=Bearer abc.def-ghi", "abc.def-ghi"),
        ("[(b'authorization', b'Basic YWRtaW46aHVudGVyMjI=')]", "YWRtaW46aHVudGVyMjI="),
        ("GET /node/api/jobs?limit=5&auth-token=0123456789abcdef&x=1", "0123456789abcdef"),
        ("/x?api-token=0123456789abcdef", "0123456789abcdef"),
        ("Cookie: theme=dark; sid=00112233445566778899aabbccddeeff", "00112233445566778899"),
        ("(b'cookie', b'sid=00112233445566778899aabbccddeeff')", "00112233445566778899"),
        ('{"login": "bob", "password": "hunter2-long"}', "hunter2-long"),
        ("{'password': 'hunter2-long', 'x': 1}", "hunter2-long"),
        ("password='hunter2-long'", "hunter2-long"),
        ('password="hun ter2"', "hun ter2"),
        ("token: 'tok-123456'", "tok-123456"),
        ("postgresql://opsjobs:hunter2-long@db.example:5432/opsjobs", "hunter2-long"),
        ("session_id=abcdef123456", "abcdef123456"),
    ],
)
def test_redact_blanks_every_shape_a_secret_takes(text, secret):
    redacted = redact(text)
    assert secret not in redacted, redacted
    assert "[redacted]" in redacted


@pytest.mark.parametrize(
    "text",
    ["runner started runner=vm/12 slots=8", "Unknown group: ops", "sessions: 3", "tokens=5"],
)
def test_redact_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def _spellings(alternative: str) -> list[str]:
    """Every literal an alternative of the secret names' pattern stands for."""
    parts = alternative.split("[-_]?")
    return ["".join(p) for p in itertools.product(*[[part] for part in parts[:1]] + [
        [sep + part for sep in ("", "-", "_")] for part in parts[1:]
    ])]  # fmt: skip


def test_every_secret_name_holds_a_hint_so_the_fast_path_never_skips_one():
    alternatives = logs._SECRET_NAMES.split("|")
    assert all(re.fullmatch(r"[\w\-\[\]?]+", a) for a in alternatives), alternatives
    for name in itertools.chain.from_iterable(_spellings(a) for a in alternatives):
        for spelled in (name, name.upper(), name.title()):
            assert logs.may_hold_secret(f"{spelled}=hunter2-long"), spelled
            assert "hunter2-long" not in redact(f"{spelled}=hunter2-long"), spelled


@pytest.mark.parametrize(
    "text",
    [
        "job started runner=vm/12 job_id=6751a2b3c4d5e6f70011aa22",
        "status=succeeded",
        "12345",
        "",
        "Unknown group: ops",
    ],
)
def test_text_without_a_hint_is_returned_as_is_without_the_patterns(text):
    assert not logs.may_hold_secret(text)
    assert redact(text) is text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # Letters that match ASCII ones only under Unicode's case rules: the Kelvin sign
        # is a k, the long s an s. Text that is not ASCII always goes through the patterns.
        ("api_\u212aey=hunter2-long", "hunter2-long"),
        ("\u017fid=00112233445566778899", "00112233445566778899"),
        ("caf\u00e9 Bearer abc.def-ghi", "abc.def-ghi"),
        ("PASSWORD=hunter2-long", "hunter2-long"),
        ("url=HTTPS://bob:hunter2-long@example", "hunter2-long"),
    ],
)
def test_the_fast_path_still_redacts_a_secret(text, secret):
    assert logs.may_hold_secret(text)
    assert secret not in redact(text)


def _line(formatter: logging.Formatter, event: dict) -> str:
    """``event`` as structlog hands it to the standard library, formatted."""
    record = logging.LogRecord("opsjobs.test", logging.INFO, __file__, 1, event, None, None)
    record._logger, record._name = None, "info"
    return formatter.format(record)


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_a_logged_value_holding_a_secret_is_redacted_in_the_line(fmt):
    formatter = logs.formatter(fmt)
    events = [
        {"event": "job started", "runner": "vm/1", "url": "postgresql://u:hunter2-long@db/x"},
        {"event": "job started", "password": "hunter2-long", "sid": 1234567},
        {"event": "connect Authorization: Basic aHVudGVyMi1sb25n", "count": 3},
        # A key that holds a secret's name without being one: the line is looked at too.
        {"event": "login", "user.password": "hunter2-long", "user.sid": 1234567},
        {"event": "login", "a": ("token", "hunter2-long"), "sid": 1234567.5},
    ]
    for event in events:
        line = _line(formatter, event)
        assert "hunter2-long" not in line and "aHVudGVyMi1sb25n" not in line, line
        assert "1234567" not in line and "[redacted]" in line, line
    line = _line(formatter, {"event": "job finished", "status": "succeeded", "n": 3})
    assert "succeeded" in line and "[redacted]" not in line, line


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_structlogs_events_are_formatted_as_the_base_formatter_does(fmt):
    formatter = logs.formatter(fmt)
    base = structlog.stdlib.ProcessorFormatter.format
    for event in [
        {"event": "job started", "runner": "vm/1", "job_id": "6751a2b3", "timestamp": "t"},
        {"event": "a b", "password": "hunter2-long", "n": 3, "ok": True, "none": None},
        {"event": 'quote " and \\ and\nnewline', "url": "https://u:hunter2-long@h/"},
    ]:
        record = logging.LogRecord("opsjobs.test", logging.INFO, __file__, 1, event, None, None)
        record._logger, record._name = None, "info"
        assert formatter.format(record) == base(formatter, record)
        assert record.msg == event  # left as it was, for any other handler


def test_a_lines_timestamp_is_iso_8601_in_utc_to_the_microsecond():
    import datetime

    at = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    at_ns = int(at.timestamp()) * 1_000_000_000 + 678901_123
    assert logs.utc_timestamp(at_ns) == "2026-01-02T03:04:05.678901Z"
    assert logs.utc_timestamp(at_ns - 678901_123) == "2026-01-02T03:04:05.000000Z"
    assert logs.utc_timestamp(at_ns + 1_000_000_000) == "2026-01-02T03:04:06.678901Z"
    now = datetime.datetime.now(datetime.UTC)
    stamped = datetime.datetime.fromisoformat(logs.utc_timestamp())
    assert abs((stamped - now).total_seconds()) < 5


@pytest.mark.parametrize(
    "event",
    [
        {"event": "job started", "runner": "vm/1", "job_id": "6751a2b3", "timestamp": "t"},
        {"level": "info", "event": "a b", "n": 3, "x": 1.5, "on": True, "off": False, "no": None},
        {"event": 'quote " back\\slash\nnewline', "eq": "a=b", "path": "C:\\x", "e": ""},
        {"logger": "x", "event": "e", "level": None, "list": [1, "a b"], "unicode": "caf\u00e9"},
    ],
)
def test_logfmt_lines_are_structlogs_own(event):
    structlogs = structlog.processors.LogfmtRenderer(
        key_order=["timestamp", "level", "logger", "event"], drop_missing=True
    )
    assert logs.render_logfmt(None, "info", dict(event)) == structlogs(None, "info", dict(event))


def test_a_logfmt_key_with_a_space_is_refused():
    with pytest.raises(ValueError, match="Invalid key"):
        logs.render_logfmt(None, "info", {"event": "e", "a key": 1})


def test_an_exception_is_rendered_without_locals_and_bounded():
    def fail(depth: int, secret: str = LOCAL_MARKER) -> None:
        if depth:
            fail(depth - 1)
        raise ValueError("the message")

    try:
        fail(500)
    except ValueError as exc:
        text = format_exception(exc)
    assert "ValueError: the message" in text and "in fail" in text
    assert LOCAL_MARKER not in text
    assert text.count("\n") < 100  # innermost frames only: no wall of 500 frames


def _raising_route(app) -> None:
    """A route that fails after authenticating its caller (test-only; the product has none)."""
    ctx = app.state.context

    async def fails(request: Request):
        principal = await ctx.auth.authenticate(request)
        authorization = request.headers.get("authorization")  # locals a renderer with
        query = str(request.url)  # show_locals would print
        marker = LOCAL_MARKER
        raise RuntimeError(
            f"failed for {principal.login}: {len(authorization or query)}{marker[:0]}"
        )

    app.router.routes.insert(0, Route("/node/api/test-fails", fails, methods=["GET"]))


async def test_an_unhandled_error_logs_no_credential_and_no_locals(database_url, log_since):
    async with app_client(database_url, raise_app_exceptions=False, app_hook=_raising_route) as api:
        await api.user("carol", "carol-password-8d2", ["manage-users"], ["1"])
        login = await api.client.post(
            "/node/api/users/session", json={"login": "carol", "password": "carol-password-8d2"}
        )
        assert login.status_code == 200, login.text
        sid, csrf = api.client.cookies["sid"], api.client.cookies["csrf"]
        me = (await api.client.get("/node/api/users/current")).json()
        token = (
            await api.client.post(
                f"/node/api/users/{me['id']}/auth-token", headers={"X-CSRF-Token": csrf}
            )
        ).json()
        log_secrets.register(token, "API token")
        assert len(sid) >= 32 and len(token) >= 32

        since = log_since
        response = await api.client.get(
            "/node/api/test-fails",
            params={"auth-token": token},
            headers=basic("carol", "carol-password-8d2"),
        )
        assert_error(response, 500, "Internal", "Internal server error")

    lines = since.lines()
    errors = [line for line in lines if 'event="unhandled error"' in line]
    assert len(errors) == 1, lines
    line = errors[0]
    assert "path=/node/api/test-fails" in line and "method=GET" in line
    assert "RuntimeError: failed for carol" in line and "Traceback" in line
    assert "auth-token" not in line  # the path is logged, never the query string
    text = "\n".join(lines)
    for secret in (
        sid,
        csrf,
        token,
        "carol-password-8d2",
        basic("carol", "carol-password-8d2")["Authorization"][6:],
    ):
        assert secret not in text
    assert LOCAL_MARKER not in text
    assert len(line) < 8000


async def test_a_real_server_logs_a_failure_once_in_one_line_without_credentials(tmp_path):
    url = f"sqlite:///{tmp_path / 'opsjobs.db'}"
    assert run_cli("migrate", "--database-url", url).returncode == 0
    added = run_cli(
        "user", "add", "dave", "--password", "dave-password-41c", "--include", "1",
        "--permission", "manage-users", "--database-url", url,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    env = cli_env(OPSJOBS_EMBEDDED_RUNNER="0")
    with running_server(url, env=env) as (base, process):
        async with httpx.AsyncClient(
            base_url=base, timeout=30, event_hooks=log_secrets.client_hooks()
        ) as client:
            login = await client.post(
                "/node/api/users/session", json={"login": "dave", "password": "dave-password-41c"}
            )
            assert login.status_code == 200, login.text
            sid, csrf = client.cookies["sid"], client.cookies["csrf"]
            me = (await client.get("/node/api/users/current")).json()
            token = (
                await client.post(
                    f"/node/api/users/{me['id']}/auth-token", headers={"X-CSRF-Token": csrf}
                )
            ).json()
            log_secrets.register(token, "API token")
            # A fault the code does not expect: the jobs table is gone.
            with sqlite3.connect(tmp_path / "opsjobs.db") as conn:
                conn.execute("DROP TABLE jobs")
            response = await client.get(
                "/node/api/jobs/5f0f3b9c2d1e4a0012345678",
                params={"auth-token": token},
                headers=basic("dave", "dave-password-41c"),
            )
            assert_error(response, 500, "Internal")
        await asyncio.sleep(0.5)  # the line is written before the answer; give it a moment
        text = process.log_path.read_text()
    lines = text.splitlines()
    errors = [line for line in lines if "no such table" in line]
    assert len(errors) == 1, text  # once: not again by granian, not over many lines
    assert 'event="unhandled error"' in errors[0] and "level=error" in errors[0]
    assert "Traceback" in errors[0]
    assert all(line.startswith("timestamp=") for line in lines), text  # one line per event
    for secret in (
        sid,
        csrf,
        token,
        "dave-password-41c",
        basic("dave", "dave-password-41c")["Authorization"][6:],
    ):
        assert secret not in text


def test_a_command_facing_a_database_outage_says_so_in_one_line():
    url = f"postgresql://opsjobs:db-password-5e1a@127.0.0.1:{free_port()}/opsjobs"
    log_secrets.register("db-password-5e1a", "database password")
    result = run_cli(
        "user", "add", "erin", "--password", "erin-password-93b", "--database-url", url
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "the database is unavailable" in output, output
    assert "Traceback" not in output and len(output.splitlines()) <= 3, output
    assert "erin-password-93b" not in output and "db-password-5e1a" not in output
