"""deploy/systemd's example units: each starts an `opsjobs` command that exists, with options
it takes, stops it the graceful way with time to spare, and passes `systemd-analyze verify`
where systemd is installed."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import cli_env, opsjobs_exe
from opsjobs.config import Settings

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/opsjobs/bin/opsjobs"  # where the units expect the console script
NAMES = ["opsjobs-serve.service", "opsjobs-runner.service"]


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    return parser["Service"]


def seconds(value: str) -> float:
    assert value.endswith("s") and value[:-1].isdigit(), value
    return float(value[:-1])


def test_the_units_are_the_documented_two():
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_execstart_is_an_opsjobs_command_with_options_it_takes(name):
    words = shlex.split(service(name)["ExecStart"])
    assert words[0] == INSTALLED
    assert words[1] == name.removeprefix("opsjobs-").removesuffix(".service")
    assert words[2:4] == ["--config", "/etc/opsjobs/opsjobs.toml"]
    helped = subprocess.run(
        [opsjobs_exe(), words[1], "--help"], env=cli_env(), capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    options = [word for word in words[2:] if word.startswith("--")]
    assert options and all(option in helped.stdout for option in options), options


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_runs_confined_as_its_own_user_and_restarts_on_failure(name):
    unit = service(name)
    assert unit["User"] == unit["Group"] == "opsjobs"
    assert unit["EnvironmentFile"] == "-/etc/opsjobs/opsjobs.env"
    assert unit["Restart"] == "on-failure"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/opsjobs",
    }.items():
        assert unit[key] == value, key


@pytest.mark.parametrize("name", NAMES)
def test_a_stop_reaches_opsjobs_alone_and_waits_past_its_grace(name):
    unit = service(name)
    defaults = Settings()
    # SIGTERM to the main process only: the runner ends its jobs' processes itself.
    assert unit["KillMode"] == "mixed"
    # Running jobs may finish, then are cancelled and recorded (up to another grace).
    needed = 2 * defaults.stop_grace_seconds + defaults.kill_grace_seconds
    # serve too, whose embedded runner (where it is on) stops the same way.
    assert seconds(unit["TimeoutStopSec"]) > needed


def test_the_runners_work_directory_is_writable():
    unit = service("opsjobs-runner.service")
    work = unit["Environment"].removeprefix("OPSJOBS_WORK_DIR=")
    assert work.startswith(unit["ReadWritePaths"] + "/")
    assert work.removeprefix("/var/lib/") in unit["StateDirectory"].split()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    for name in NAMES:  # the console script where this machine has it
        text = (UNITS / name).read_text().replace(INSTALLED, opsjobs_exe())
        (tmp_path / name).write_text(text)
    verified = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "opsjobs" not in verified.stderr, verified.stderr
