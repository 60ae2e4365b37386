"""A trigger's e-mail: the message built from the checked recipients and the templates, and
one attempt at handing it to the configured SMTP server (aiosmtplib).

An attempt ends one of three ways (domain/messages.Attempt): delivered (the server took it
for at least one recipient), failed for good (a 5xx answer, a refused recipient, TLS that
was required and not offered), or failed for now (the server cannot be reached, does not
answer in time, or answers 4xx), which is tried again later. The password goes to the
server only, never into a detail or a log line.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from ..config import Settings
from ..domain.messages import DELIVERED, FAILED, NOT_DELIVERED, Attempt, Recipients
from .notice import Notice

# A whole conversation (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT..., DATA) may take this
# many times smtp_timeout_seconds, the bound of each step.
SMTP_STEPS = 4
NO_SERVER = "no SMTP server configured"


def sender_address(settings: Settings) -> str:
    """The address of smtp_from (which may be ``Name <address>``)."""
    return parseaddr(settings.smtp_from)[1]


def message_id(delivery_id: str, settings: Settings) -> str:
    """The same for every attempt at one delivery: a receiver that got an attempt whose
    answer was lost can tell the next one is the same message."""
    domain = sender_address(settings).rpartition("@")[2] or "opsjobs"
    return f"<delivery.{delivery_id}@{domain}>"


def build_email(
    settings: Settings, delivery_id: str, recipients: Recipients, notice: Notice, now: int
) -> EmailMessage:
    """The message: From the settings, To and Cc the checked recipients and no others,
    Subject and text from the templates."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients.to)
    if recipients.cc:
        message["Cc"] = ", ".join(recipients.cc)
    message["Subject"] = notice.subject
    message["Date"] = format_datetime(datetime.fromtimestamp(now / 1000, UTC))
    message["Message-ID"] = message_id(delivery_id, settings)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
    message.set_content(notice.text)
    return message


def _answer(code: int, text: str) -> str:
    return f"{code} {' '.join(str(text).split())}"


def _refused(exc: aiosmtplib.SMTPRecipientsRefused) -> Attempt:
    said = "; ".join(f"{r.recipient}: {_answer(r.code, r.message)}" for r in exc.recipients)
    transient = any(400 <= r.code < 500 for r in exc.recipients)
    return Attempt(FAILED, f"recipients refused: {said}", transient=transient)


def _failure(exc: Exception) -> Attempt:
    """What a failed attempt came to: again later, or failed for good."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return _refused(exc)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"the SMTP server answered {_answer(exc.code, exc.message)}"
        return Attempt(FAILED, detail, transient=400 <= exc.code < 500)
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return Attempt.again("the SMTP server did not answer in time")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return Attempt.again(f"cannot reach the SMTP server: {exc}")
    if isinstance(exc, OSError):
        return Attempt.again(f"cannot reach the SMTP server: {exc.strerror or exc}")
    # STARTTLS or AUTH required by the settings and not offered: a matter for the settings.
    return Attempt(FAILED, f"SMTP: {exc}")


def _delivered(errors: dict, response: str) -> Attempt:
    detail = f"accepted: {' '.join(str(response).split())}"
    if errors:
        refused = "; ".join(f"{who}: {_answer(r.code, r.message)}" for who, r in errors.items())
        detail += f"; refused: {refused}"
    return Attempt(DELIVERED, detail)


async def send_email(settings: Settings, message: EmailMessage, recipients: Recipients) -> Attempt:
    """One attempt at handing ``message`` to the SMTP server, for To and Cc."""
    if not settings.smtp_host:
        return Attempt(NOT_DELIVERED, NO_SERVER)
    try:
        async with asyncio.timeout(settings.smtp_timeout_seconds * SMTP_STEPS):
            errors, response = await aiosmtplib.send(
                message,
                sender=sender_address(settings),
                recipients=[*recipients.to, *recipients.cc],
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_user or None,
                password=settings.smtp_password or None,
                timeout=settings.smtp_timeout_seconds,
                use_tls=settings.smtp_security == "tls",
                # Required when asked for: never quietly in clear text instead.
                start_tls=settings.smtp_security == "starttls",
            )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return _failure(exc)
    return _delivered(errors, response)
