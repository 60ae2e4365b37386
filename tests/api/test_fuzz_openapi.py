"""Schemathesis against a real server (granian, real HTTP), as an admin and as a limited
user, with hostile values mixed into what it generates: integers past 64 bits, deep nesting,
``1e400`` and ``NaN``, odd strings (NUL, lone surrogates, RTL marks, 10,000 characters).

Whatever comes in, no answer is a 5xx, and every answer arrives whole: its Content-Length
is what was sent, and a JSON body parses (a list streamed from a cursor that failed halfway
would stop after ``[``). Runs are derandomized, so CI sees the same cases every time.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from conftest import _reset_pg, basic
from helpers import add_job, cli_env, documented_operations, running_server
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, scripts, users
from opsjobs.store import operations as ops
from opsjobs.store.classes import create_class
from opsjobs.store.core import Store

OPENAPI = "/node/api/openapi.json"
EXAMPLES = 15  # per operation, user and backend: 3,300 requests with PostgreSQL
ADMIN = ("fuzz-admin", "admin-secret")
LIMITED = ("fuzz-limited", "limited-secret")  # execute-operations on part of the tree only
USERS = {"admin": ADMIN, "limited": LIMITED}

# -- hostile values ---------------------------------------------------------------------------

HUGE_INTEGERS = [2**63, 2**64, -(2**63) - 1, 10**30, 2**63 - 1, -(2**63), 2**31]
# Number literals no JSON encoder writes: sent as raw text in place of a value.
RAW_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-0.0e-999"]
URL_STRINGS = [
    "\x00",
    "a\x00b",
    "%00",
    "..",
    "../../etc/passwd",
    "\u202eevil\u202c",  # right-to-left override
    "\ufeff",
    "𝔲𝔫𝔦𝔠𝔬𝔡𝔢",
    "x" * 10_000,
    " ",
    "1e400",
    "NaN",
    "{{args.x}}",
    *(str(n) for n in HUGE_INTEGERS),
]
# Lone surrogates cannot travel in a URL or a header; in JSON they are escapes (json.dumps
# writes "\ud800"), which is how a client sends them.
BODY_STRINGS = [*URL_STRINGS, "\ud800", "a\udfffb", "\x00" * 3]


def _nested(depth: int, as_dict: bool) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if as_dict else [value]
    return value


DEEP = [_nested(33, False), _nested(40, True), _nested(1_100, False), _nested(1_100, True)]
PLAIN = [2**63 - 1, -(2**63), 2**31, 1e308, -1e-308, [], {}, None, True, "", "x" * 10_000]


class Raw:
    """A number literal put into the body text as it is."""

    def __init__(self, text: str) -> None:
        self.text = text


# Values past the limits of docs/security.md ("Malformed input"): a body holding one anywhere
# is never accepted.
REFUSED_RAW = [t for t in RAW_NUMBERS if t != "-0.0e-999"]
REFUSED = [
    *(n for n in HUGE_INTEGERS if not -(2**63) <= n < 2**63),
    *(s for s in BODY_STRINGS if "\x00" in s or any(0xD800 <= ord(c) < 0xE000 for c in s)),
    *DEEP,
]
# One family is drawn first, then a member: each kind of trouble comes often.
hostile_body_value = st.one_of(
    st.sampled_from(HUGE_INTEGERS),
    st.sampled_from(DEEP),
    st.sampled_from([Raw(t) for t in RAW_NUMBERS]),
    st.sampled_from(BODY_STRINGS),
    st.sampled_from(PLAIN),
)
hostile_url_value = st.one_of(
    st.sampled_from([str(n) for n in HUGE_INTEGERS]), st.sampled_from(URL_STRINGS)
)


MOSTLY = st.sampled_from([True, True, True, False])


def _past_limits(value: Any) -> bool:
    if isinstance(value, Raw):
        return value.text in REFUSED_RAW
    return any(
        value is refused or (type(value) is type(refused) and value == refused)
        for refused in REFUSED
    )


def _positions(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON value a hostile value can take, the whole included."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _positions(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _positions(item, (*path, index))
    return found


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


def _encode(body: Any) -> bytes:
    """JSON text of ``body``; a Raw value goes in as its literal."""
    raws: list[str] = []

    def placeholder(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"__raw_{len(raws) - 1}__"
        raise TypeError(type(value))

    # json, not orjson: it writes integers of any width and lone surrogates as escapes.
    text = json.dumps(body, default=placeholder)
    for index, raw in enumerate(raws):
        text = text.replace(f'"__raw_{index}__"', raw)
    return text.encode()


# -- the world and the server -----------------------------------------------------------------


async def _seed(url: str) -> dict[str, str]:
    store = Store(url)
    await store.open()
    try:
        hasher = Passwords(time_cost=1, memory_kib=8)
        a = await entities.create_object(store, name="a", parent_ids=["1"])
        b = await entities.create_object(store, name="b", parent_ids=[a["id"]])
        hidden = await entities.create_object(store, name="hidden", parent_ids=["1"])
        link = await entities.create_link(store, source=a["id"], target=b["id"])
        await users.create_user(
            store,
            login=ADMIN[0],
            password_hash=hasher.hash(ADMIN[1]),
            permissions=list(PERMISSIONS),
            include=["1"],
        )
        await users.create_user(
            store,
            login=LIMITED[0],
            password_hash=hasher.hash(LIMITED[1]),
            permissions=["execute-operations"],
            include=[a["id"]],
        )
        # The user whose ID fills {user_id}: changing or deleting it locks nobody out.
        victim = await users.create_user(
            store, login="fuzz-victim", password_hash=hasher.hash("x"), include=["1"]
        )
        operation = await ops.create_operation(
            store,
            "object",
            a["id"],
            {"name": "echo", "type": 2, "parameters": {"type": "scriptText", "text": "echo hi"}},
        )
        script = await scripts.create_script(store, name="s", text="echo hi")
        klass = await create_class(store, name="k")
        job = await add_job(store, a["id"], operation_id=operation["id"])
        await add_job(store, hidden["id"])
        return {
            "object_id": a["id"],
            "link_id": link["id"],
            "job_id": job,
            "operation_id": operation["id"],
            "user_id": victim["id"],
            "script_id": script["id"],
            "class_id": klass["id"],
        }
    finally:
        await store.close()


@pytest.fixture(scope="module")
def fuzzed(request, backend, tmp_path_factory):
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "opsjobs.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        asyncio.run(_reset_pg(url))
    known = asyncio.run(_seed(url))
    env = cli_env(
        # No runner: the fuzzer creates operations with made-up commands and runs them.
        OPSJOBS_EMBEDDED_RUNNER="false",
        OPSJOBS_AUTH_FAILURE_LIMIT="1000000",  # generated logins fail; keep the throttle away
        OPSJOBS_MAX_BODY_BYTES=str(64 * 1024),
    )
    with running_server(url, env=env) as (base, _process):
        schema = schemathesis.openapi.from_url(base + OPENAPI)
        with requests.Session() as session:
            yield {"base": base, "schema": schema, "known": known, "session": session}


# -- the run --------------------------------------------------------------------------------


def _hostile(case, data, known: dict[str, str]) -> tuple[bytes | None, bool]:
    """Put hostile values into one part of the case (path, query or body), and real IDs
    into the rest of the path most of the time, so that the routes get past their 404s.
    Answers the body to send instead of the case's, if any, and whether it holds a value
    past the limits."""
    query_names = [p.name for p in case.operation.iter_parameters() if p.location == "query"]
    parts = ["path"] if case.path_parameters else []
    parts += ["query"] if query_names else []
    parts += ["body"] if case.operation.body else []
    target = data.draw(st.sampled_from(parts or ["none"]), "hostile part")
    for name in case.path_parameters or {}:
        if target == "path" and data.draw(st.booleans(), f"hostile {name}"):
            case.path_parameters[name] = data.draw(hostile_url_value, name)
        # A DELETE of a real entity would leave the rest of the run with nothing.
        elif name in known and case.method != "DELETE" and data.draw(MOSTLY, name):
            case.path_parameters[name] = known[name]
    if target == "query":
        case.query = dict(case.query or {})
        name = data.draw(st.sampled_from(query_names), "query name")
        case.query[name] = data.draw(hostile_url_value, "query value")
    if target == "body":
        body = case.body if isinstance(case.body, (dict, list)) else {}
        where = data.draw(st.sampled_from(_positions(body)), "body position")
        value = data.draw(hostile_body_value, "body value")
        return _encode(_replaced(body, where, value)), _past_limits(value)
    return None, False


def _check_answer(response: requests.Response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:500]}"
    declared = response.headers.get("content-length")
    if declared is not None:
        assert int(declared) == len(response.content), f"{what}: body cut short"
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        try:
            orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise AssertionError(f"{what}: not whole JSON ({exc})") from None


OPERATIONS = documented_operations()
CASES = [(who, m, p) for who in USERS for m, p in OPERATIONS]


@pytest.mark.parametrize(("who", "method", "path"), CASES, ids=[" ".join(c) for c in CASES])
def test_fuzzing_finds_no_server_error_and_no_cut_body(fuzzed, who, method, path):
    operation = fuzzed["schema"][path][method]
    session: requests.Session = fuzzed["session"]
    auth = basic(*USERS[who])
    sent = {"count": 0}

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ),
        data=st.data(),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case, data):
        raw_body, refused = _hostile(case, data, fuzzed["known"])
        request = case.as_transport_kwargs(base_url=fuzzed["base"], headers=auth)
        request["headers"] = {**request.get("headers", {}), **auth}
        if raw_body is not None:
            request.pop("json", None)
            request["data"] = raw_body
            request["headers"]["Content-Type"] = "application/json"
        request.pop("auth", None)
        response = session.request(**request, timeout=60)
        sent["count"] += 1
        what = f"{who} {method} {response.request.url[:300]} body={response.request.body!r:.300}"
        _check_answer(response, what)
        if refused:
            assert response.status_code >= 400, f"{what}: accepted a value past the limits"

    run()
    assert sent["count"] > 0
