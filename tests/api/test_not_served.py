"""SAYMON's monitoring route families answer 501 naming the family (docs/api.md §17)."""

from __future__ import annotations

import pytest

from opsjobs.domain.rights import PERMISSIONS

ID = "6b0c3a99109606ffd3a35595"
FAMILIES = [
    ("metric history", f"/node/api/objects/{ID}/history"),
    ("metric history", f"/node/api/links/{ID}/history"),
    ("stat", f"/node/api/objects/{ID}/stat"),
    ("stat", f"/node/api/objects/{ID}/stat/meta"),
    ("stat", f"/node/api/objects/{ID}/stat-rules"),
    ("stat", f"/node/api/links/{ID}/stat"),
    ("stat", "/node/api/stat-history"),
    ("incidents", "/node/api/incidents"),
    ("incidents", f"/node/api/incidents/{ID}"),
    ("incidents", f"/node/api/incidents/{ID}/clear"),
    ("flows", "/node/api/flows"),
    ("flows", f"/node/api/flows/{ID}/props"),
    ("audit log", f"/node/api/objects/{ID}/audit-log"),
    ("audit log", f"/node/api/links/{ID}/audit-log"),
    ("audit log", f"/node/api/users/{ID}/audit-log"),
    ("dictionaries", "/node/api/dictionaries"),
    ("dictionaries", f"/node/api/dictionaries-monitoring/{ID}"),
    ("notification templates", f"/node/api/notification-templates/{ID}/preview/single"),
]


@pytest.mark.parametrize(("family", "path"), FAMILIES)
async def test_a_family_opsjobs_does_not_serve_says_so(api, family, path):
    admin = await api.user("admin", "admin-secret", list(PERMISSIONS), ["1"])
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        # The same answer with credentials and without: it says nothing about any entity.
        for headers in (admin, {}):
            response = await api.client.request(method, path, json={}, headers=headers)
            assert response.status_code == 501, (method, path, response.text)
            body = response.json()
            assert body["code"] == "NotImplemented"
            assert body["message"].startswith(f"Not served by opsjobs: {family} (")


async def test_hostile_paths_under_a_family_get_the_same_answer(api):
    for path in (
        "/node/api/incidents/%2e%2e/users",
        "/node/api/flows/" + "a" * 4000,
        "/node/api/incidents/x?limit=-1&filter=%27%3B--",
    ):
        response = await api.client.get(path)
        assert response.status_code == 501, (path, response.text)
        assert "Not served by opsjobs: " in response.json()["message"]


async def test_the_served_neighbours_are_untouched(api):
    headers = await api.user("admin", "admin-secret", list(PERMISSIONS), ["1"])
    jobs = await api.client.get("/node/api/objects/1/jobs", headers=headers)
    assert jobs.status_code == 200 and jobs.json() == []
    unknown = await api.client.get(f"/node/api/objects/{ID}/nothing-here", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "ResourceNotFound"
    me = api.store.directory.by_login["admin"]
    assert (await api.client.get(f"/node/api/users/{me}", headers=headers)).status_code == 200
    # State history and state triggers are served (docs/api.md §18), no longer 501.
    history = await api.client.get("/node/api/objects/1/state-history", headers=headers)
    assert history.status_code == 200 and isinstance(history.json(), list)
    assert (await api.client.get("/node/api/state-history", headers=headers)).status_code == 200
    triggers = await api.client.get("/node/api/objects/1/state-triggers", headers=headers)
    assert triggers.status_code == 404 and "StateTriggers(1, Object(1))" in triggers.text


async def test_they_stay_out_of_the_openapi_document(api):
    paths = (await api.client.get("/node/api/openapi.json")).json()["paths"]
    assert not [p for p in paths if "/incidents" in p or "/flows" in p or p.endswith("/history")]
