"""Settings are declared once (config.py): each is read from its own variable, and the
README's table documents every one of them, with its variable and default, and no other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsjobs.config import ALERT_STATE_IDS, ENV_PREFIX, InvalidSetting, Settings, declared, masked
from opsjobs.domain.states import BUILT_IN

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()

# A value to set for each declared type, and what it reads as.
SAMPLES = {
    "int": ("7", 7),
    "float": ("7.5", 7.5),
    "bool": ("off", False),
    "str": ("text", "text"),
    "str | None": ("text", "text"),
    "tuple[str, ...]": (" a, b ,", ("a", "b")),
    "Argv": ("/usr/bin/send --to 'a b'", ("/usr/bin/send", "--to", "a b")),
}
ALERT_STATES_SAMPLE = '{"severity": {}, "alertname": {"DiskFull": 8}, "default": 7, "resolved": 1}'
# A value to set for settings that accept only some texts, and what it reads as.
BY_NAME = {
    "trusted_proxies": ("10.0.0.0/8, ::1", ("10.0.0.0/8", "::1")),
    "metrics_open_to": ("10.0.0.0/8, ::1", ("10.0.0.0/8", "::1")),
    "smtp_from": ("Ops <ops@example.org>", "Ops <ops@example.org>"),
    "alert_states": (ALERT_STATES_SAMPLE, ALERT_STATES_SAMPLE),
    "write_share": ("0.5", 0.5),  # a share: at most 1
}


def documented() -> dict[str, str]:
    """Variable → default, from the README's configuration table; a row may pair settings
    ("`A` / `B`" with "`1` / `2`")."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        variables, defaults = (cell.strip() for cell in line.split("|")[1:3])
        names = re.findall(r"`([A-Z0-9_]+)`", variables)
        values = defaults.split(" / ") if len(names) > 1 else [defaults]
        assert len(values) == len(names), f"one default per variable: {line}"
        for name, value in zip(names, values, strict=True):
            assert name not in table, f"{name} documented twice"
            table[name] = value
    return table


def test_the_readme_documents_every_setting_and_no_other():
    table = documented()
    names = {s.env for s in declared()}
    assert sorted(names - set(table)) == [], "settings the README leaves out"
    assert sorted(set(table) - names) == [], "documented settings that do not exist"


@pytest.mark.parametrize("s", declared(), ids=lambda s: s.env)
def test_the_readme_gives_each_setting_its_default(s):
    assert documented()[s.env] == s.shown_default


@pytest.mark.parametrize("s", declared(), ids=lambda s: s.env)
def test_each_setting_is_read_from_its_variable(s, monkeypatch):
    assert s.env == ENV_PREFIX + s.name.upper()
    assert s.meaning and "\n" not in s.meaning, "a one-line meaning"
    raw, value = (
        BY_NAME[s.name]
        if s.name in BY_NAME
        else (s.choices[-1], s.choices[-1])
        if s.choices
        else (SAMPLES[s.type])
    )
    monkeypatch.setenv(s.env, raw)
    assert getattr(Settings.from_env(), s.name) == value
    monkeypatch.setenv(s.env, "")  # empty: the default
    assert getattr(Settings.from_env(), s.name) == getattr(Settings(), s.name)


def test_overrides_win_over_the_environment_unless_none(monkeypatch):
    monkeypatch.setenv("OPSJOBS_RUNNER_CONCURRENCY", "3")
    assert Settings.from_env(runner_concurrency=5).runner_concurrency == 5
    assert Settings.from_env(runner_concurrency=None).runner_concurrency == 3


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("OPSJOBS_RUNNER_CONCURRENCY", "eight", "OPSJOBS_RUNNER_CONCURRENCY must be a number"),
        ("OPSJOBS_HEARTBEAT_SECONDS", "2s", "OPSJOBS_HEARTBEAT_SECONDS must be a number"),
        ("OPSJOBS_TRUSTED_PROXIES", "10.0.0.0/8,proxy", "'proxy' is not an address or network"),
        ("OPSJOBS_SMS_COMMAND", "send 'unclosed", "OPSJOBS_SMS_COMMAND: not a command line"),
        ("OPSJOBS_NOTIFY_TEMPLATE", "$entity $state", "OPSJOBS_NOTIFY_TEMPLATE: no field entity"),
        ("OPSJOBS_NOTIFY_TEMPLATE", "costs 5$", "OPSJOBS_NOTIFY_TEMPLATE: a $ must start"),
        ("OPSJOBS_NOTIFY_SUBJECT", "a\nBcc: x@example.org", "OPSJOBS_NOTIFY_SUBJECT: a subject"),
        ("OPSJOBS_SMTP_FROM", "a@example.org\r\nBcc: x@example.org", "OPSJOBS_SMTP_FROM must be"),
        ("OPSJOBS_SMTP_FROM", "Ops, Team <ops@example.org>", "OPSJOBS_SMTP_FROM must be"),
        ("OPSJOBS_SMTP_SECURITY", "ssl", "OPSJOBS_SMTP_SECURITY must be one of none, starttls"),
        ("OPSJOBS_SMTP_PORT", "0", "OPSJOBS_SMTP_PORT must be a whole number above 0"),
    ],
)
def test_a_malformed_value_stops_with_its_variable_named(monkeypatch, variable, raw, message):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(SystemExit, match=re.escape(message)):
        Settings.from_env()


