"""The MQTT executor: publish one message with QoS 1 to the configured broker.

Every step has a deadline: a broker that is down, a host that drops packets or a broker that
never acknowledges ends the job ``failed`` with the reason, never a runner slot held forever.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiomqtt

from ..domain.jobs import JobStatus
from ..domain.outcome import Outcome
from ..domain.spec import MqttSpec
from .control import JobControl


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_broker(url: str) -> Broker:
    """``mqtt://[user:password@]host[:port]``; ``mqtts://`` for TLS (port 8883 by default)."""
    parts = urlsplit(url if "://" in url else "mqtt://" + url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return Broker(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


async def _publish(broker: Broker, spec: MqttSpec, connect_timeout: float) -> None:
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        timeout=connect_timeout,
        tls_context=ssl.create_default_context() if broker.tls else None,
    )
    try:
        async with asyncio.timeout(connect_timeout):
            await client.__aenter__()
    except (aiomqtt.MqttError, TimeoutError) as exc:
        raise ConnectionError(f"MQTT broker {broker.address} unreachable") from exc
    try:
        async with asyncio.timeout(connect_timeout):
            await client.publish(spec.topic, spec.message.encode(), qos=1)
    except (aiomqtt.MqttError, TimeoutError) as exc:
        raise ConnectionError(f"MQTT publish to {broker.address} failed: {exc}") from exc
    finally:
        try:
            async with asyncio.timeout(connect_timeout):
                await client.__aexit__(None, None, None)
        except (aiomqtt.MqttError, TimeoutError):
            pass  # the message is acknowledged already; a messy goodbye changes nothing


async def publish(
    spec: MqttSpec, mqtt_url: str, control: JobControl, connect_timeout: float = 5.0
) -> Outcome:
    description = {"topic": spec.topic, "message": spec.message}
    try:
        broker = parse_broker(mqtt_url)
    except ValueError as exc:
        return Outcome(JobStatus.FAILED, description, f"bad MQTT URL: {exc}")
    publishing = asyncio.ensure_future(_publish(broker, spec, connect_timeout))
    await asyncio.wait({publishing, control.stop_requested}, return_when="FIRST_COMPLETED")
    if not publishing.done():
        publishing.cancel()
        await asyncio.wait({publishing})
        return Outcome(control.status, description, control.reason)
    try:
        publishing.result()
    except ConnectionError as exc:
        return Outcome(JobStatus.FAILED, description, str(exc))
    return Outcome(JobStatus.SUCCEEDED, description)
