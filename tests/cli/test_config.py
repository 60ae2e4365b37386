"""Settings from a TOML file (``--config``) and the environment, the environment winning;
values a setting does not accept refused at start, by name; ``opsjobs config show``."""

from __future__ import annotations

import orjson
import pytest

import log_secrets
from helpers import cli_env, run_cli
from opsjobs.config import ENV, FILE, InvalidSetting, Settings, declared, resolve

DB_PASSWORD = "Pg-Secret-7f3a"
MQTT_PASSWORD = "Mq-Secret-91bc"
SMTP_PASSWORD = "Smtp-Secret-5e2d"


def write(tmp_path, text: str):
    path = tmp_path / "opsjobs.toml"
    path.write_text(text)
    return path


def test_the_file_sets_values_and_the_environment_wins(tmp_path, monkeypatch):
    path = write(
        tmp_path,
        'runner_concurrency = 3\nheartbeat_seconds = 1\nrunner_tags = ["gpu", "eu"]\n'
        'trusted_proxies = "10.0.0.0/8"\nembedded_runner = false\n',
    )
    monkeypatch.setenv("OPSJOBS_RUNNER_CONCURRENCY", "5")
    resolved = resolve(path)
    settings = resolved.settings
    assert settings.runner_concurrency == 5 and resolved.sources["runner_concurrency"] == ENV
    assert settings.heartbeat_seconds == 1.0 and resolved.sources["heartbeat_seconds"] == FILE
    assert settings.runner_tags == ("gpu", "eu")
    assert settings.trusted_proxies == ("10.0.0.0/8",)
    assert settings.embedded_runner is False
    assert resolved.sources["log_level"] == "default"
    # OPSJOBS_CONFIG names the file when no --config does (serve's workers read it so).
    monkeypatch.setenv("OPSJOBS_CONFIG", str(path))
    assert Settings.from_env().runner_tags == ("gpu", "eu")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runner_concurrency = 0", "runner_concurrency must be a whole number above 0, got 0"),
        ("runner_concurrency = 2.5", "runner_concurrency must be a whole number above 0"),
        ('heartbeat_seconds = "2"', "heartbeat_seconds must be a number above 0, got '2'"),
        ("kill_grace_seconds = -1", "kill_grace_seconds must be a number 0 or more, got -1"),
        ("embedded_runner = 1", "embedded_runner must be true or false, got 1"),
        ('log_level = "loud"', "log_level must be one of debug, info, warning, error"),
        ('trusted_proxies = ["proxy"]', "'proxy' is not an address or network"),
        ("runner_concurency = 3", "'runner_concurency' is not a setting; the settings are"),
        ("runner_concurrency = ", "not a TOML file"),
    ],
)
def test_a_value_the_file_may_not_hold_is_refused_by_name(tmp_path, text, message):
    with pytest.raises(InvalidSetting, match=message):
        resolve(write(tmp_path, text + "\n"))


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("OPSJOBS_MAX_BODY_BYTES", "-5", "OPSJOBS_MAX_BODY_BYTES must be a whole number above 0"),
        ("OPSJOBS_EMBEDDED_RUNNER", "maybe", "OPSJOBS_EMBEDDED_RUNNER must be true or false"),
        ("OPSJOBS_LOG_FORMAT", "xml", "OPSJOBS_LOG_FORMAT must be one of logfmt, json"),
    ],
)
def test_a_value_the_environment_may_not_hold_is_refused_by_name(
    monkeypatch, variable, raw, message
):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(InvalidSetting, match=message):
        Settings.from_env()


def test_commands_refuse_a_bad_file_at_start_in_one_line(tmp_path):
    bad = write(tmp_path, "runner_concurrency = -2\n")
    for args in (["migrate"], ["serve", "--port", "1"], ["runner"], ["config", "show"]):
        result = run_cli(*args, "--config", str(bad), timeout=60)
        assert result.returncode != 0, (args, result.stdout)
        assert "runner_concurrency must be a whole number above 0, got -2" in result.stderr
        assert "Traceback" not in result.stderr
    missing = run_cli("config", "show", "--config", str(tmp_path / "none.toml"), timeout=60)
    assert missing.returncode != 0 and "cannot read the settings file" in missing.stderr
    env = cli_env(OPSJOBS_HEARTBEAT_SECONDS="soon")
    result = run_cli("config", "show", env=env, timeout=60)
    assert result.returncode != 0 and "OPSJOBS_HEARTBEAT_SECONDS must be a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_prints_sources_and_masks_only_the_secret_part(tmp_path):
    log_secrets.register(DB_PASSWORD)
    log_secrets.register(MQTT_PASSWORD)
    log_secrets.register(SMTP_PASSWORD)
    path = write(
        tmp_path,
        f'database_url = "postgresql://ops:{DB_PASSWORD}@db.example:5432/opsjobs"\n'
        "runner_concurrency = 3\n",
    )
    env = cli_env(
        OPSJOBS_MQTT_URL=f"mqtts://monitor:{MQTT_PASSWORD}@broker.example:8883",
        OPSJOBS_RUNNER_CONCURRENCY="4",
        OPSJOBS_SMTP_PASSWORD=SMTP_PASSWORD,
    )
    text = run_cli("config", "show", "--config", str(path), env=env, timeout=60)
    assert text.returncode == 0, text.stderr
    lines = {line.split("=", 1)[0].strip(): line for line in text.stdout.splitlines()}
    assert set(lines) == {s.name for s in declared()}
    assert lines["database_url"].endswith('"postgresql://ops:***@db.example:5432/opsjobs"  # file')
    assert lines["mqtt_url"].endswith('"mqtts://monitor:***@broker.example:8883"  # env')
    assert lines["smtp_password"].endswith('= "***"  # env')
    assert lines["runner_concurrency"].endswith("= 4  # env")
    assert lines["log_level"].endswith('= "info"  # default')
    as_json = run_cli("config", "show", "--json", "--config", str(path), env=env, timeout=60)
    document = orjson.loads(as_json.stdout)
    assert document["database_url"] == {
        "value": "postgresql://ops:***@db.example:5432/opsjobs",
        "source": "file",
    }
    assert document["runner_concurrency"] == {"value": 4, "source": "env"}
    for output in (text.stdout + text.stderr, as_json.stdout + as_json.stderr):
        assert DB_PASSWORD not in output and MQTT_PASSWORD not in output
        assert SMTP_PASSWORD not in output


def test_a_password_in_the_query_string_is_masked_too(monkeypatch):
    from opsjobs.config import masked

    database = next(s for s in declared() if s.name == "database_url")
    shown = masked(
        database, "postgresql://db.example/ops?user=ops&password=hunter2&sslmode=require"
    )
    assert shown == "postgresql://db.example/ops?user=ops&password=***&sslmode=require"
    assert masked(database, "sqlite:///var/opsjobs.db") == "sqlite:///var/opsjobs.db"


def test_a_setting_named_as_a_secret_is_masked_whole():
    from opsjobs.config import Declared, masked

    secret = Declared("api_key", "OPSJOBS_API_KEY", "str", "", "", "a key", str, secret=True)
    assert masked(secret, "k-123") == "***"
    assert {s.name for s in declared() if s.secret} == {"database_url", "mqtt_url", "smtp_password"}