def test_the_per_process_secret_is_no_setting(monkeypatch):
    monkeypatch.setenv("OPSJOBS_CACHE_KEY", "guessable")
    assert "cache_key" not in {s.name for s in declared()}
    assert Settings.from_env().cache_key != b"guessable"


def test_a_command_is_split_once_and_a_file_may_give_its_argv(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSJOBS_SMS_COMMAND", "/opt/sms/send --gateway 'main one' \\$HOME")
    assert Settings.from_env().sms_command == ("/opt/sms/send", "--gateway", "main one", "$HOME")
    monkeypatch.delenv("OPSJOBS_SMS_COMMAND")
    config = tmp_path / "opsjobs.toml"
    config.write_text('voice_command = ["/opt/call", "--say", "a, b; c"]\n')
    assert Settings.from_env(config).voice_command == ("/opt/call", "--say", "a, b; c")
    config.write_text("sms_command = \"/opt/sms --to 'x y'\"\n")
    assert Settings.from_env(config).sms_command == ("/opt/sms", "--to", "x y")


def test_the_smtp_password_is_a_secret():
    (s,) = [s for s in declared() if s.name == "smtp_password"]
    assert s.secret
    assert masked(s, "hunter2-smtp") == "***"


def test_alert_states_name_only_built_in_states():
    assert ALERT_STATE_IDS == tuple(BUILT_IN)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("not json", "must be a JSON object"),
        ("[]", "exactly severity, alertname, default, resolved"),
        ('{"severity": {}, "alertname": {}, "default": 5}', "exactly"),
        ('{"severity": {}, "alertname": {}, "default": 5, "resolved": 3, "x": 1}', "exactly"),
        ('{"severity": [], "alertname": {}, "default": 5, "resolved": 3}', "severity must be"),
        ('{"severity": {"a": 2}, "alertname": {}, "default": 5, "resolved": 3}', "severity.a"),
        ('{"severity": {}, "alertname": {"a": "5"}, "default": 5, "resolved": 3}', "alertname.a"),
        ('{"severity": {}, "alertname": {}, "default": 5.0, "resolved": 3}', "default"),
        ('{"severity": {}, "alertname": {}, "default": 5, "resolved": 0}', "resolved"),
    ],
)
def test_alert_states_that_are_not_one_stop_the_start(raw, said, monkeypatch):
    monkeypatch.setenv("OPSJOBS_ALERT_STATES", raw)
    with pytest.raises(InvalidSetting, match="OPSJOBS_ALERT_STATES") as caught:
        Settings.from_env()
    assert said in str(caught.value)


@pytest.mark.parametrize("raw", ["a-b", "1abc", "a b", "x" * 65, "../a"])
def test_alert_labels_are_label_names(raw, monkeypatch):
    monkeypatch.setenv("OPSJOBS_ALERT_ID_LABEL", raw)
    with pytest.raises(InvalidSetting, match="OPSJOBS_ALERT_ID_LABEL"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("OPSJOBS_RETENTION_DAYS", "-1", "OPSJOBS_RETENTION_DAYS must be a whole number 0 or more"),
        (
            "OPSJOBS_RETENTION_DAYS",
            "36501",
            "OPSJOBS_RETENTION_DAYS must be a whole number 0 or more and at most 36500",
        ),  # fmt: skip
        ("OPSJOBS_RETENTION_DAYS", "30d", "OPSJOBS_RETENTION_DAYS must be a number"),
        ("OPSJOBS_OUTPUT_RETENTION_DAYS", "-7", "OPSJOBS_OUTPUT_RETENTION_DAYS must be"),
        ("OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION", "1001", "at most 1000"),
        (
            "OPSJOBS_PURGE_INTERVAL_SECONDS",
            "0",
            "OPSJOBS_PURGE_INTERVAL_SECONDS must be a number above 0",
        ),  # fmt: skip
    ],
)
def test_a_retention_value_out_of_bounds_stops_with_its_variable_named(
    monkeypatch, variable, raw, message
):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(SystemExit, match=re.escape(message)):
        Settings.from_env()


def test_output_kept_longer_than_its_job_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("OPSJOBS_RETENTION_DAYS", "30")
    monkeypatch.setenv("OPSJOBS_OUTPUT_RETENTION_DAYS", "60")
    with pytest.raises(SystemExit, match="OPSJOBS_OUTPUT_RETENTION_DAYS .60. must not exceed"):
        Settings.from_env()
    monkeypatch.delenv("OPSJOBS_RETENTION_DAYS")
    monkeypatch.delenv("OPSJOBS_OUTPUT_RETENTION_DAYS")
    toml = tmp_path / "opsjobs.toml"
    toml.write_text("retention_days = 2.5\n")
    with pytest.raises(SystemExit, match="retention_days must be a whole number"):
        Settings.from_env(toml)
