"""Trigger messages sent for real (execution/notify.py): e-mail to an SMTP server the test
runs (aiosmtpd), SMS and voice calls through small programs the test writes, with what each
delivery row records: delivered, failed, not-delivered, or pending again for a later try."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path

import orjson
import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import update

import log_secrets
from conftest import settings_for_test
from helpers import free_port
from helpers.deliveries import delivery, pending_delivery
from helpers.execution import opened_store
from helpers.smtp import Inbox, smtp_server
from opsjobs.domain.clock import now_ms
from opsjobs.domain.kinds import EntityKind
from opsjobs.execution.notice import iso_time
from opsjobs.execution.notify import deliver_pending
from opsjobs.store import entities, states
from opsjobs.store.schema import objects


@pytest.fixture
async def store(backend, database_url):
    async with opened_store(database_url) as opened:
        yield opened


@pytest.fixture
async def alarm(store):
    """An object that went from Created to Alarm: its ID and the change."""
    created = await entities.create_object(store, name="web-1", parent_ids=["1"])
    change = await states.set_state(store, EntityKind.OBJECT, created["id"], 5)
    return created["id"], change


def settings(database_url: str, **overrides):
    chosen = {
        "smtp_host": "127.0.0.1",
        "smtp_security": "none",
        "smtp_from": "Ops <ops@example.org>",
        "smtp_timeout_seconds": 10.0,
        "notify_retry_seconds": 1.0,
        "notify_attempts_max": 3,
    }
    return settings_for_test(database_url, **{**chosen, **overrides})


async def test_an_email_names_the_entity_the_states_and_the_time(store, database_url, alarm):
    object_id, change = alarm
    inbox = Inbox()
    recipient = {"to": ["a@example.org", "b@example.org"], "cc": "c@example.org"}
    delivery_id = await pending_delivery(
        store, "e-mail", recipient, owner_id=object_id, change_id=change.id
    )
    async with smtp_server(inbox) as port:
        sent = await deliver_pending(store, settings(database_url, smtp_port=port))

    assert sent == 1
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "ops@example.org"
    assert envelope.rcpt_tos == ["a@example.org", "b@example.org", "c@example.org"]
    message = inbox.message()
    assert message["From"] == "Ops <ops@example.org>"
    assert message["To"] == "a@example.org, b@example.org"
    assert message["Cc"] == "c@example.org"
    assert message["Subject"] == "web-1: Alarm"
    assert message["Message-ID"] == f"<delivery.{delivery_id}@example.org>"
    body = message.get_content()
    when = iso_time(change.timestamp)
    assert body.strip() == f"object web-1 ({object_id}) is Alarm, was Created, since {when}"
    assert when.endswith("Z") and when[:4].isdigit() and when[-5] == "."
    row = await delivery(store, delivery_id)
    assert (row["status"], row["attempts"], row["lease_until"]) == ("delivered", 1, None)
    assert row["detail"] == "accepted: 2.0.0 queued as 42"
    assert row["finished"] is not None


async def test_the_templates_are_the_settings(store, database_url, alarm):
    object_id, change = alarm
    inbox = Inbox()
    await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    template = "[$trigger_type] $${entity_id}=$entity_id $state_id<-$previous_state_id at $time_ms"
    async with smtp_server(inbox) as port:
        await deliver_pending(
            store,
            settings(
                database_url,
                smtp_port=port,
                notify_subject="ALARM $entity_kind $entity_name",
                notify_template=template,
            ),
        )
    message = inbox.message()
    assert message["Subject"] == "ALARM object web-1"
    assert message.get_content().strip() == (
        f"[e-mail] ${{entity_id}}={object_id} 5<-1 at {change.timestamp}"
    )


async def test_a_hostile_name_adds_no_header_and_no_recipient(store, database_url):
    hostile = "web\r\nBcc: evil@example.net\r\nSubject: hi\n\nbody"
    created = await entities.create_object(store, name="x", parent_ids=["1"])
    async with store.write() as conn:  # whatever a name may hold, the message must hold up
        await conn.execute(
            update(objects).where(objects.c.id == created["id"]).values(name=hostile)
        )
    change = await states.set_state(store, EntityKind.OBJECT, created["id"], 8)
    inbox = Inbox()
    await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=created["id"], change_id=change.id
    )
    async with smtp_server(inbox) as port:
        await deliver_pending(store, settings(database_url, smtp_port=port))

    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["a@example.org"]
    message = inbox.message()
    assert message.get_all("Bcc") is None
    assert message.get_all("Subject") == ["web  Bcc: evil@example.net  Subject: hi  body: Down"]
    assert message.get_all("To") == ["a@example.org"]
    assert message.get_all("Cc") is None


async def test_a_recipient_that_is_header_text_is_never_sent_to(store, database_url, alarm):
    object_id, change = alarm
    inbox = Inbox()
    delivery_id = await pending_delivery(
        store,
        "e-mail",
        {"to": "a@example.org\r\nBcc: evil@example.net"},
        owner_id=object_id,
        change_id=change.id,
    )
    async with smtp_server(inbox) as port:
        await deliver_pending(store, settings(database_url, smtp_port=port))

    assert inbox.envelopes == []
    row = await delivery(store, delivery_id)
    assert row["status"] == "failed"
    assert row["detail"].startswith("not a recipient: recipient.payload.to: not an e-mail address")


async def test_smtp_down_is_tried_again_then_failed(store, database_url, alarm):
    object_id, change = alarm
    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    down = settings(database_url, smtp_port=free_port())  # nothing listens there
    t0 = now_ms()

    assert await deliver_pending(store, down, now=t0) == 1
    row = await delivery(store, delivery_id)
    assert (row["status"], row["attempts"], row["lease_until"]) == ("pending", 1, t0 + 1000)
    assert row["detail"].startswith("cannot reach the SMTP server")
    assert await deliver_pending(store, down, now=t0 + 999) == 0  # not before its time

    assert await deliver_pending(store, down, now=t0 + 1000) == 1
    row = await delivery(store, delivery_id)
    # Twice the wait after the second attempt.
    assert (row["status"], row["attempts"], row["lease_until"]) == ("pending", 2, t0 + 3000)

    assert await deliver_pending(store, down, now=t0 + 3000) == 1
    row = await delivery(store, delivery_id)
    assert (row["status"], row["attempts"], row["lease_until"]) == ("failed", 3, None)
    assert row["detail"].startswith("gave up after 3 attempts: cannot reach the SMTP server")
    assert await deliver_pending(store, down, now=t0 + 10**9) == 0
    # Every attempt is on record, with when it ended and how.
    attempts = [orjson.loads(line) for line in row["history"].splitlines()]
    assert [(a["attempt"], a["at"]) for a in attempts] == [(1, t0), (2, t0 + 1000), (3, t0 + 3000)]
    assert all(a["detail"].startswith("cannot reach the SMTP server") for a in attempts)


async def test_a_4xx_is_tried_again_and_a_5xx_fails_at_once(store, database_url, alarm):
    object_id, change = alarm
    inbox = Inbox()
    inbox.refuse = {
        "busy@example.org": "451 4.3.0 mailbox busy, try again",
        "nobody@example.org": "550 5.1.1 no such user",
    }
    busy = await pending_delivery(
        store, "e-mail", {"to": "busy@example.org"}, owner_id=object_id, change_id=change.id
    )
    nobody = await pending_delivery(
        store, "e-mail", {"to": "nobody@example.org"}, owner_id=object_id, change_id=change.id
    )
    partly = await pending_delivery(
        store,
        "e-mail",
        {"to": ["a@example.org", "nobody@example.org"]},
        owner_id=object_id,
        change_id=change.id,
    )
    async with smtp_server(inbox) as port:
        assert await deliver_pending(store, settings(database_url, smtp_port=port)) == 3

    row = await delivery(store, busy)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "451 4.3.0 mailbox busy" in row["detail"]
    row = await delivery(store, nobody)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["detail"] == "recipients refused: nobody@example.org: 550 5.1.1 no such user"
    row = await delivery(store, partly)
    assert row["status"] == "delivered"
    assert "refused: nobody@example.org: 550 5.1.1 no such user" in row["detail"]
    assert [e.rcpt_tos for e in inbox.envelopes] == [["a@example.org"]]


async def test_starttls_required_and_not_offered_sends_nothing(store, database_url, alarm):
    object_id, change = alarm
    inbox = Inbox()
    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    async with smtp_server(inbox) as port:
        await deliver_pending(
            store, settings(database_url, smtp_port=port, smtp_security="starttls")
        )

    assert inbox.envelopes == []
    row = await delivery(store, delivery_id)
    assert row["status"] == "failed"
    assert "STARTTLS" in row["detail"]


@pytest.fixture
def tls(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A server context whose certificate (for 127.0.0.1) the client trusts: its CA is the
    system's as far as the ssl module of this process knows (SSL_CERT_FILE)."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_starttls_then_the_login(store, database_url, alarm, tls):
    object_id, change = alarm
    inbox = Inbox()
    password = "smtp-secret-after-tls-91"
    log_secrets.register(password, "the SMTP password")

    def authenticator(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((auth_data.login, bool(session.ssl)))
        return AuthResult(success=auth_data.password == password.encode())

    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    async with smtp_server(
        inbox, tls_context=tls, require_starttls=True, authenticator=authenticator
    ) as port:
        await deliver_pending(
            store,
            settings(
                database_url,
                smtp_port=port,
                smtp_security="starttls",
                smtp_user="ops",
                smtp_password=password,
            ),
        )
    assert inbox.logins == [(b"ops", True)]  # the password went over TLS
    assert (await delivery(store, delivery_id))["status"] == "delivered"
    assert len(inbox.envelopes) == 1


async def test_tls_from_the_first_byte(store, database_url, alarm, tls):
    object_id, change = alarm
    inbox = Inbox()
    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    async with smtp_server(inbox, ssl=tls) as port:
        await deliver_pending(store, settings(database_url, smtp_port=port, smtp_security="tls"))
    assert (await delivery(store, delivery_id))["status"] == "delivered"
    assert inbox.message()["Subject"] == "web-1: Alarm"


async def test_a_certificate_nobody_vouches_for_gets_nothing(
    store, database_url, alarm, tls, monkeypatch
):
    object_id, change = alarm
    monkeypatch.delenv("SSL_CERT_FILE")  # the test CA is no longer trusted
    inbox = Inbox()
    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    async with smtp_server(inbox, ssl=tls) as port:
        await deliver_pending(store, settings(database_url, smtp_port=port, smtp_security="tls"))
    assert inbox.envelopes == []
    row = await delivery(store, delivery_id)
    assert row["status"] == "pending"  # tried again later, in case the server is fixed
    assert "CERTIFICATE_VERIFY_FAILED" in row["detail"]


async def test_the_smtp_login_is_used_and_never_recorded(store, database_url, alarm):
    object_id, change = alarm
    password = "smtp-secret-7d1e"
    log_secrets.register(password, "the SMTP password")
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == password.encode()
        inbox.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=ok)

    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    async with smtp_server(inbox, authenticator=authenticator, auth_require_tls=False) as port:
        await deliver_pending(
            store,
            settings(database_url, smtp_port=port, smtp_user="ops", smtp_password=password),
        )

    assert inbox.logins == [(b"ops", password.encode())]
    row = await delivery(store, delivery_id)
    assert row["status"] == "delivered"
    assert password not in str(row)


async def test_no_smtp_server_is_not_delivered(store, database_url, alarm):
    object_id, change = alarm
    delivery_id = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id=object_id, change_id=change.id
    )
    assert await deliver_pending(store, settings(database_url, smtp_host="")) == 1
    row = await delivery(store, delivery_id)
    assert (row["status"], row["detail"]) == ("not-delivered", "no SMTP server configured")


# -- SMS and voice calls ---------------------------------------------------------------------


def program(tmp_path: Path, body: str, name: str = "send") -> str:
    """A small program: records its argv and environment in <its path>.json, then ``body``."""
    path = tmp_path / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(sys.argv[0] + '.json', 'w') as out:\n"
        "    json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, out)\n" + body
    )
    path.chmod(0o755)
    return str(path)


def called(command: str) -> dict:
    return orjson.loads(Path(command + ".json").read_bytes())


async def test_an_sms_goes_to_the_command_as_argv_and_environment(
    store, database_url, alarm, tmp_path, monkeypatch
):
    object_id, change = alarm
    monkeypatch.setenv("OPSJOBS_SMTP_PASSWORD", "server-secret-0c4b")  # the server's, not its
    command = program(tmp_path, "")
    delivery_id = await pending_delivery(
        store, "sms", {"phone": "+1 (555) 010-0100"}, owner_id=object_id, change_id=change.id
    )
    template = "$entity_name $$(touch pwned) `id` ; is $state"
    sent = await deliver_pending(
        store,
        settings(
            database_url, sms_command=(command, "--gateway", "main one"), notify_template=template
        ),
    )

    assert sent == 1
    seen = called(command)
    text = "web-1 $(touch pwned) `id` ; is Alarm"  # as written: no shell read it
    assert seen["argv"] == ["--gateway", "main one", "+1 (555) 010-0100", text]
    assert seen["env"]["OPSJOBS_PHONE"] == "+1 (555) 010-0100"
    assert seen["env"]["OPSJOBS_MESSAGE"] == text
    assert seen["env"]["OPSJOBS_DELIVERY_ID"] == delivery_id
    assert "OPSJOBS_SMTP_PASSWORD" not in seen["env"]
    assert not (tmp_path / "pwned").exists()
    row = await delivery(store, delivery_id)
    assert (row["status"], row["detail"]) == ("delivered", f"{command} exited with code 0")


async def test_a_voice_call_goes_to_its_own_command(store, database_url, alarm, tmp_path):
    object_id, change = alarm
    sms, voice = program(tmp_path, "", "sms"), program(tmp_path, "", "voice")
    delivery_id = await pending_delivery(
        store, "voiceCall", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
    )
    await deliver_pending(store, settings(database_url, sms_command=(sms,), voice_command=(voice,)))
    assert called(voice)["argv"][0] == "+15550100"
    assert not Path(sms + ".json").exists()
    assert (await delivery(store, delivery_id))["status"] == "delivered"


async def test_a_failing_command_is_failed_with_its_code_and_stderr(
    store, database_url, alarm, tmp_path
):
    object_id, change = alarm
    command = program(
        tmp_path, "sys.stderr.write('quota exceeded\\n' + 'x' * 100000)\nsys.exit(3)\n"
    )
    delivery_id = await pending_delivery(
        store, "sms", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
    )
    await deliver_pending(store, settings(database_url, sms_command=(command,)))

    row = await delivery(store, delivery_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["detail"].startswith(f"{command}: exited with code 3: quota exceeded xxx")
    assert len(row["detail"]) <= 1000


async def test_exit_75_asks_for_another_attempt(store, database_url, alarm, tmp_path):
    object_id, change = alarm
    command = program(tmp_path, "sys.exit(75)\n")
    delivery_id = await pending_delivery(
        store, "sms", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
    )
    await deliver_pending(store, settings(database_url, sms_command=(command,)))
    row = await delivery(store, delivery_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "exited with code 75" in row["detail"]


async def test_a_command_that_hangs_is_ended(store, database_url, alarm, tmp_path):
    object_id, change = alarm
    command = program(tmp_path, "import time\ntime.sleep(600)\n")
    delivery_id = await pending_delivery(
        store, "sms", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
    )
    await deliver_pending(
        store,
        settings(
            database_url,
            sms_command=(command,),
            notify_command_timeout_seconds=1.0,
            kill_grace_seconds=0.5,
        ),
    )
    row = await delivery(store, delivery_id)
    assert row["status"] == "failed"
    assert "timed out after 1 s" in row["detail"]


@pytest.mark.parametrize(
    ("kind", "setting"), [("sms", "sms_command"), ("voiceCall", "voice_command")]
)
async def test_no_command_is_not_delivered(store, database_url, alarm, kind, setting):
    object_id, change = alarm
    delivery_id = await pending_delivery(
        store, kind, {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
    )
    await deliver_pending(store, settings(database_url))
    row = await delivery(store, delivery_id)
    assert (row["status"], row["detail"]) == (
        "not-delivered",
        f"no command configured ({setting} is not set)",
    )


async def test_a_missing_program_is_failed(store, database_url, alarm, tmp_path):
    object_id, change = alarm
    delivery_id = await pending_delivery(
        store, "sms", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
    )
    missing = str(tmp_path / "no-such-program")
    await deliver_pending(store, settings(database_url, sms_command=(missing,)))
    row = await delivery(store, delivery_id)
    assert row["status"] == "failed"
    assert row["detail"].startswith(f"{missing}: cannot run {missing}")


# -- passes ----------------------------------------------------------------------------------


async def test_a_pass_with_nothing_pending_sends_nothing(store, database_url):
    assert await deliver_pending(store, settings(database_url)) == 0


async def test_a_pass_sends_more_than_one_batch(store, database_url, alarm, tmp_path):
    object_id, change = alarm
    command = program(tmp_path, "")
    ids = [
        await pending_delivery(
            store, "sms", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
        )
        for _ in range(5)
    ]
    sent = await deliver_pending(
        store, settings(database_url, sms_command=(command,), notify_concurrency=2)
    )
    assert sent == 5
    assert [(await delivery(store, i))["status"] for i in ids] == ["delivered"] * 5


async def test_a_message_whose_sender_died_is_sent_once_its_lease_ran_out(
    store, database_url, alarm, tmp_path
):
    object_id, change = alarm
    command = program(tmp_path, "")
    t0 = now_ms()
    delivery_id = await pending_delivery(
        store,
        "sms",
        {"phone": "+15550100"},
        owner_id=object_id,
        change_id=change.id,
        status="sending",
        attempts=1,
        lease_until=t0 + 5000,
    )
    sms = settings(database_url, sms_command=(command,))
    assert await deliver_pending(store, sms, now=t0) == 0  # still held
    assert not Path(command + ".json").exists()

    assert await deliver_pending(store, sms, now=t0 + 5000) == 1

    row = await delivery(store, delivery_id)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert called(command)["env"]["OPSJOBS_DELIVERY_ID"] == delivery_id


async def test_a_message_for_a_deleted_entity_says_so(store, database_url, tmp_path):
    command = program(tmp_path, "")
    delivery_id = await pending_delivery(
        store, "sms", {"phone": "+15550100"}, owner_id="0123456789abcdef01234567"
    )
    await deliver_pending(store, settings(database_url, sms_command=(command,)))
    assert called(command)["argv"][-1].startswith("object (deleted) (0123456789abcdef01234567)")
    assert (await delivery(store, delivery_id))["status"] == "delivered"
    assert os.path.exists(command + ".json")


SLOW = "+15550199"


def held_program(tmp_path: Path) -> str:
    """A program that returns at once, except for the phone SLOW: that one waits until the
    file ``release`` beside it exists (its pid in ``slow.pid`` meanwhile)."""
    return program(
        tmp_path,
        "import pathlib, time\n"
        "here = pathlib.Path(sys.argv[0]).parent\n"
        f"if sys.argv[-2] == {SLOW!r}:\n"
        "    (here / 'slow.pid').write_text(str(os.getpid()))\n"
        "    while not (here / 'release').exists():\n"
        "        time.sleep(0.02)\n",
    )


async def wait_for(check, what: str, seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_slow_message_does_not_hold_up_the_others(store, database_url, alarm, tmp_path):
    object_id, change = alarm
    command = held_program(tmp_path)
    slow = await pending_delivery(
        store, "sms", {"phone": SLOW}, owner_id=object_id, change_id=change.id
    )
    fast = [
        await pending_delivery(
            store, "sms", {"phone": "+15550100"}, owner_id=object_id, change_id=change.id
        )
        for _ in range(4)
    ]
    sms = settings(database_url, sms_command=(command,), notify_concurrency=2)
    passing = asyncio.create_task(deliver_pending(store, sms))

    async def fast_ones_delivered() -> bool:
        return all([(await delivery(store, i))["status"] == "delivered" for i in fast])

    await wait_for(fast_ones_delivered, "the fast messages, through the one free slot")
    assert (await delivery(store, slow))["status"] == "sending"
    (tmp_path / "release").touch()
    assert await asyncio.wait_for(passing, 60) == 5
    assert (await delivery(store, slow))["status"] == "delivered"


async def test_a_pass_cancelled_ends_its_commands_and_leaves_the_rows_to_their_lease(
    store, database_url, alarm, tmp_path
):
    object_id, change = alarm
    command = held_program(tmp_path)
    slow = await pending_delivery(
        store, "sms", {"phone": SLOW}, owner_id=object_id, change_id=change.id
    )
    passing = asyncio.create_task(
        deliver_pending(store, settings(database_url, sms_command=(command,)))
    )

    async def started() -> bool:
        return (tmp_path / "slow.pid").exists() and (tmp_path / "slow.pid").read_text() != ""

    await wait_for(started, "the command to start")
    pid = int((tmp_path / "slow.pid").read_text())
    passing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await passing

    async def ended() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await wait_for(ended, "the command to be ended")
    row = await delivery(store, slow)
    assert (row["status"], row["attempts"]) == ("sending", 1)  # taken again after its lease
