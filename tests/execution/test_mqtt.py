"""MQTT operations against a real broker (OPSJOBS_TEST_MQTT_URL, e.g. Mosquitto), and
against brokers that are not there."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import aiomqtt
import pytest

from conftest import IN_CI
from helpers import free_port
from helpers.execution import opened_store, queue, runner_settings, started_runner, wait_status
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.spec import MqttSpec
from opsjobs.execution.control import JobControl
from opsjobs.execution.mqtt import Broker, parse_broker, publish

MQTT_URL = os.environ.get("OPSJOBS_TEST_MQTT_URL")


@pytest.fixture
def mqtt_url() -> str:
    if not MQTT_URL:
        if IN_CI:
            pytest.fail("CI=true needs OPSJOBS_TEST_MQTT_URL: the MQTT broker is not optional")
        pytest.skip("set OPSJOBS_TEST_MQTT_URL to test against a real MQTT broker")
    return MQTT_URL


class Subscriber:
    """Collects what arrives on one topic, from before the publish until asked."""

    def __init__(self, url: str, topic: str) -> None:
        self.broker = parse_broker(url)
        self.topic = topic
        self.messages: list[aiomqtt.Message] = []
        self._client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
        )

    async def __aenter__(self) -> Subscriber:
        await self._client.__aenter__()
        await self._client.subscribe(self.topic, qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for message in self._client.messages:
            self.messages.append(message)

    async def received(self, count: int = 1, settle: float = 0.3) -> list[aiomqtt.Message]:
        deadline = time.monotonic() + 5
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(settle)  # anything more (a duplicate) would arrive by now
        return self.messages

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
        await self._client.__aexit__(*exc)


def topic() -> str:
    return f"opsjobs/test/{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("url", "broker"),
    [
        ("mqtt://127.0.0.1:1883", Broker("127.0.0.1", 1883)),
        ("mqtt://broker.example", Broker("broker.example", 1883)),
        ("mqtts://u%40x:p%3Aw@broker.example", Broker("broker.example", 8883, "u@x", "p:w", True)),
        ("10.0.0.5:1884", Broker("10.0.0.5", 1884)),
    ],
)
def test_broker_urls(url, broker):
    assert parse_broker(url) == broker


async def test_publish_delivers_exactly_the_message(mqtt_url):
    where = topic()
    message = 'restart "web-1" — now ✓'
    async with Subscriber(mqtt_url, where) as subscriber:
        outcome = await publish(MqttSpec(where, message), mqtt_url, JobControl())
        received = await subscriber.received()
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.description == {"topic": where, "message": message}
    assert outcome.error is None
    assert [(str(m.topic), m.payload.decode(), m.qos) for m in received] == [(where, message, 1)]


async def test_a_runner_publishes_an_mqtt_job(backend, database_url, mqtt_url):
    where = topic()
    settings = runner_settings(database_url, mqtt_url=mqtt_url)
    async with opened_store(database_url) as store, Subscriber(mqtt_url, where) as subscriber:
        async with started_runner(store, settings):
            job_id = await queue(store, MqttSpec(where, "deploy {{id}} done"))
            document = await wait_status(store, job_id)
        received = await subscriber.received()
    assert document["execution"]["status"] == "succeeded"
    assert document["description"] == {"topic": where, "message": "deploy {{id}} done"}
    assert [m.payload for m in received] == [b"deploy {{id}} done"]


async def test_a_broker_that_is_down_fails_the_job_with_the_reason():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    outcome = await publish(
        MqttSpec("a/b", "hello"), f"mqtt://127.0.0.1:{port}", JobControl(), connect_timeout=2
    )
    assert time.monotonic() - started < 2.5
    assert outcome.status is JobStatus.FAILED
    assert outcome.error == f"MQTT broker 127.0.0.1:{port} unreachable"
    assert outcome.description == {"topic": "a/b", "message": "hello"}


async def test_a_broker_that_never_answers_cannot_hang_the_job():
    # A listening socket that accepts and never speaks MQTT: the connect deadline ends it.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        outcome = await publish(
            MqttSpec("a/b", "hello"), f"mqtt://127.0.0.1:{port}", JobControl(), connect_timeout=0.5
        )
        assert time.monotonic() - started < 2
    finally:
        server.close()
    assert outcome.status is JobStatus.FAILED
    assert outcome.error == f"MQTT broker 127.0.0.1:{port} unreachable"


async def test_a_runner_records_an_unreachable_broker(backend, database_url):
    port = free_port()
    settings = runner_settings(database_url, mqtt_url=f"mqtt://127.0.0.1:{port}")
    async with opened_store(database_url) as store, started_runner(store, settings):
        job_id = await queue(store, MqttSpec("a/b", "hello"))
        document = await wait_status(store, job_id)
    assert document["execution"]["status"] == "failed"
    assert document["execution"]["error"] == f"MQTT broker 127.0.0.1:{port} unreachable"


async def test_a_cancelled_publish_ends_cancelled():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    control = JobControl()
    try:
        task = asyncio.create_task(
            publish(MqttSpec("a/b", "x"), f"mqtt://127.0.0.1:{port}", control, connect_timeout=30)
        )
        await asyncio.sleep(0.2)
        control.stop("cancelled")
        outcome = await asyncio.wait_for(task, 2)
    finally:
        server.close()
    assert outcome.status is JobStatus.CANCELLED
    assert outcome.error == "cancelled"
