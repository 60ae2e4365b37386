"""A trigger message's rules (domain/messages.py): recipients checked again when it is sent,
the wait before each next attempt, details kept to one bounded line."""

from __future__ import annotations

import orjson
import pytest

from opsjobs.domain.errors import BadRequest
from opsjobs.domain.messages import (
    DETAIL_MAX,
    RETRY_MAX_MS,
    Recipients,
    bounded,
    recipients,
    retry_delay_ms,
)


def test_e_mail_recipients_are_to_and_cc_as_given():
    text = orjson.dumps({"to": "a@example.org", "cc": ["b@example.org", "c@example.org"]})
    assert recipients("e-mail", text.decode()) == Recipients(
        to=("a@example.org",), cc=("b@example.org", "c@example.org")
    )
    assert recipients("sms", '{"phone": "+1 555 0100"}') == Recipients(phone="+1 555 0100")
    assert recipients("voiceCall", '{"phone": "5550100"}').phone == "5550100"


@pytest.mark.parametrize(
    ("kind", "recipient", "message"),
    [
        ("e-mail", '{"to": "a@example.org\\r\\nBcc: x@example.net"}', "recipient.payload.to"),
        (
            "e-mail",
            '{"to": "a@example.org", "cc": ["b@x.org, c@y.org"]}',
            "recipient.payload.cc[0]",
        ),
        ("e-mail", '{"to": "Name <a@example.org>"}', "recipient.payload.to"),
        ("e-mail", "{}", "recipient.payload.to"),
        ("sms", '{"phone": "+1555; rm -rf /"}', "recipient.payload.phone"),
        ("sms", '{"phone": "--help"}', "recipient.payload.phone"),
        ("voiceCall", "not json", "recipient: not JSON"),
        ("sms", None, "recipient.payload"),
        ("operation", '{"operation": "x"}', "type: operation sends no message"),
    ],
)
def test_recipients_that_are_not_an_address_or_a_number_are_refused(kind, recipient, message):
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        recipients(kind, recipient)


def test_the_wait_doubles_and_is_bounded():
    assert [retry_delay_ms(30_000, n) for n in (1, 2, 3, 4)] == [30_000, 60_000, 120_000, 240_000]
    assert retry_delay_ms(30_000, 0) == 30_000
    assert retry_delay_ms(30_000, 40) == RETRY_MAX_MS
    assert retry_delay_ms(30_000, 10**9) == RETRY_MAX_MS


def test_a_detail_is_one_bounded_line():
    assert bounded("refused\r\n  by\0 server\n") == "refused by server"
    long = bounded("x" * 5000)
    assert len(long) == DETAIL_MAX and long.endswith("…")
