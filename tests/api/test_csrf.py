"""The CSRF rule of session cookies (docs/api.md §3): a cookie-authenticated request that
changes anything carries the session's token in X-CSRF-Token; Basic and token requests, and
reads, do not need it."""

from __future__ import annotations

from http.cookies import SimpleCookie

from sqlalchemy import update

from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store.schema import sessions

SESSION = "/node/api/users/session"
OBJECTS = "/node/api/objects"
WRONG = '{"errorCode":3,"message":"Wrong CSRF Token"}'


async def log_in(api, login: str, password: str) -> tuple[str, str]:
    """(sid, csrf) of a new session; the client's cookie jar is left empty."""
    response = await api.client.post(SESSION, json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    sid, csrf = response.cookies["sid"], response.cookies["csrf"]
    api.client.cookies.clear()
    return sid, csrf


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header of a response, lower-cased, by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name = next(iter(SimpleCookie(header)))
        found[name] = header.lower()
    return found


async def object_names(api, headers) -> list[str]:
    return [o["name"] for o in (await api.client.get(OBJECTS, headers=headers)).json()]


def refused(response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"code": "Forbidden", "message": WRONG}


async def test_log_in_sets_a_csrf_cookie_beside_sid(api):
    await api.user("ada", "ada-pw-1234", list(PERMISSIONS), ["1"])
    response = await api.client.post(SESSION, json={"login": "ada", "password": "ada-pw-1234"})
    cookies = set_cookies(response)
    assert set(cookies) == {"sid", "csrf"}
    sid, csrf = response.cookies["sid"], response.cookies["csrf"]
    assert response.json() == sid
    assert len(csrf) >= 40 and csrf != sid and sid not in csrf
    for header in cookies.values():
        assert "samesite=lax" in header and "path=/" in header, header
        assert "secure" not in header and "max-age" not in header  # plain HTTP here
    assert "httponly" in cookies["sid"]
    # The page's script must read csrf to echo it.
    assert "httponly" not in cookies["csrf"]
    # Each session has its own token.
    _, other = await log_in(api, "ada", "ada-pw-1234")
    assert other != csrf


async def test_a_cookie_change_needs_the_sessions_token(api, backend):
    await api.user("ada", "ada-pw-1234", list(PERMISSIONS), ["1"])
    sid, csrf = await log_in(api, "ada", "ada-pw-1234")
    cookie = {"Cookie": f"sid={sid}"}
    _, other_sessions = await log_in(api, "ada", "ada-pw-1234")
    for headers in (
        cookie,
        cookie | {"X-CSRF-Token": ""},
        cookie | {"X-CSRF-Token": csrf[:-1]},
        cookie | {"X-CSRF-Token": csrf + "x"},
        cookie | {"X-CSRF-Token": other_sessions},
        cookie | {"X-CSRF-Token": sid},
        # The cookie itself is no token: only a header proves the page could read it.
        {"Cookie": f"sid={sid}; csrf={csrf}"},
    ):
        refused(await api.client.post(OBJECTS, json={"name": "forged"}, headers=headers))
    # Reads need no token.
    assert "forged" not in await object_names(api, cookie)
    created = await api.client.post(
        OBJECTS, json={"name": "mine"}, headers=cookie | {"X-CSRF-Token": csrf}
    )
    assert created.status_code == 200, created.text
    object_id = created.json()["id"]
    # PATCH and DELETE the same way; the header's name is case-insensitive.
    patch = await api.client.patch(
        f"{OBJECTS}/{object_id}", json={"name": "renamed"}, headers=cookie
    )
    refused(patch)
    patch = await api.client.patch(
        f"{OBJECTS}/{object_id}", json={"name": "renamed"}, headers=cookie | {"x-csrf-token": csrf}
    )
    assert patch.status_code == 200
    refused(await api.client.delete(f"{OBJECTS}/{object_id}", headers=cookie))
    assert "renamed" in await object_names(api, cookie)
    deleted = await api.client.delete(
        f"{OBJECTS}/{object_id}", headers=cookie | {"X-CSRF-Token": csrf}
    )
    assert deleted.status_code == 200
    assert "renamed" not in await object_names(api, cookie)


async def test_basic_and_token_requests_need_no_csrf_token(api, backend):
    admin = await api.user("ada", "ada-pw-1234", list(PERMISSIONS), ["1"])
    created = await api.client.post(OBJECTS, json={"name": "by-basic"}, headers=admin)
    assert created.status_code == 200
    token = (
        await api.client.post(
            f"/node/api/users/{api.store.directory.by_login['ada']}/auth-token", headers=admin
        )
    ).json()
    created = await api.client.post(
        OBJECTS, params={"auth-token": token}, json={"name": "by-token"}
    )
    assert created.status_code == 200
    # Basic wins over a cookie sent along (docs/api.md §3), so no token is asked for.
    sid, _ = await log_in(api, "ada", "ada-pw-1234")
    created = await api.client.post(
        OBJECTS, json={"name": "basic-and-cookie"}, headers=admin | {"Cookie": f"sid={sid}"}
    )
    assert created.status_code == 200
    assert {"by-basic", "by-token", "basic-and-cookie"} <= set(await object_names(api, admin))


async def test_bad_credentials_are_refused_before_the_csrf_check(api):
    refused_session = await api.client.post(
        OBJECTS, json={"name": "x"}, headers={"Cookie": "sid=" + "0" * 32}
    )
    assert refused_session.status_code == 401
    assert refused_session.json()["code"] == "Unauthorized"


async def test_log_out_needs_the_token_and_clears_both_cookies(api):
    await api.user("ada", "ada-pw-1234")
    sid, csrf = await log_in(api, "ada", "ada-pw-1234")
    cookie = {"Cookie": f"sid={sid}"}
    refused(await api.client.delete(SESSION, headers=cookie))
    assert (await api.client.get("/node/api/users/current", headers=cookie)).status_code == 200
    response = await api.client.delete(SESSION, headers=cookie | {"X-CSRF-Token": csrf})
    assert response.status_code == 200
    cleared = set_cookies(response)
    assert set(cleared) == {"sid", "csrf"}
    for header in cleared.values():
        assert "max-age=0" in header or "expires=thu, 01 jan 1970" in header, header
    assert (await api.client.get("/node/api/users/current", headers=cookie)).status_code == 401


async def test_a_session_without_a_token_can_only_read(api, backend):
    # A session opened before sessions had CSRF tokens (the migration leaves them without).
    await api.user("ada", "ada-pw-1234", list(PERMISSIONS), ["1"])
    sid, csrf = await log_in(api, "ada", "ada-pw-1234")
    async with api.store.write() as conn:
        await conn.execute(update(sessions).values(csrf_hash=None))
    cookie = {"Cookie": f"sid={sid}"}
    assert (await api.client.get(OBJECTS, headers=cookie)).status_code == 200
    refused(
        await api.client.post(OBJECTS, json={"name": "x"}, headers=cookie | {"X-CSRF-Token": csrf})
    )


async def test_executing_with_a_session_needs_the_token_too(api, backend):
    # The execute routes are plain Starlette routes ahead of FastAPI's; the rule holds there.
    admin = await api.user("ada", "ada-pw-1234", list(PERMISSIONS), ["1"])
    operation = {
        "name": "check",
        "type": 2,
        # No runner carries this tag: executing only records a queued job.
        "parameters": {"type": "fileSystem", "path": "/bin/true", "args": [], "runner": "none"},
    }
    added = await api.client.post("/node/api/objects/1/operations", json=operation, headers=admin)
    assert added.status_code == 200, added.text
    url = f"/node/api/objects/1/operations/{added.json()['id']}/execute"
    sid, csrf = await log_in(api, "ada", "ada-pw-1234")
    cookie = {"Cookie": f"sid={sid}"}
    refused(await api.client.post(url, json={}, headers=cookie))
    refused(await api.client.post(url, json={}, headers=cookie | {"X-CSRF-Token": "forged"}))
    history = await api.client.get("/node/api/objects/1/jobs", headers=cookie)
    assert history.json() == []
    executed = await api.client.post(url, json={}, headers=cookie | {"X-CSRF-Token": csrf})
    assert executed.status_code == 200, executed.text
    history = await api.client.get("/node/api/objects/1/jobs", headers=cookie)
    assert [job["id"] for job in history.json()] == [executed.json()]


async def test_a_log_in_from_another_sites_page_is_refused(api):
    """Login CSRF: a form on another site posting here would sign the browser in as the
    attacker's user. Browsers mark such a request ``Sec-Fetch-Site: cross-site``."""
    await api.user("ada", "pw-ada-1", ["manage-objects"], ["1"])
    body = {"login": "ada", "password": "pw-ada-1"}
    response = await api.client.post(
        SESSION,
        content='{"login": "ada", "password": "pw-ada-1"}',
        headers={"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "Forbidden"
    assert set_cookies(response) == {}
    api.client.cookies.clear()
    # The same log-in from the server's own pages, a sibling site or a program is served.
    for site in ("same-origin", "same-site", "none", None):
        headers = {} if site is None else {"Sec-Fetch-Site": site}
        response = await api.client.post(SESSION, json=body, headers=headers)
        assert response.status_code == 200, (site, response.text)
        assert set(set_cookies(response)) == {"sid", "csrf"}
        api.client.cookies.clear()
