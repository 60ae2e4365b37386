"""GET /metrics, /healthz and /readyz (docs/deployment.md, "Monitoring"), and the request ID
every response carries and the log lines of the job it made repeat."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from conftest import Api, lifespan
from conftest import settings_for_test as make_settings
from helpers import add_job, app_client, assert_error
from helpers.proxy import Proxy
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.domain.clock import now_ms
from opsjobs.domain.kinds import EntityKind
from opsjobs.store import operations, states, triggers
from opsjobs.store.schema import schedules, trigger_firings


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family, name: str | None = None) -> list:
    return [s for s in family.samples if name is None or s.name == name]


async def scrape(client, **kwargs) -> dict:
    response = await client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return families(response.text)


async def test_metrics_parse_and_count_requests_by_route_template(backend, database_url):
    async with app_client(database_url) as api:
        admin = await api.admin()
        owner = await api.object("web-1")
        queued_at = now_ms() - 90_000
        await add_job(
            api.store, owner, status="queued", timestamp=queued_at, runner=None, runner_tag="far"
        )
        finished = await add_job(api.store, owner)
        for _ in range(3):
            assert (await api.client.get(f"/node/api/jobs/{finished}", headers=admin)).is_success
        missing = "0" * 24
        assert (await api.client.get(f"/node/api/jobs/{missing}", headers=admin)).status_code == 404
        assert (await api.client.get("/nowhere/at/all")).status_code == 404
        found = await scrape(api.client)
        runner = api.ctx.runner_name

    requests = found["opsjobs_http_requests"]
    assert requests.type == "counter"
    by_labels = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples(requests, "opsjobs_http_requests_total")
    }
    template = "/node/api/jobs/{job_id}"
    assert by_labels[("GET", template, "200")] >= 3
    assert by_labels[("GET", template, "404")] >= 1
    assert by_labels[("GET", "(unmatched)", "404")] >= 1
    routes = {s.labels.get("route") for f in found.values() for s in f.samples}
    assert not any(finished in str(r) or missing in str(r) for r in routes), "raw IDs as labels"
    latency = found["opsjobs_http_request_duration_seconds"]
    assert latency.type == "histogram"
    counts = [
        s.value
        for s in samples(latency, "opsjobs_http_request_duration_seconds_count")
        if s.labels["route"] == template
    ]
    assert counts and counts[0] >= 4
    jobs = {s.labels["status"]: s.value for s in found["opsjobs_jobs"].samples}
    assert jobs["queued"] == 1 and jobs["running"] == 0
    oldest = found["opsjobs_queue_oldest_age_seconds"].samples[0].value
    assert 89 <= oldest < 600
    assert found["opsjobs_database_up"].samples[0].value == 1
    # The embedded runner of this app is in the runners table, with a fresh heartbeat.
    assert found["opsjobs_runners"].samples[0].value >= 1
    ages = {
        s.labels["runner"]: s.value for s in found["opsjobs_runner_heartbeat_age_seconds"].samples
    }
    assert runner in ages and ages[runner] < 30
    busy = {s.labels["runner"]: s.value for s in found["opsjobs_runner_busy_slots"].samples}
    assert busy[runner] == 0


async def test_metrics_show_trigger_firings_waiting_and_how_late(backend, database_url):
    # No dispatcher here, as when every server is down: the firing stays and grows late.
    async with app_client(database_url, trigger_dispatcher=False) as api:
        host = await api.object("web-1")
        document = {"name": "r", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        restart = await operations.create_operation(api.store, "object", host, document)
        alarm = {"states": [5], "type": "operation", "payload": {"operation": restart["id"]}}
        await triggers.put_triggers(api.store, EntityKind.OBJECT, host, [alarm])
        found = await scrape(api.client)
        assert found["opsjobs_trigger_firings_pending"].samples[0].value == 0
        assert found["opsjobs_trigger_lag_seconds"].samples[0].value == 0
        await states.set_state(api.store, EntityKind.OBJECT, host, 5)
        async with api.store.write() as conn:
            await conn.execute(update(trigger_firings).values(due_at=now_ms() - 60_000))
        found = await scrape(api.client)
        assert found["opsjobs_trigger_firings_pending"].samples[0].value == 1
        assert 60 <= found["opsjobs_trigger_lag_seconds"].samples[0].value < 600
        assert found["opsjobs_trigger_deliveries_open"].samples[0].value == 0
        # A schedule whose run fell due a minute ago, with no dispatcher to run it.
        assert found["opsjobs_schedule_lag_seconds"].samples[0].value == 0
        body = {
            "name": "n",
            "operation": restart["id"],
            "target": {"object": host},
            "interval": 3600,
        }
        admin = await api.admin()
        made = await api.client.post("/node/api/schedules", json=body, headers=admin)
        assert made.status_code == 200, made.text
        async with api.store.write() as conn:
            await conn.execute(update(schedules).values(next_run_at=now_ms() - 60_000))
        found = await scrape(api.client)
        assert 60 <= found["opsjobs_schedule_lag_seconds"].samples[0].value < 600


async def test_metrics_show_running_batches_and_their_waiting_targets(backend, database_url):
    # No dispatcher: the batch's targets all stay waiting.
    async with app_client(database_url, trigger_dispatcher=False) as api:
        document = {"name": "r", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        hosts = [await api.object(f"web-{i}") for i in range(3)]
        found = await scrape(api.client)
        assert found["opsjobs_batches_running"].samples[0].value == 0
        assert found["opsjobs_batch_targets_waiting"].samples[0].value == 0
        restart = await operations.create_operation(api.store, "object", hosts[0], document)
        body = {"operation": restart["id"], "target": {"objects": hosts}}
        made = await api.client.post("/node/api/batches", json=body, headers=await api.admin())
        assert made.status_code == 202, made.text
        found = await scrape(api.client)
        assert found["opsjobs_batches_running"].samples[0].value == 1
        # Only web-0 has the operation: the two others are skipped, not waiting.
        assert found["opsjobs_batch_targets_waiting"].samples[0].value == 1


async def test_metrics_are_open_on_loopback_and_need_manage_users_elsewhere(database_url):
    ctx = Context.create(make_settings(database_url, trusted_proxies=("127.0.0.1",)))
    app = server_app(context=ctx)
    async with lifespan(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)),
            base_url="http://test",
        ) as client:
            api = Api(client, ctx)
            manager = await api.user("metrics-reader", permissions=["manage-users"])
            viewer = await api.user("viewer", permissions=["execute-operations"])
            assert "opsjobs_http_requests" in await scrape(client)
            # The same loopback peer is a trusted proxy: the client is the forwarded address.
            away = {"X-Forwarded-For": "203.0.113.7"}
            assert_error(await client.get("/metrics", headers=away), 401, "Unauthorized")
            assert_error(await client.get("/metrics", headers={**away, **viewer}), 403, "Forbidden")
            assert "opsjobs_jobs" in await scrape(client, headers={**away, **manager})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("198.51.100.4", 40000)),
            base_url="http://test",
        ) as outside:
            # A direct client that is not a trusted proxy cannot claim loopback by a header.
            spoofed = {"X-Forwarded-For": "127.0.0.1"}
            assert_error(await outside.get("/metrics", headers=spoofed), 401, "Unauthorized")
            assert (await outside.get("/healthz")).status_code == 200


async def test_healthz_and_readyz_when_all_is_well(database_url):
    async with app_client(database_url) as api:
        health = await api.client.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "schema": "ok", "runner": "ok"},
        }


async def test_readyz_names_a_schema_behind_and_a_stale_runner(database_url):
    async with app_client(database_url, lost_after_seconds=1.0, heartbeat_seconds=30.0) as api:
        async with api.store.write() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        await asyncio.sleep(1.5)  # the runner beats every 30 s: its heartbeat is stale now
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unready" and body["unready"] == ["runner", "schema"]
        assert "opsjobs migrate" in body["checks"]["schema"]
        assert re.fullmatch(r"heartbeat \d+ s old", body["checks"]["runner"])
        assert body["checks"]["database"] == "ok"


REQUEST_ID = "deploy-42.check:7"


async def test_a_sane_request_id_is_echoed_and_a_hostile_one_replaced(database_url):
    async with app_client(database_url) as api:
        echoed = await api.client.get("/healthz", headers={"X-Request-ID": REQUEST_ID})
        assert echoed.headers["x-request-id"] == REQUEST_ID
        generated = (await api.client.get("/healthz")).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        hostile = [
            "a" * 65,
            "id with spaces",
            "id\x1b[31mred",
            "../../etc/passwd",
            "id=1; password=x",
            "-starts-with-dash",
            "日本",
        ]
        for value in hostile:
            response = await api.client.get("/healthz", headers={"X-Request-ID": value.encode()})
            replaced = response.headers["x-request-id"]
            assert replaced != value and re.fullmatch(r"[0-9a-f]{32}", replaced)
        # Errors carry it too, including a refusal before any route runs.
        refused = await api.client.get("/node/api/jobs/x", headers={"X-Request-ID": "e1"})
        assert refused.status_code >= 400 and refused.headers["x-request-id"] == "e1"


async def test_the_request_id_is_in_the_log_lines_of_the_job_it_made(database_url, log_since):
    async with app_client(database_url) as api:
        admin = await api.admin()
        owner = await api.object("web-1")
        created = await api.client.post(
            f"/node/api/objects/{owner}/operations",
            json={"name": "Hi", "type": 2, "parameters": {"type": "scriptText", "text": "echo hi"}},
            headers=admin,
        )
        assert created.status_code == 200, created.text
        executed = await api.client.post(
            f"/node/api/objects/{owner}/operations/{created.json()['id']}/execute",
            headers={**admin, "X-Request-ID": REQUEST_ID},
        )
        assert executed.status_code == 200, executed.text
        assert executed.headers["x-request-id"] == REQUEST_ID
        job_id = executed.json()
        deadline = time.monotonic() + 30
        while True:
            lines = [line for line in log_since.lines() if job_id in line]
            if any("job finished" in line for line in lines):
                break
            assert time.monotonic() < deadline, lines
            await asyncio.sleep(0.05)
    for event in ("job started", "job finished"):
        line = next(line for line in lines if event in line)
        assert f"request_id={REQUEST_ID}" in line, line


async def _ready(client) -> httpx.Response:
    return await client.get("/readyz")


async def test_readyz_follows_postgresql_away_and_back_without_a_restart(backend, database_url):
    """PostgreSQL through a TCP proxy the test stops and starts (the real server stays up)."""
    if backend != "postgresql":
        pytest.skip("an outage of PostgreSQL")
    url = make_url(database_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.set("forward")
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    try:
        async with app_client(proxied, database_timeout_seconds=1.0) as api:
            assert (await _ready(api.client)).status_code == 200
            proxy.set("down")
            started = time.monotonic()
            down = await _ready(api.client)
            assert down.status_code == 503, down.text
            assert time.monotonic() - started < 10, "readiness answers in bounded time"
            assert "database" in down.json()["unready"]
            assert down.json()["checks"]["database"] in ("unreachable", "no answer within 2 s")
            assert (await api.client.get("/healthz")).status_code == 200
            metrics = await scrape(api.client)
            assert metrics["opsjobs_database_up"].samples[0].value == 0
            proxy.set("forward")
            deadline = time.monotonic() + 30
            while (back := await _ready(api.client)).status_code != 200:
                assert time.monotonic() < deadline, back.text
                await asyncio.sleep(0.2)
            assert back.json()["checks"] == {"database": "ok", "schema": "ok", "runner": "ok"}
    finally:
        proxy.close()


async def test_any_method_a_client_invents_is_one_label(database_url):
    async with app_client(database_url) as api:
        for n in range(20):
            await api.client.request(f"BREW{n}", "/node/api/ping")
        found = await scrape(api.client)
    methods = {s.labels["method"] for s in found["opsjobs_http_requests"].samples}
    assert "other" in methods and not any(m.startswith("BREW") for m in methods)
