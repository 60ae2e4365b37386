"""Settings are declared once (config.py): each is read from its own variable, and the
README's table documents every one of them, with its variable and default, and no other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsjobs.config import ENV_PREFIX, Settings, declared

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()

# A value to set for each declared type, and what it reads as.
SAMPLES = {
    "int": ("7", 7),
    "float": ("7.5", 7.5),
    "bool": ("off", False),
    "str": ("text", "text"),
    "str | None": ("text", "text"),
    "tuple[str, ...]": (" a, b ,", ("a", "b")),
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
        ("10.0.0.0/8, ::1", ("10.0.0.0/8", "::1"))
        if s.name in ("trusted_proxies", "metrics_open_to")
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
