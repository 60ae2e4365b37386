"""A real SMTP server (aiosmtpd) on a free port of this machine, and the inbox that keeps
what it receives: where the tests of trigger e-mails send them."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.message
import email.policy
from collections.abc import AsyncIterator

from aiosmtpd.smtp import SMTP as SMTPServer


class Inbox:
    """An aiosmtpd handler: keeps what it is given, or answers what the test says."""

    def __init__(self) -> None:
        self.envelopes = []
        self.refuse: dict[str, str] = {}  # recipient -> the answer to its RCPT
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 queued as 42"

    def message(self, n: int = 0) -> email.message.EmailMessage:
        return email.message_from_bytes(self.envelopes[n].content, policy=email.policy.default)


@contextlib.asynccontextmanager
async def smtp_server(inbox: Inbox, *, ssl=None, **options) -> AsyncIterator[int]:
    """A real SMTP server on a free port of this machine, in the test's own loop; ``ssl``:
    TLS from the first byte."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTPServer(inbox, hostname="mail.test", **options), "127.0.0.1", 0, ssl=ssl
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
