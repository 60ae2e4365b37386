"""opsjobs.client.AsyncClient against a real server: the same methods as Client, awaited."""

from __future__ import annotations

import pytest

import log_secrets
from helpers.remote import ADMIN, VIEWER
from opsjobs.client import (
    AsyncClient,
    Conflict,
    EndEvent,
    InvalidCredentials,
    JobQuery,
    NotFound,
    OutputEvent,
    Unauthorized,
)


def admin(server) -> AsyncClient:
    return AsyncClient(server.base, login=ADMIN[0], password=ADMIN[1])


async def test_jobs_end_to_end(server, tmp_path):
    web, gate = server.objects["web-1"], tmp_path / "go"
    async with admin(server) as client:
        job_id = await client.execute(web, server.operations["gated"], {"gate": str(gate)})
        seen = []
        async for event in client.stream_job(job_id):
            if isinstance(event, EndEvent):
                job = event.job
                break
            seen.append(event.data)
            if event.data == "first line\n":
                assert not gate.exists()  # the second line is not written yet
                gate.touch()
        assert seen[0] == "first line\n" and "second line\n" in seen
        assert job["description"]["exitCode"] == 3
        assert (await client.get_job(job_id))["execution"]["status"] == "failed"
        assert (await client.get_output(job_id, stream="stderr"))["data"] == "to stderr\n"
        await client.add_result(job_id, {"async": 1})
        listed = await client.object_jobs(web, JobQuery(status="failed", order="desc", limit=1))
        assert listed[0]["id"] == job_id and listed[0]["results"][-1]["payload"] == {"async": 1}
        assert job_id in {j["id"] for j in await client.list_jobs(objects=[web])}


async def test_cancel_and_idempotency(server):
    web = server.objects["web-1"]
    async with admin(server) as client:
        job_id = await client.execute(
            web, server.operations["sleepy"], idempotency_key="async-key-1"
        )
        again = await client.execute(
            web, server.operations["sleepy"], idempotency_key="async-key-1"
        )
        assert again == job_id
        stream = client.stream_job(job_id)
        first = await anext(stream)
        assert isinstance(first, OutputEvent) and first.data == "started\n"
        await client.cancel_job(job_id)
        async for event in stream:
            if isinstance(event, EndEvent):
                assert event.job["execution"]["status"] == "cancelled"
        with pytest.raises(Conflict):
            await client.cancel_job(job_id)


async def test_entities_and_operations(server):
    async with admin(server) as client:
        [root] = await client.object_tree()
        assert {"site", "hidden"} <= {n["name"] for n in root["children"]}
        assert (await client.get_object(server.objects["site"]))["name"] == "site"
        assert [x["id"] for x in await client.list_links()] == [server.link]
        names = {o["name"] for o in await client.list_operations("object", server.objects["web-1"])}
        assert {"Greet", "gated", "sleepy"} <= names


async def test_users_tokens_and_errors(server):
    async with admin(server) as client:
        token = await client.issue_token(server.viewer_id)
        log_secrets.register(token, "API token")
    async with AsyncClient(server.base, token=token) as by_token:
        assert (await by_token.current_user())["login"] == VIEWER[0]
        with pytest.raises(NotFound):
            await by_token.get_object(server.objects["hidden"])
    async with AsyncClient(server.base) as anyone:
        with pytest.raises(Unauthorized):
            await anyone.current_user()
        with pytest.raises(InvalidCredentials):
            await anyone.login(VIEWER[0], "wrong-password-0")
        await anyone.login(*VIEWER)
        assert (await anyone.current_user())["login"] == VIEWER[0]
        await anyone.logout()
