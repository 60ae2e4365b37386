"""Authentication and rights administration (docs/api.md §3, §4): Basic, sessions, tokens, the
credential cache, throttling, users and groups."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import log_secrets
from conftest import basic
from helpers import (
    INVALID_LOGIN,
    INVALID_TOKEN,
    NOT_LOGGED_IN,
    SESSION_EXPIRED,
    add_job,
    app_client,
    assert_error,
)
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.domain.clock import now_ms
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import sessions as store_sessions

USER_KEYS = {
    "id",
    "login",
    "displayName",
    "authenticationToken",
    "contacts",
    "language",
    "name",
    "email",
    "status",
    "activeTo",
    "permissions",
    "objectPermissions",
    "groups",
    "group",
    "created",
    "updated",
}


def user_id(api, login: str) -> str:
    return api.store.directory.by_login[login]


def assert_no_secrets(document) -> None:
    text = str(document)
    assert "$argon2" not in text
    for key in ("password", "password_hash", "hash", "token", "token_hash"):
        assert key not in document


# -- Basic ----------------------------------------------------------------------------------


async def test_basic_and_current_user(api, backend):
    headers = await api.user("alice", "s3cret", ["modify-objects"], ["1"], exclude=["x"])
    response = await api.client.get("/node/api/users/current", headers=headers)
    assert response.status_code == 200
    document = response.json()
    assert set(document) == USER_KEYS
    assert document["login"] == "alice"
    assert document["id"] == user_id(api, "alice")
    assert document["permissions"] == ["modify-objects"]
    assert document["objectPermissions"] == {"include": ["1"], "exclude": ["x"]}
    assert document["status"] == 1 and document["activeTo"] is None
    assert_no_secrets(document)


async def test_users_routes_never_expose_hashes(api):
    headers = await api.admin()
    created = await api.client.post(
        "/node/api/users", json={"login": "bob", "password": "pw"}, headers=headers
    )
    assert created.status_code == 200
    assert_no_secrets(created.json())
    assert set(created.json()) == USER_KEYS
    bob = created.json()["id"]
    await api.client.post(f"/node/api/users/{bob}/auth-token", headers=headers)
    for url in ("/node/api/users", f"/node/api/users/{bob}", "/node/api/users/current"):
        response = await api.client.get(url, headers=headers)
        assert response.status_code == 200
        documents = response.json() if isinstance(response.json(), list) else [response.json()]
        for document in documents:
            assert set(document) == USER_KEYS
            assert_no_secrets(document)
    patched = await api.client.patch(
        f"/node/api/users/{bob}", json={"password": "new"}, headers=headers
    )
    assert_no_secrets(patched.json())


async def test_basic_header_variants(api):
    await api.user("carol", "pa:ss word")  # a colon and a space in the password
    ok = await api.client.get("/node/api/users/current", headers=basic("carol", "pa:ss word"))
    assert ok.status_code == 200
    lower = {
        "Authorization": basic("carol", "pa:ss word")["Authorization"].replace("Basic", "basic")
    }
    assert (await api.client.get("/node/api/users/current", headers=lower)).status_code == 200
    for header in ("Basic ", "Basic ***", "Basic Y2Fyb2w="):  # the last: no colon
        response = await api.client.get(
            "/node/api/users/current", headers={"Authorization": header}
        )
        assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)


# -- sessions -------------------------------------------------------------------------------


async def test_session_login_use_and_logout(api, backend):
    await api.user("dave", "pw")
    response = await api.client.post(
        "/node/api/users/session", json={"login": "dave", "password": "pw"}
    )
    assert response.status_code == 200
    session_id = response.json()
    assert isinstance(session_id, str) and len(session_id) >= 16
    assert response.cookies["sid"] == session_id
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "path=/" in set_cookie
    csrf_token = response.cookies["csrf"]
    assert csrf_token and csrf_token != session_id

    # The client's cookie jar now carries sid.
    response = await api.client.get("/node/api/users/current")
    assert response.status_code == 200 and response.json()["login"] == "dave"
    # So does an explicit Cookie header, as other clients send it.
    explicit = {"Cookie": f"sid={session_id}"}
    api.client.cookies.clear()
    assert (await api.client.get("/node/api/users/current", headers=explicit)).status_code == 200

    # Logging out changes something: it carries the CSRF token (docs/api.md §3).
    csrf = {"X-CSRF-Token": csrf_token}
    response = await api.client.delete("/node/api/users/session", headers=explicit | csrf)
    assert response.status_code == 200
    response = await api.client.get("/node/api/users/current", headers=explicit)
    assert_error(response, 401, "Unauthorized", SESSION_EXPIRED)


async def test_session_login_failures_are_invalid_credentials(api):
    await api.user("erin", "pw")
    await api.user("blocked", "pw", status=3)
    await api.user("expired", "pw", active_to=now_ms() - 1000)
    for login, password in (
        ("erin", "wrong"),
        ("nobody", "pw"),
        ("blocked", "pw"),
        ("expired", "pw"),
    ):
        response = await api.client.post(
            "/node/api/users/session", json={"login": login, "password": password}
        )
        assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)
        assert "sid" not in response.cookies


async def test_unknown_session_is_session_expired(api):
    for sid in ("0" * 32, "x", "a" * 200):
        response = await api.client.get("/node/api/users/current", headers={"Cookie": f"sid={sid}"})
        assert_error(response, 401, "Unauthorized", SESSION_EXPIRED)
    response = await api.client.get("/node/api/users/current")
    assert_error(response, 401, "Unauthorized", NOT_LOGGED_IN)


async def test_session_of_a_blocked_user_stops_at_once(api):
    admin = await api.admin()
    await api.user("frank", "pw")
    session_id = (
        await api.client.post("/node/api/users/session", json={"login": "frank", "password": "pw"})
    ).json()
    cookie = {"Cookie": f"sid={session_id}"}
    api.client.cookies.clear()
    assert (await api.client.get("/node/api/users/current", headers=cookie)).status_code == 200
    await api.client.patch(
        f"/node/api/users/{user_id(api, 'frank')}", json={"status": 3}, headers=admin
    )
    response = await api.client.get("/node/api/users/current", headers=cookie)
    assert_error(response, 401, "Unauthorized", SESSION_EXPIRED)


async def test_idle_session_expires(database_url, monkeypatch):
    # The sessions' clock moves on by hand: on a loaded machine a real second can pass
    # between the log-in and the first request.
    clock = [now_ms()]
    monkeypatch.setattr(store_sessions, "now_ms", lambda: clock[0])
    async with app_client(database_url, session_idle_seconds=1) as api:
        await api.user("gina", "pw")
        session_id = (
            await api.client.post(
                "/node/api/users/session", json={"login": "gina", "password": "pw"}
            )
        ).json()
        cookie = {"Cookie": f"sid={session_id}"}
        api.client.cookies.clear()
        assert (await api.client.get("/node/api/users/current", headers=cookie)).status_code == 200
        clock[0] += 1300
        response = await api.client.get("/node/api/users/current", headers=cookie)
        assert_error(response, 401, "Unauthorized", SESSION_EXPIRED)
        # Gone for good, not only late.
        response = await api.client.get("/node/api/users/current", headers=cookie)
        assert_error(response, 401, "Unauthorized", SESSION_EXPIRED)


async def test_session_in_use_outlives_its_idle_time(database_url):
    """Idle means unused: a session used more often than its idle time stays alive, and the
    cookie the client keeps does not run out meanwhile either."""
    async with app_client(database_url, session_idle_seconds=2) as api:
        await api.user("hank", "pw")
        response = await api.client.post(
            "/node/api/users/session", json={"login": "hank", "password": "pw"}
        )
        assert response.status_code == 200
        for _ in range(6):  # 6 × 0.7 s = 4.2 s, over twice the idle time
            await asyncio.sleep(0.7)
            response = await api.client.get("/node/api/users/current")  # cookie jar
            assert response.status_code == 200, response.text


# -- tokens ---------------------------------------------------------------------------------


async def test_tokens_issue_use_replace_and_revoke(api, backend):
    admin = await api.admin()
    await api.user("ivy", "pw", ["modify-objects"], ["1"])
    ivy = user_id(api, "ivy")
    response = await api.client.post(f"/node/api/users/{ivy}/auth-token", headers=admin)
    assert response.status_code == 200
    token = response.json()
    assert isinstance(token, str) and len(token) >= 20

    for name in ("auth-token", "api-token"):
        response = await api.client.get("/node/api/users/current", params={name: token})
        assert response.status_code == 200 and response.json()["login"] == "ivy"

    # A new token replaces the old one.
    new_token = (await api.client.post(f"/node/api/users/{ivy}/auth-token", headers=admin)).json()
    assert new_token != token
    response = await api.client.get("/node/api/users/current", params={"auth-token": token})
    assert_error(response, 401, "Unauthorized", INVALID_TOKEN)
    assert (
        await api.client.get("/node/api/users/current", params={"auth-token": new_token})
    ).status_code == 200

    response = await api.client.delete(f"/node/api/users/{ivy}/auth-token", headers=admin)
    assert response.status_code == 200
    for name in ("auth-token", "api-token"):
        response = await api.client.get("/node/api/users/current", params={name: new_token})
        assert_error(response, 401, "Unauthorized", INVALID_TOKEN)


async def test_token_of_a_blocked_user_is_refused(api):
    admin = await api.admin()
    await api.user("jay", "pw")
    jay = user_id(api, "jay")
    token = (await api.client.post(f"/node/api/users/{jay}/auth-token", headers=admin)).json()
    await api.client.patch(f"/node/api/users/{jay}", json={"status": 3}, headers=admin)
    response = await api.client.get("/node/api/users/current", params={"auth-token": token})
    assert_error(response, 401, "Unauthorized", INVALID_TOKEN)


async def test_token_carries_the_users_rights(api):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    visible_job, hidden_job = await add_job(api.store, a), await add_job(api.store, b)
    await api.user("kim", "pw", [], [a])
    token = (
        await api.client.post(f"/node/api/users/{user_id(api, 'kim')}/auth-token", headers=admin)
    ).json()
    ok = await api.client.get(f"/node/api/jobs/{visible_job}", params={"auth-token": token})
    assert ok.status_code == 200
    hidden = await api.client.get(f"/node/api/jobs/{hidden_job}", params={"api-token": token})
    assert_error(hidden, 404, "ResourceNotFound", f"Entity not found: Job({hidden_job})")


# -- the credential cache -------------------------------------------------------------------


@pytest.fixture
async def cached(api):
    """An admin and a user whose Basic credential has been verified (and so cached)."""
    admin = await api.admin()
    a = await api.object("a")
    job_id = await add_job(api.store, a)
    headers = await api.user("lee", "old-pw", ["modify-objects"], ["1"])
    for _ in range(2):
        response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
        assert response.status_code == 200
    return {"admin": admin, "headers": headers, "id": user_id(api, "lee"), "job": job_id}


async def _patch_user(api, cached, changes: dict) -> None:
    url = f"/node/api/users/{cached['id']}"
    response = await api.client.patch(url, json=changes, headers=cached["admin"])
    assert response.status_code == 200, response.text


async def test_password_change_ends_the_old_credential_at_once(api, cached, backend):
    await _patch_user(api, cached, {"password": "new-pw"})
    response = await api.client.get(f"/node/api/jobs/{cached['job']}", headers=cached["headers"])
    assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)
    response = await api.client.get(
        f"/node/api/jobs/{cached['job']}", headers=basic("lee", "new-pw")
    )
    assert response.status_code == 200


async def test_blocking_ends_the_credential_at_once(api, cached, backend):
    await _patch_user(api, cached, {"status": 3})
    response = await api.client.get(f"/node/api/jobs/{cached['job']}", headers=cached["headers"])
    assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)
    await _patch_user(api, cached, {"status": 1})
    response = await api.client.get(f"/node/api/jobs/{cached['job']}", headers=cached["headers"])
    assert response.status_code == 200


async def test_expiry_ends_the_credential_at_once(api, cached):
    await _patch_user(api, cached, {"activeTo": now_ms() - 1})
    response = await api.client.get(f"/node/api/jobs/{cached['job']}", headers=cached["headers"])
    assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)


async def test_login_rename_and_deletion_end_the_credential_at_once(api, cached):
    await _patch_user(api, cached, {"login": "lee2"})
    response = await api.client.get("/node/api/users/current", headers=cached["headers"])
    assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)
    renamed = basic("lee2", "old-pw")
    assert (await api.client.get("/node/api/users/current", headers=renamed)).status_code == 200
    response = await api.client.delete(f"/node/api/users/{cached['id']}", headers=cached["admin"])
    assert response.status_code == 200
    response = await api.client.get("/node/api/users/current", headers=renamed)
    assert_error(response, 401, "InvalidCredentials", INVALID_LOGIN)


async def test_rights_changes_apply_at_once(api, cached, backend):
    url = f"/node/api/jobs/{cached['job']}"
    await _patch_user(api, cached, {"permissions": []})
    response = await api.client.patch(url + "/results", json={"a": 1}, headers=cached["headers"])
    assert_error(
        response, 403, "Forbidden", "Required permissions: modify-objects or manage-objects"
    )
    await _patch_user(api, cached, {"objectPermissions": {"include": [], "exclude": []}})
    response = await api.client.get(url, headers=cached["headers"])
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({cached['job']})")
    await _patch_user(api, cached, {"objectPermissions": {"include": ["1"]}})
    assert (await api.client.get(url, headers=cached["headers"])).status_code == 200


# -- throttling -----------------------------------------------------------------------------


def _client_from(api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_repeated_failures_for_one_login_are_throttled(database_url):
    # The per-login ceiling, which counts every address (its own test file shows that it is
    # far above the per-address limit by default).
    async with app_client(
        database_url, auth_login_failure_limit=3, auth_failure_window_seconds=3600
    ) as api:
        await api.user("mia", "right")
        # Three failures, each from another address: the login is what they share.
        for n in range(3):
            async with _client_from(api, f"10.0.0.{n + 1}") as client:
                response = await client.get("/node/api/users/current", headers=basic("mia", "no"))
                assert_error(response, 401, "InvalidCredentials")
        async with _client_from(api, "10.0.0.9") as client:
            response = await client.get("/node/api/users/current", headers=basic("mia", "right"))
            body = assert_error(response, 429, "TooManyRequests")
            retry_after = int(response.headers["retry-after"])
            assert 1 <= retry_after <= 3600 / 3, body  # one place back: window / limit
            response = await client.post(
                "/node/api/users/session", json={"login": "mia", "password": "right"}
            )
            assert_error(response, 429, "TooManyRequests")
            assert int(response.headers["retry-after"]) >= 1
            # Another login from a fresh address is not affected.
            await api.user("ned", "pw")
            response = await client.get("/node/api/users/current", headers=basic("ned", "pw"))
            assert response.status_code == 200


async def test_repeated_failures_from_one_address_are_throttled(database_url):
    async with app_client(
        database_url, auth_address_failure_limit=3, auth_failure_window_seconds=3600
    ) as api:
        await api.user("olga", "pw")
        async with _client_from(api, "10.1.1.1") as client:
            for login in ("x1", "x2", "x3"):
                response = await client.get("/node/api/users/current", headers=basic(login, "pw"))
                assert_error(response, 401, "InvalidCredentials")
            response = await client.get("/node/api/users/current", headers=basic("olga", "pw"))
            assert_error(response, 429, "TooManyRequests")
            assert "retry-after" in response.headers
        async with _client_from(api, "10.1.1.2") as client:
            response = await client.get("/node/api/users/current", headers=basic("olga", "pw"))
            assert response.status_code == 200


async def test_throttle_ends_after_its_window(database_url):
    # Two at once, then one place back every 1.5 s: the three requests must come within that.
    async with app_client(database_url, auth_failure_limit=2, auth_failure_window_seconds=3) as api:
        await api.user("pat", "pw")
        for _ in range(2):
            await api.client.get("/node/api/users/current", headers=basic("pat", "no"))
        response = await api.client.get("/node/api/users/current", headers=basic("pat", "pw"))
        assert_error(response, 429, "TooManyRequests")
        await asyncio.sleep(3.1)
        response = await api.client.get("/node/api/users/current", headers=basic("pat", "pw"))
        assert response.status_code == 200


# -- users and groups -----------------------------------------------------------------------


async def test_users_crud_through_the_api(api, backend):
    admin = await api.admin()
    response = await api.client.post(
        "/node/api/users",
        json={
            "login": "quinn",
            "password": "pw-1",
            "name": "Quinn",
            "email": "q@example.com",
            "permissions": ["execute-operations"],
            "objectPermissions": {"include": ["1"], "exclude": []},
        },
        headers=admin,
    )
    assert response.status_code == 200
    created = response.json()
    assert created["login"] == "quinn" and created["name"] == "Quinn"
    assert created["permissions"] == ["execute-operations"]
    quinn = created["id"]
    assert (
        await api.client.get("/node/api/users/current", headers=basic("quinn", "pw-1"))
    ).status_code == 200

    listed = (await api.client.get("/node/api/users", headers=admin)).json()
    assert {u["login"] for u in listed} == {"admin", "quinn"}
    assert (await api.client.get(f"/node/api/users/{quinn}", headers=admin)).json()[
        "email"
    ] == "q@example.com"

    response = await api.client.patch(
        f"/node/api/users/{quinn}",
        json={"name": "Q.", "activeTo": 4_102_444_800_000},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Q." and response.json()["activeTo"] == 4_102_444_800_000

    duplicate = await api.client.post(
        "/node/api/users", json={"login": "quinn", "password": "x"}, headers=admin
    )
    assert_error(duplicate, 409, "Conflict")
    unknown_group = await api.client.post(
        "/node/api/users",
        json={"login": "rae", "password": "x", "groups": ["0" * 24]},
        headers=admin,
    )
    assert_error(unknown_group, 400, "BadRequest", contains=("group",))

    assert (await api.client.delete(f"/node/api/users/{quinn}", headers=admin)).status_code == 200
    response = await api.client.get(f"/node/api/users/{quinn}", headers=admin)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: User({quinn})")
    response = await api.client.get("/node/api/users/current", headers=basic("quinn", "pw-1"))
    assert_error(response, 401, "InvalidCredentials")


async def test_users_and_groups_need_manage_users(api):
    await api.admin()
    everything_but = [p for p in PERMISSIONS if p != "manage-users"]
    headers = await api.user("sam", "pw", everything_but, ["1"])
    me = user_id(api, "sam")
    for method, url, body in [
        ("POST", "/node/api/users", {"login": "x", "password": "y"}),
        ("GET", f"/node/api/users/{me}", None),
        ("PATCH", f"/node/api/users/{me}", {"permissions": list(PERMISSIONS)}),
        ("DELETE", f"/node/api/users/{me}", None),
        ("POST", f"/node/api/users/{me}/auth-token", None),
        ("DELETE", f"/node/api/users/{me}/auth-token", None),
        ("GET", "/node/api/groups", None),
        ("POST", "/node/api/groups", {"name": "g"}),
    ]:
        response = await api.client.request(method, url, json=body, headers=headers)
        assert_error(response, 403, "Forbidden", "Required permissions: manage-users")
    # Nothing changed: sam still cannot manage users, and sees every user as SAYMON shows
    # users to such a caller: the ID and the display name in place of the login.
    response = await api.client.get("/node/api/users", headers=headers)
    assert response.status_code == 200
    assert {"id": me, "login": "sa*"} in response.json()
    assert all(set(user) == {"id", "login"} for user in response.json())
    assert "sam" not in response.text


async def test_groups_grant_rights_by_union(api, backend):
    admin = await api.admin()
    site, other, secret = (
        await api.object("site"),
        await api.object("other"),
        await api.object("secret"),
    )
    site_job = await add_job(api.store, site)
    other_job = await add_job(api.store, other)
    secret_job = await add_job(api.store, secret)

    response = await api.client.post(
        "/node/api/groups",
        json={
            "name": "ops",
            "permissions": ["modify-objects"],
            "objectPermissions": {"include": [other]},
        },
        headers=admin,
    )
    assert response.status_code == 200
    ops = response.json()
    assert ops["name"] == "ops" and ops["permissions"] == ["modify-objects"]
    assert ops["objectPermissions"] == {"include": [other], "exclude": []}
    deny = (
        await api.client.post(
            "/node/api/groups",
            json={"name": "deny", "objectPermissions": {"exclude": [site]}},
            headers=admin,
        )
    ).json()
    groups = (await api.client.get("/node/api/groups", headers=admin)).json()
    assert {g["name"] for g in groups} == {"ops", "deny"}

    created = await api.client.post(
        "/node/api/users",
        json={
            "login": "tess",
            "password": "pw",
            "objectPermissions": {"include": [site, secret]},
            "groups": [ops["id"]],
        },
        headers=admin,
    )
    assert created.status_code == 200 and created.json()["groups"] == [ops["id"]]
    tess = basic("tess", "pw")

    async def status(job_id: str) -> int:
        return (await api.client.get(f"/node/api/jobs/{job_id}", headers=tess)).status_code

    # Own include (site, secret) plus the group's (other); the group's permission too.
    assert [await status(j) for j in (site_job, other_job, secret_job)] == [200, 200, 200]
    response = await api.client.patch(
        f"/node/api/jobs/{site_job}/results", json={"ok": 1}, headers=tess
    )
    assert response.status_code == 200

    # Joining a group that excludes site: exclude beats include, at once.
    response = await api.client.patch(
        f"/node/api/users/{created.json()['id']}",
        json={"groups": [ops["id"], deny["id"]]},
        headers=admin,
    )
    assert response.status_code == 200
    assert [await status(j) for j in (site_job, other_job, secret_job)] == [404, 200, 200]

    # Leaving every group: only the user's own rights remain.
    await api.client.patch(
        f"/node/api/users/{created.json()['id']}", json={"groups": []}, headers=admin
    )
    assert [await status(j) for j in (site_job, other_job, secret_job)] == [200, 404, 200]
    response = await api.client.patch(
        f"/node/api/jobs/{site_job}/results", json={"ok": 2}, headers=tess
    )
    assert_error(response, 403, "Forbidden")


async def test_session_login_with_an_api_token(api, backend):
    """SAYMON's other log-in: ``{"auth-token": …}`` opens a session of the token's user."""
    admin = await api.admin()
    headers = await api.user("tokened", "pw", [], ["1"])
    user_id = (await api.client.get("/node/api/users/current", headers=headers)).json()["id"]
    token = (await api.client.post(f"/node/api/users/{user_id}/auth-token", headers=admin)).json()
    log_secrets.register(token, "API token")
    response = await api.client.post("/node/api/users/session", json={"auth-token": token})
    assert response.status_code == 200, response.text
    session_id = response.json()
    assert response.cookies["sid"] == session_id and response.cookies["csrf"]
    log_secrets.register(session_id, "session ID")
    current = await api.client.get(
        "/node/api/users/current", headers={"Cookie": f"sid={session_id}"}
    )
    assert current.json()["id"] == user_id
    # A revoked token opens nothing; the session it opened lives on, as any other does.
    await api.client.delete(f"/node/api/users/{user_id}/auth-token", headers=admin)
    still = await api.client.get("/node/api/users/current", headers={"Cookie": f"sid={session_id}"})
    assert still.status_code == 200
    response = await api.client.post("/node/api/users/session", json={"auth-token": token})
    assert_error(response, 401, "Unauthorized", INVALID_TOKEN)
    assert "sid" not in response.cookies


async def test_session_login_needs_a_token_or_a_login_and_password(api):
    await api.user("gina", "pw")
    for body, message in (
        ({}, "login: Field required"),
        ({"login": "gina"}, "password: Field required"),
        ({"password": "pw"}, "login: Field required"),
        ({"auth-token": "x", "login": "gina", "password": "pw"}, "auth-token: send either"),
        ({"auth-token": ""}, "auth-token"),
        ({"auth-token": 7}, "auth-token"),
    ):
        response = await api.client.post("/node/api/users/session", json=body)
        error = assert_error(response, 400, "BadRequest")
        assert error["message"].startswith(message), (body, error)
        assert "sid" not in response.cookies
    response = await api.client.post("/node/api/users/session", json={"auth-token": "nope"})
    assert_error(response, 401, "Unauthorized", INVALID_TOKEN)
