"""docs/api.md's examples against `make run`'s server over real HTTP: each body it shows is
sent as shown (only the IDs made the demo's), and each answer it shows has the keys and the
types of what the server answers."""

from __future__ import annotations

import re
import subprocess
import time

import httpx
import orjson
import pytest

from helpers.doc_examples import assert_same_shape, example
from helpers.make_run import OPSJOBS, make_run

FINAL = {"succeeded", "failed", "timeout", "cancelled", "lost"}
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with make_run(tmp_path_factory.mktemp("api-doc")) as running:
        base = f"http://127.0.0.1:{running.port}/node/api"
        admin = httpx.Client(base_url=base, auth=("admin", running.password("admin")))
        objects = {o["name"]: o["id"] for o in admin.get("/objects").json()}
        yield running, admin, objects
        admin.close()


def finished(admin: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := admin.get(f"/jobs/{job_id}").json())["execution"]["status"] not in FINAL:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def test_the_job_document(demo):
    running, admin, _ = demo
    served = admin.get(f"/jobs/{running.job_id}").json()
    assert_same_shape(orjson.loads(example("docs/api.md", "job-document")), served)


def test_a_job_whose_output_was_purged(demo):
    """A job imported with an ID and a time older than the limit, then `opsjobs purge` with
    the output limit the example names and no per-owner minimum (which would keep this only
    job of its operation whole): the job stays, its output goes, its history says why."""
    running, admin, objects = demo
    shown = orjson.loads("{" + example("docs/api.md", "purged-output") + "}")
    old = orjson.loads(example("docs/api.md", "job-document"))
    old |= {"id": "5f0c3a99109606ffd3a355ff", "owner_id": objects["web-1"], "timestamp": 1_000}
    (running.cwd / "old.jsonl").write_bytes(orjson.dumps(old))
    days = re.search(r"output older than (\d+) days", shown["execution"]["history"][0]["detail"])
    env = running.env | {
        "OPSJOBS_OUTPUT_RETENTION_DAYS": days.group(1),
        "OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION": "0",
    }
    for command in (["jobs", "import", "old.jsonl"], ["purge"]):
        subprocess.run([OPSJOBS, *command], cwd=running.cwd, env=env, check=True, timeout=120,
                       capture_output=True)  # fmt: skip
    served = admin.get(f"/jobs/{old['id']}").json()
    assert_same_shape(shown["description"], served["description"])
    assert_same_shape(shown["execution"], served["execution"])
    assert served["description"]["stdout"] == "" and served["description"]["stderr"] == ""
    [entry] = served["execution"]["history"]
    assert {k: entry[k] for k in ("event", "by", "detail")} == {
        k: shown["execution"]["history"][0][k] for k in ("event", "by", "detail")
    }


def test_a_check_that_sets_a_state(demo):
    """The operation's parameters as shown: `check_http` is not installed here, so its run
    ends 127, a code not listed, and sets `otherwise`."""
    _, admin, objects = demo
    parameters = orjson.loads(example("docs/api.md", "sets-state"))
    web = objects["web-1"]
    made = admin.post(f"/objects/{web}/operations",
                      json={"name": "HTTP check", "type": 2, "parameters": parameters})  # fmt: skip
    assert made.status_code in (200, 201), made.text
    ran = admin.post(f"/objects/{web}/operations/{made.json()['id']}/execute")
    job = finished(admin, ran.json())
    assert job["description"]["exitCode"] == 127, job
    assert admin.get(f"/objects/{web}").json()["state_id"] == parameters["setsState"]["otherwise"]
    [entry] = admin.get(f"/objects/{web}/state-history", params={"limit": 1}).json()
    assert entry["reason"] == {"by": None, "job": job["id"]}


def test_a_state_change_as_the_history_keeps_it(demo):
    _, admin, objects = demo
    shown = orjson.loads(example("docs/api.md", "state-change"))
    router = objects["router-1"]
    for state in (shown["prevStateId"], shown["stateId"]):
        assert admin.put(f"/objects/{router}/state", json={"state_id": state}).status_code == 200
    [entry] = admin.get(f"/objects/{router}/state-history", params={"limit": 1}).json()
    assert_same_shape(shown, entry)
    assert (entry["stateId"], entry["prevStateId"]) == (shown["stateId"], shown["prevStateId"])


def test_alertmanager_as_configured_and_its_payload(demo, tmp_path):
    """The receiver's URL and the token file it names, the payload as shown, its label made
    db-1's ID: the alert sets db-1 to the state of its severity."""
    _, admin, objects = demo
    receiver = example("docs/api.md", "alertmanager-receiver")
    url = re.search(r"url: https://opsjobs\.example\.org(/\S+)", receiver).group(1)
    assert re.search(r"credentials_file: \S+", receiver) and "send_resolved: true" in receiver
    admin_id = admin.get("/users/current").json()["id"]
    token_file = tmp_path / "opsjobs-token"  # what credentials_file holds
    token_file.write_text(admin.post(f"/users/{admin_id}/auth-token").json())
    payload = example("docs/api.md", "alertmanager-payload")
    payload = payload.replace("6751a1c2e4b0a1b2c3d4e5f6", objects["db-1"])
    answer = httpx.post(
        str(admin.base_url).removesuffix("/node/api/") + url,
        content=payload,
        headers={"Authorization": f"Bearer {token_file.read_text()}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    [result] = answer.json()
    assert result["fingerprint"] == "c5a3b0e1d2f40718" and result["state"] == 5, result
    assert admin.get(f"/objects/{objects['db-1']}").json()["state_id"] == 5


def test_a_user_document(demo):
    _, admin, _ = demo
    [viewer] = [u for u in admin.get("/users").json() if u["login"] == "viewer"]
    shown = orjson.loads(example("docs/api.md", "user-document").replace('"…"', '"id"'))
    assert_same_shape(shown, viewer)
    assert list(shown) == list(viewer)  # "in this key order"


def test_an_e_mail_trigger(demo):
    _, admin, objects = demo
    shown = orjson.loads(example("docs/api.md", "email-trigger"))
    router = objects["router-1"]
    assert admin.put(f"/objects/{router}/state-triggers", json=[shown]).status_code == 200
    [kept] = admin.get(f"/objects/{router}/state-triggers").json()
    assert {key: kept[key] for key in shown} == shown


def test_an_audit_row(demo):
    """The row a change of a user's password and permissions leaves, as the example shows."""
    _, admin, _ = demo
    shown = orjson.loads(example("docs/api.md", "audit-row"))
    [viewer] = [u for u in admin.get("/users").json() if u["login"] == "viewer"]
    change = {"password": "Another-passw0rd-of-16", "permissions": shown["detail"]["permissions"]}
    assert admin.patch(f"/users/{viewer['id']}", json=change).status_code == 200
    [row] = admin.get("/audit", params={"kind": shown["kind"], "limit": 1}).json()
    assert_same_shape(shown, row)
    assert row["detail"] == shown["detail"] and row["actor_login"] == shown["actor_login"]
