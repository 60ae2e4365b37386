"""opsjobs.client.Client against a real `opsjobs serve`: every route family, end to end."""

from __future__ import annotations

import pytest

import log_secrets
from helpers.remote import VIEWER
from opsjobs.client import (
    BadRequest,
    Client,
    Conflict,
    EndEvent,
    JobQuery,
    NotFound,
    OutputEvent,
    Unauthorized,
)


def run_to_end(client: Client, job_id: str, last_event_id: str | None = None):
    """The output events and the final job document."""
    events = list(client.stream_job(job_id, last_event_id))
    assert isinstance(events[-1], EndEvent)
    assert all(isinstance(e, OutputEvent) for e in events[:-1])
    return events[:-1], events[-1].job


def test_execute_stream_and_read_back(server):
    web = server.objects["web-1"]
    with server.client() as client:
        job_id = client.execute(web, server.operations["Greet"], {"name": "Ada"})
        outputs, job = run_to_end(client, job_id)
        assert "".join(e.data for e in outputs if e.stream == "stdout") == "Hello, Ada\n"
        assert job["id"] == job_id and job["execution"]["status"] == "succeeded"
        assert client.get_job(job_id)["description"]["stdout"] == "Hello, Ada\n"
        output = client.get_output(job_id)
        assert output["data"] == "Hello, Ada\n" and output["finished"] is True
        assert client.get_output(job_id, offset=7, limit=3)["data"] == "Ada"
        client.add_result(job_id, {"checked": True})
        assert client.get_job(job_id)["results"][-1]["payload"] == {"checked": True}


def test_history_lists_filter_and_page(server):
    web = server.objects["web-1"]
    with server.client() as client:
        ids = [client.execute(web, server.operations["quick"]) for _ in range(3)]
        for job_id in ids:
            run_to_end(client, job_id)
        quick = JobQuery(operation_id=server.operations["quick"], status="succeeded")
        listed = [j["id"] for j in client.object_jobs(web, quick)]
        assert listed[-3:] == ids
        newest = client.object_jobs(
            web, JobQuery(operation_id=quick.operation_id, order="desc", limit=2)
        )
        assert [j["id"] for j in newest] == ids[::-1][:2]
        assert newest[0]["operation"] == {"name": "quick"}
        skipped = client.object_jobs(
            web, JobQuery(operation_id=quick.operation_id, skip=1, limit=1)
        )
        assert [j["id"] for j in skipped] == [listed[1]]
        first = client.get_job(ids[0])["timestamp"]
        window = client.list_jobs(
            objects=[web], query=JobQuery(start=first, operation_id=quick.operation_id)
        )
        assert [j["id"] for j in window] == ids
        assert client.list_jobs(objects=[web], query=JobQuery(status="lost")) == []
        assert client.link_jobs(server.link) == []


def test_a_stream_resumes_from_an_event_id(server):
    web = server.objects["web-1"]
    gate = server.directory / "resume-gate"
    gate.touch()
    with server.client() as client:
        job_id = client.execute(web, server.operations["gated"], {"gate": str(gate)})
        outputs, job = run_to_end(client, job_id)
        assert job["description"]["exitCode"] == 3
        first = next(e for e in outputs if e.stream == "stdout")
        later, _ = run_to_end(client, job_id, first.id)
        stdout = "".join(e.data for e in later if e.stream == "stdout")
        assert first.data + stdout == "first line\nsecond line\n"


def test_output_is_streamed_as_it_is_written(server, tmp_path):
    gate = tmp_path / "go"
    web = server.objects["web-1"]
    with server.client() as client:
        job_id = client.execute(web, server.operations["gated"], {"gate": str(gate)})
        seen = []
        for event in client.stream_job(job_id):
            if isinstance(event, EndEvent):
                job = event.job
                break
            seen.append((event.stream, event.data))
            if event.data == "first line\n":
                # The script is waiting for this file: its second line does not exist yet.
                assert not gate.exists()
                gate.touch()
        assert ("stdout", "first line\n") == seen[0]
        assert ("stdout", "second line\n") in seen and ("stderr", "to stderr\n") in seen
        assert job["execution"]["status"] == "failed" and job["description"]["exitCode"] == 3


