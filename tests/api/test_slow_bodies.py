"""A request body must arrive within OPSJOBS_BODY_TIMEOUT_SECONDS: clients
that send their headers and then stall or trickle the body are answered 408 and cut off,
while others are served meanwhile. Against a real `opsjobs serve`, over raw sockets.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from helpers import cli_env, run_cli, running_server

BODY_TIMEOUT = 3.0
STALLED, TRICKLING = 180, 20
# Generous, for a busy machine; without the timeout they would stay open indefinitely.
MARGIN = 30.0


def request_head(port: int, length: int) -> bytes:
    return (
        f"POST /node/api/users/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def slow_client(port: int, trickle: bool, deadline: float) -> tuple[bytes, float]:
    """Headers and a part of the body, then nothing more (or a byte now and then); answers
    what the server sent before closing, and when it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head(port, 1000) + b'{"login": ')
    await writer.drain()
    received = b""

    async def read_all() -> None:
        nonlocal received
        while chunk := await reader.read(4096):
            received += chunk

    reading = asyncio.create_task(read_all())
    try:
        while not reading.done() and time.monotonic() < deadline:
            if trickle:
                try:
                    writer.write(b" ")
                    await writer.drain()
                except OSError:
                    break
            await asyncio.wait([reading], timeout=0.5)
        await asyncio.wait_for(reading, max(0.1, deadline - time.monotonic()))
    except (TimeoutError, OSError):
        pass
    finally:
        reading.cancel()
        writer.transport.abort()
    return received, time.monotonic()


async def test_stalled_and_trickling_bodies_are_cut_off_while_others_are_served(tmp_path):
    url = f"sqlite:///{tmp_path / 'opsjobs.db'}"
    assert run_cli("migrate", "--database-url", url).returncode == 0
    env = cli_env(OPSJOBS_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT), OPSJOBS_EMBEDDED_RUNNER="0")
    with running_server(url, env=env) as (base, _process):
        port = int(base.rsplit(":", 1)[1])
        started = time.monotonic()
        deadline = started + BODY_TIMEOUT + MARGIN
        clients = [
            asyncio.create_task(slow_client(port, i < TRICKLING, deadline))
            for i in range(STALLED + TRICKLING)
        ]
        await asyncio.sleep(0.5)
        # Meanwhile the server answers others.
        async with httpx.AsyncClient(base_url=base, timeout=BODY_TIMEOUT + MARGIN) as client:
            response = await client.post(
                "/node/api/users/session", json={"login": "nobody", "password": "wrong-password"}
            )
            assert response.status_code == 401, response.text
            served_at = time.monotonic()
        results = await asyncio.gather(*clients)
    assert served_at - started < BODY_TIMEOUT + MARGIN
    statuses = [received.split(b"\r\n", 1)[0] for received, _ in results]
    assert statuses == [b"HTTP/1.1 408 Request Timeout"] * len(results), set(statuses)
    closed_by = max(closed for _, closed in results) - started
    assert closed_by < BODY_TIMEOUT + MARGIN, closed_by
    assert all(b'"code":"RequestTimeout"' in received for received, _ in results)
