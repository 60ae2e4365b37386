"""The sender loop (execution/sender.py): sends what is pending at once, what the dispatcher
announces when woken, and a retry when it falls due, with nobody waking it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import settings_for_test
from helpers.deliveries import delivery, pending_delivery
from helpers.execution import opened_store
from opsjobs.execution.sender import Sender


@pytest.fixture
async def store(backend, database_url):
    async with opened_store(database_url) as opened:
        yield opened


@contextlib.asynccontextmanager
async def running(sender: Sender) -> AsyncIterator[Sender]:
    task = asyncio.create_task(sender.run_forever())
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def status_becomes(store, delivery_id: str, status: str, seconds: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + seconds
    while (row := await delivery(store, delivery_id))["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"still {row['status']}: {row}"
        await asyncio.sleep(0.02)
    return row


def second_time_lucky(tmp_path: Path) -> str:
    """A program that asks for another attempt (exit 75) the first time, and succeeds."""
    path = tmp_path / "send"
    path.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys\n"
        "mark = pathlib.Path(sys.argv[0] + '.tried')\n"
        "if not mark.exists():\n"
        "    mark.touch()\n"
        "    sys.exit(75)\n"
    )
    path.chmod(0o755)
    return str(path)


async def test_the_sender_sends_when_woken_and_retries_when_due(store, database_url, tmp_path):
    settings = settings_for_test(
        database_url, sms_command=(second_time_lucky(tmp_path),), notify_retry_seconds=0.3
    )
    # A poll far beyond the test: only a wake or a due retry can move it.
    sender = Sender(store, settings, poll_seconds=3600)
    first = await pending_delivery(store, "sms", {"phone": "+15550100"}, owner_id="1")
    async with running(sender):
        # Pending when it started: the first pass takes it; exit 75, so it is due again in
        # 0.3 s, and the sender wakes for that by itself.
        row = await status_becomes(store, first, "delivered")
        assert row["attempts"] == 2

        second = await pending_delivery(store, "sms", {"phone": "+15550100"}, owner_id="1")
        sender.wake()
        row = await status_becomes(store, second, "delivered")
        assert row["attempts"] == 1
    assert sender.sent == 3