def test_cancel_a_running_job(server):
    web = server.objects["web-1"]
    with server.client() as client:
        job_id = client.execute(web, server.operations["sleepy"])
        stream = client.stream_job(job_id)
        assert next(stream).data == "started\n"
        assert client.cancel_job(job_id)["id"] == job_id
        end = next(e for e in stream if isinstance(e, EndEvent))
        assert end.job["execution"]["status"] == "cancelled"
        with pytest.raises(Conflict) as refused:
            client.cancel_job(job_id)
        assert refused.value.status == 409 and "already finished" in refused.value.detail


def test_idempotency_key(server):
    web = server.objects["web-1"]
    with server.client() as client:
        first = client.execute(web, server.operations["quick"], idempotency_key="sync-key-1")
        again = client.execute(web, server.operations["quick"], idempotency_key="sync-key-1")
        assert again == first
        with pytest.raises(Conflict):
            client.execute(
                web, server.operations["Greet"], {"name": "x"}, idempotency_key="sync-key-1"
            )


def test_objects_links_and_the_tree(server):
    objects = server.objects
    with server.client() as admin:
        assert admin.get_object(objects["web-1"])["parent_id"] == [objects["site"]]
        names = {o["name"] for o in admin.list_objects(fields=["name"])}
        assert {"site", "web-1", "db-1", "hidden"} <= names
        link = admin.get_link(server.link)
        assert (link["source"], link["target"]) == (objects["web-1"], objects["db-1"])
        assert [x["id"] for x in admin.list_links()] == [server.link]
        changed = admin.update_entity("object", objects["db-1"], {"properties": {"rack": "7"}})
        # Properties come back as SAYMON's records (docs/api.md §11).
        assert [(p["name"], p["value"]) for p in changed["properties"]] == [("rack", "7")]
    with server.client(VIEWER) as viewer:
        tree = viewer.object_tree()
        assert [n["name"] for n in tree] == ["site"]
        assert [c["name"] for c in tree[0]["children"]] == ["db-1", "web-1"]
        with pytest.raises(NotFound):
            viewer.get_object(objects["hidden"])


def test_operations_classes_and_scripts(server):
    web = server.objects["web-1"]
    with server.client() as admin:
        ops = {o["name"]: o for o in admin.list_operations("object", web)}
        assert ops["Greet"]["parameters"]["type"] == "scriptText"
        made = admin.create_operation(
            "object",
            web,
            {"name": "tmp", "type": 2, "parameters": {"type": "scriptText", "text": "true"}},
        )
        assert admin.update_operation("object", web, made["id"], {"name": "tmp2"})["name"] == "tmp2"
        admin.delete_operation("object", web, made["id"])
        assert "tmp2" not in {o["name"] for o in admin.list_operations("object", web)}
        klass = admin.create_entity("class", {"name": "servers"})
        assert admin.get_entity("class", klass["id"])["name"] == "servers"
        assert admin.list_operations("class", klass["id"]) == []
        admin.delete_entity("class", klass["id"])
        script = admin.create_entity("script", {"name": "s", "text": "echo s"})
        assert admin.update_entity("script", script["id"], {"text": "echo t"})["text"] == "echo t"
        admin.delete_entity("script", script["id"])
        with pytest.raises(NotFound):
            admin.get_entity("script", script["id"])
    with server.client(VIEWER) as viewer:
        seen = {o["name"]: o for o in viewer.list_operations("object", web)}
        assert set(seen["Greet"]) == {"id", "name", "description"}
        # What a run asks for, which the reduced view does not show.
        arguments = viewer.run_arguments(web, seen["Greet"]["id"])
        assert arguments == [{"name": "name", "declared": True, "type": "string", "required": True}]


