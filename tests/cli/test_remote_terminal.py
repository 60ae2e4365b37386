"""Text from a server shown on a terminal: control characters become visible escapes; times
on the command line."""

from __future__ import annotations

import time

import pytest
import typer

from opsjobs.cli.remote.follow import exit_code
from opsjobs.cli.remote.terminal import cell, safe_name, safe_output
from opsjobs.cli.remote.times import parse_time


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain\ttext\n", "plain\ttext\n"),
        ("crlf\r\n", "crlf\n"),
        ("over\rwrite", "over\\x0dwrite"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("csi \x9b31m", "csi \\x9b31m"),
        ("back\x08space\x7f", "back\\x08space\\x7f"),
        ("evil\u202ereversed\u2066", "evil\\u202ereversed\\u2066"),
        ("unicode é ✓ 日本", "unicode é ✓ 日本"),
    ],
)
def test_output_keeps_lines_and_shows_controls(raw, shown):
    assert safe_output(raw) == shown


def test_a_name_stays_on_one_line_and_is_never_markup():
    assert safe_name("two\nlines\tand\x1b[1m") == "two\\x0alines\\x09and\\x1b[1m"
    assert safe_name(None) == ""
    assert cell("[red]not markup[/red]").plain == "[red]not markup[/red]"


def test_exit_codes():
    assert exit_code({"description": {"exitCode": 3}, "execution": {"status": "failed"}}) == 3
    assert exit_code({"description": {}, "execution": {"status": "succeeded"}}) == 0
    assert exit_code({"description": {"exitCode": None}, "execution": {"status": "lost"}}) == 1
    assert exit_code({"description": {"exitCode": 999}, "execution": {"status": "failed"}}) == 1
    assert exit_code({"description": {"exitCode": True}, "execution": {"status": "failed"}}) == 1


def test_times():
    assert parse_time(None) is None
    assert parse_time("1795963545765") == 1795963545765
    assert parse_time("2026-12-01T00:00:00+00:00") == 1796083200000
    assert abs(parse_time("2h") - (time.time() - 7200) * 1000) < 5000
    for wrong in ("yesterday", "-5", "99999999999999999999", "1y"):
        with pytest.raises(typer.BadParameter):
            parse_time(wrong)
