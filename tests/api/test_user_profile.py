"""Users as SAYMON shows them: profile fields, the readable API token, every SAYMON
permission, and what a caller without manage-users sees (docs/api.md §14)."""

from __future__ import annotations

import pytest

from opsjobs.domain.rights import PERMISSIONS

USERS = "/node/api/users"
SAYMON_ONLY = [
    "manage-configuration",
    "manage-flows",
    "manage-documents",
    "manage-properties",
    "manage-service-properties",
    "run-bulks",
    "update-agents",
    "manage-monitoring",
]


def refused(response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == code
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


async def create(api, admin, **body):
    response = await api.client.post(USERS, json={"password": "pw-1a2b3c", **body}, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def test_profile_fields_are_stored_returned_and_changed(api, backend):
    admin = await api.admin()
    profile = {
        "displayName": "Ada L.",
        "email": "ada@example.org",
        "contacts": ["+44 20 7946 0000", "ada@example.org"],
        "language": "en-GB",
    }
    user = await create(api, admin, login="ada", **profile)
    for field, value in profile.items():
        assert user[field] == value
    for url in (f"{USERS}/{user['id']}", USERS):
        answer = (await api.client.get(url, headers=admin)).json()
        shown = (
            answer if isinstance(answer, dict) else next(u for u in answer if u["login"] == "ada")
        )
        assert {field: shown[field] for field in profile} == profile

    changed = await api.client.patch(
        f"{USERS}/{user['id']}",
        json={"displayName": "Countess", "contacts": [], "language": "ru-RU", "email": "a@b.c"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["displayName"] == "Countess" and changed.json()["contacts"] == []
    assert changed.json()["language"] == "ru-RU" and changed.json()["email"] == "a@b.c"
    # null: the display name made from the login again; no language.
    reset = await api.client.patch(
        f"{USERS}/{user['id']}", json={"displayName": None, "language": None}, headers=admin
    )
    assert reset.json()["displayName"] == "ad*" and reset.json()["language"] is None
    assert reset.json()["contacts"] == [] and reset.json()["email"] == "a@b.c"


async def test_defaults_of_a_new_user(api):
    admin = await api.admin()
    user = await create(api, admin, login="example.user")
    assert user["displayName"] == "exampl******"
    assert user["contacts"] == [] and user["language"] is None
    assert user["authenticationToken"] is None


async def test_without_manage_users_the_list_shows_ids_and_display_names(api):
    admin = await api.admin()
    await create(api, admin, login="grace", displayName="Admiral")
    headers = await api.user("eve", "eve-pw-9d8c", ["manage-objects"])
    response = await api.client.get(USERS, headers=headers)
    assert response.status_code == 200
    listed = response.json()
    assert {"id": api.store.directory.by_login["grace"], "login": "Admiral"} in listed
    assert all(set(user) == {"id", "login"} for user in listed)
    assert "grace" not in response.text and "eve-pw" not in response.text


async def test_the_token_reads_back_to_its_user_and_to_managers_only(api, backend):
    admin = await api.admin()
    bob = await create(api, admin, login="bob", password="bob-pw-5e6f")
    issued = await api.client.post(f"{USERS}/{bob['id']}/auth-token", headers=admin)
    token = issued.json()
    assert isinstance(token, str) and len(token) == 40

    managed = await api.client.get(f"{USERS}/{bob['id']}", headers=admin)
    assert managed.json()["authenticationToken"] == token
    listed = (await api.client.get(USERS, headers=admin)).json()
    assert next(u for u in listed if u["id"] == bob["id"])["authenticationToken"] == token
    # The user itself, with its token or its password.
    own = await api.client.get(f"{USERS}/current", params={"auth-token": token})
    assert own.status_code == 200 and own.json()["authenticationToken"] == token
    # Another user learns nothing of it.
    other = await api.user(
        "carol", "carol-pw-7a8b", [p for p in PERMISSIONS if p != "manage-users"]
    )
    assert token not in (await api.client.get(USERS, headers=other)).text
    refused(await api.client.get(f"{USERS}/{bob['id']}", headers=other), 403, "Forbidden")
    assert token not in (await api.client.get(f"{USERS}/current", headers=other)).text

    # A new token replaces it; a revoked one reads back as null.
    again = (await api.client.post(f"{USERS}/{bob['id']}/auth-token", headers=admin)).json()
    assert again != token
    shown = (await api.client.get(f"{USERS}/{bob['id']}", headers=admin)).json()
    assert shown["authenticationToken"] == again
    await api.client.delete(f"{USERS}/{bob['id']}/auth-token", headers=admin)
    shown = (await api.client.get(f"{USERS}/{bob['id']}", headers=admin)).json()
    assert shown["authenticationToken"] is None


async def test_every_saymon_permission_is_accepted_and_kept(api, backend):
    admin = await api.admin()
    user = await create(api, admin, login="ops", permissions=SAYMON_ONLY)
    assert user["permissions"] == SAYMON_ONLY
    stored = (await api.client.get(f"{USERS}/{user['id']}", headers=admin)).json()
    assert stored["permissions"] == SAYMON_ONLY
    patched = await api.client.patch(
        f"{USERS}/{user['id']}", json={"permissions": list(PERMISSIONS)}, headers=admin
    )
    assert patched.json()["permissions"] == list(PERMISSIONS)
    group = await api.client.post(
        "/node/api/groups", json={"name": "ops", "permissions": SAYMON_ONLY}, headers=admin
    )
    assert group.status_code == 200 and group.json()["permissions"] == SAYMON_ONLY


async def test_an_unknown_permission_is_a_400_naming_it_and_the_known_ones(api):
    admin = await api.admin()
    for method, url, body in [
        ("POST", USERS, {"login": "x", "password": "y", "permissions": ["manage-galaxy"]}),
        ("POST", "/node/api/groups", {"name": "g", "permissions": ["manage-galaxy"]}),
    ]:
        response = await api.client.request(method, url, json=body, headers=admin)
        refused(response, 400, "BadRequest", "permissions.0", "'manage-galaxy'", "run-bulks")
    user = await create(api, admin, login="kept")
    response = await api.client.patch(
        f"{USERS}/{user['id']}", json={"permissions": ["run-bulks", "Manage-Users"]}, headers=admin
    )
    refused(response, 400, "BadRequest", "permissions.1", "'Manage-Users'")
    assert (await api.client.get(f"{USERS}/{user['id']}", headers=admin)).json()[
        "permissions"
    ] == []


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"eventFilter": []}, ["eventFilter"]),
        ({"passwordHash": "x"}, ["passwordHash"]),
        # Issued by POST /users/:id/auth-token only, never set through a body.
        ({"authenticationToken": "f" * 40}, ["authenticationToken"]),
        ({"contacts": "ada@example.org"}, ["contacts"]),
        ({"contacts": [1]}, ["contacts.0"]),
        ({"language": 5}, ["language"]),
        ({"language": "en_GB"}, ["language", "language tag"]),
        ({"displayName": 5}, ["displayName"]),
        ({"displayName": ""}, ["displayName"]),
        ({"email": ["a@b.c"]}, ["email"]),
    ],
)
async def test_bad_profile_input_is_a_400_naming_the_field(api, body, names):
    admin = await api.admin()
    response = await api.client.post(
        USERS, json={"login": "newbie", "password": "pw", **body}, headers=admin
    )
    refused(response, 400, "BadRequest", *names)
    user = await create(api, admin, login="existing")
    response = await api.client.patch(f"{USERS}/{user['id']}", json=body, headers=admin)
    refused(response, 400, "BadRequest", *names)
    assert "newbie" not in api.store.directory.by_login


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"displayName": "Ada\u202egnp.exe"}, "U+202E"),
        ({"displayName": "Ada\nroot"}, "U+000A"),
        ({"displayName": "x" * 256}, "displayName"),
        ({"email": "a" * 10_000 + "@example.org"}, "email"),
        ({"name": "n" * 256}, "name"),
        ({"contacts": ["c"] * 101}, "contacts"),
        ({"contacts": ["ok", "bad\u0000"]}, "contacts.1"),
        ({"contacts": ["x" * 256]}, "contacts.0"),
        ({"language": "en;DROP TABLE users"}, "language"),
        ({"language": "a" * 10_000}, "language"),
        ({"login": "l" * 256}, "login"),
    ],
)
async def test_hostile_profile_input_is_refused(api, backend, body, fragment):
    admin = await api.admin()
    response = await api.client.post(
        USERS, json={"login": "victim", "password": "pw", **body}, headers=admin
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
    user = await create(api, admin, login="target")
    response = await api.client.patch(f"{USERS}/{user['id']}", json=body, headers=admin)
    assert response.status_code == 400, response.text
    after = (await api.client.get(f"{USERS}/{user['id']}", headers=admin)).json()
    assert after["displayName"] == "tar***" and after["contacts"] == []


async def test_a_display_name_equal_to_the_login_is_refused(api):
    admin = await api.admin()
    response = await api.client.post(
        USERS, json={"login": "zoe", "password": "pw", "displayName": "zoe"}, headers=admin
    )
    refused(response, 400, "BadRequest", "displayName must differ from the login")
    # Nor may it read as the login: other users would read the login from it.
    for shown in ("ZOE", "Zoe", "z\u043ee"):  # case; a Cyrillic o
        response = await api.client.post(
            USERS, json={"login": "zoe", "password": "pw", "displayName": shown}, headers=admin
        )
        refused(response, 400, "BadRequest", "displayName must differ from the login")
    user = await create(api, admin, login="yan", displayName="Y.")
    response = await api.client.patch(f"{USERS}/{user['id']}", json={"login": "Y."}, headers=admin)
    refused(response, 400, "BadRequest", "displayName must differ from the login")
    response = await api.client.patch(
        f"{USERS}/{user['id']}", json={"login": "Y.", "displayName": "Yan"}, headers=admin
    )
    assert response.status_code == 200 and response.json()["login"] == "Y."


async def test_without_manage_users_no_profile_or_permission_changes(api):
    await api.admin()
    headers = await api.user(
        "mallory", "mal-pw-3c4d", [p for p in PERMISSIONS if p != "manage-users"]
    )
    me = api.store.directory.by_login["mallory"]
    for body in ({"permissions": list(PERMISSIONS)}, {"displayName": "Admin"}, {"language": "en"}):
        response = await api.client.patch(f"{USERS}/{me}", json=body, headers=headers)
        refused(response, 403, "Forbidden", "manage-users")
    response = await api.client.post(
        USERS,
        json={"login": "sock", "password": "pw", "permissions": ["manage-users"]},
        headers=headers,
    )
    refused(response, 403, "Forbidden", "manage-users")
    mine = (await api.client.get(f"{USERS}/current", headers=headers)).json()
    assert "manage-users" not in mine["permissions"] and mine["displayName"] == "mall***"


async def test_saymons_group_field_is_taken_and_shown(api, backend):
    admin = await api.admin()
    first, second = [
        (await api.client.post("/node/api/groups", json={"name": n}, headers=admin)).json()["id"]
        for n in ("first", "second")
    ]
    user = await create(api, admin, login="member", group=[first])
    assert user["group"] == [first] and user["groups"] == [first]
    patched = await api.client.patch(
        f"{USERS}/{user['id']}", json={"group": [second]}, headers=admin
    )
    assert patched.json()["group"] == [second] and patched.json()["groups"] == [second]
    both = await api.client.patch(
        f"{USERS}/{user['id']}", json={"group": [first], "groups": [first]}, headers=admin
    )
    assert both.status_code == 200 and both.json()["group"] == [first]
    clash = await api.client.patch(
        f"{USERS}/{user['id']}", json={"group": [first], "groups": [second]}, headers=admin
    )
    refused(clash, 400, "BadRequest", "group and groups name different groups")
    unknown = await api.client.patch(
        f"{USERS}/{user['id']}", json={"group": ["no-such-group"]}, headers=admin
    )
    refused(unknown, 400, "BadRequest", "no-such-group")