def test_states_history_and_triggers(server):
    web, hidden = server.objects["web-1"], server.objects["hidden"]
    later = {"type": "e-mail", "states": [8], "payload": {"to": "ops@example.com"}}
    later["duration"] = 86_400_000
    with server.client() as admin:
        assert admin.set_state("object", web, 6)["state_id"] == 6
        [newest] = admin.state_history("object", web, limit=1)
        assert (newest["entityId"], newest["stateId"]) == (web, 6)
        assert newest in admin.state_history(limit=1000)
        assert admin.state_history(from_=newest["timestamp"], to=newest["timestamp"]) == [newest]
        with pytest.raises(NotFound, match="StateTriggers"):
            admin.get_state_triggers("object", web)
        assert admin.set_state_triggers("object", web, [later]) is None
        assert admin.get_state_triggers("object", web) == [later]
        assert admin.trigger_deliveries("object", web, limit=5) == []
        assert admin.set_state_triggers("object", web, []) is None
        with pytest.raises(ValueError):
            admin.set_state("class", "1", 5)
    with server.client(VIEWER) as viewer:
        with pytest.raises(NotFound):
            viewer.state_history("object", hidden)
        assert hidden not in {e["entityId"] for e in viewer.state_history(limit=1000)}


def test_schedules(server):
    web = server.objects["web-1"]
    with server.client() as admin:
        tick = {"name": "tick", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        operation = admin.create_operation("object", web, tick)["id"]
        body = {"name": "hourly", "operation": operation, "target": {"object": web}}
        made = admin.create_schedule({**body, "interval": 3600, "paused": True})
        assert admin.get_schedule(made["id"])["nextRunAt"] is None
        assert made["id"] in {s["id"] for s in admin.list_schedules()}
        changed = admin.update_schedule(made["id"], {"cron": "0 4 * * *", "timezone": "Asia/Tokyo"})
        assert (changed["cron"], changed["interval"]) == ("0 4 * * *", None)
        assert admin.resume_schedule(made["id"])["nextRunAt"] is not None
        assert admin.pause_schedule(made["id"])["paused"] is True
        with pytest.raises(BadRequest):
            admin.create_schedule({**body, "interval": 0})
    with server.client(VIEWER) as viewer:
        with pytest.raises(NotFound):  # another user's, without manage-operations
            viewer.get_schedule(made["id"])
    with server.client() as admin:
        admin.delete_schedule(made["id"])
        with pytest.raises(NotFound):
            admin.get_schedule(made["id"])
        admin.delete_operation("object", web, operation)


def test_batches(server):
    web = server.objects["web-1"]
    with server.client() as admin:
        tick = {"name": "tick", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        operation = admin.create_operation("object", web, tick)["id"]
        body = {"operation": operation, "target": {"objects": [web]}, "concurrency": 1}
        made = admin.create_batch({**body, "name": "once"})
        assert (made["name"], made["status"]) in {("once", "running"), ("once", "finished")}
        assert made["id"] in {b["id"] for b in admin.list_batches(limit=10)}
        assert admin.get_batch(made["id"], limit=1, skip=0)["id"] == made["id"]
        assert admin.cancel_batch(made["id"])["status"] in ("cancelled", "finished")
        with pytest.raises(BadRequest):
            admin.create_batch({**body, "concurrency": 0})
    with server.client(VIEWER) as viewer:
        with pytest.raises(NotFound):  # another user's, without manage-operations
            viewer.get_batch(made["id"])


def test_users_sessions_and_tokens(server):
    with server.client() as admin:
        assert admin.current_user()["login"] == "remote-admin"
        token = admin.issue_token(server.viewer_id)
        log_secrets.register(token, "API token")
        made = admin.create_entity("user", {"login": "sync-temp", "password": "sync-temp-pw-71"})
        log_secrets.register_password("sync-temp", "sync-temp-pw-71")
        assert admin.get_entity("user", made["id"])["login"] == "sync-temp"
        admin.delete_entity("user", made["id"])
        group = admin.create_entity("group", {"name": "sync-operators"})
        assert group["name"] in {g["name"] for g in admin.list_entities("group")}
    with Client(server.base, token=token) as by_token:
        assert by_token.current_user()["login"] == VIEWER[0]
        with server.client() as admin:
            admin.revoke_token(server.viewer_id)
        with pytest.raises(Unauthorized) as refused:
            by_token.current_user()
        assert refused.value.detail == "Invalid API token."
    with Client(server.base) as session:
        session.login(*VIEWER)
        assert session.current_user()["login"] == VIEWER[0]
        session.logout()
        with pytest.raises(Unauthorized):
            session.current_user()
    with Client(server.base) as anyone:
        assert anyone.ping() == {"status": "ok"}
