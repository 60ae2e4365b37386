"""A trigger's SMS or voice call: handed to the command the settings name (``sms_command``,
``voice_command``), an argv split once when the settings were read, never a shell.

The phone number and the text go to it as its last two arguments and as the environment
variables OPSJOBS_PHONE and OPSJOBS_MESSAGE; it runs as a job's program does
(execution/script.py: a process group of its own, a fresh working directory, a minimal
environment, a timeout, output kept within a bound). Exit 0 is delivered; exit 75
(EX_TEMPFAIL) asks for another attempt later; anything else is failed, with the exit code
and the start of its stderr.
"""

from __future__ import annotations

import os

from ..domain.jobs import JobStatus
from ..domain.messages import DELIVERED, FAILED, NOT_DELIVERED, Attempt
from ..domain.spec import ExecSpec
from .control import JobControl
from .output import OutputRecorder
from .script import DEFAULT_PATH, run_process

OUTPUT_CAP = 8 * 1024
STDERR_EXCERPT = 500
TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: "try again later"


def command_environment(delivery_id: str, phone: str, text: str) -> dict[str, str]:
    """PATH, LANG and the message; nothing of the server's own environment (which may hold
    the SMTP or database password)."""
    return {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        "OPSJOBS_DELIVERY_ID": delivery_id,
        "OPSJOBS_PHONE": phone,
        "OPSJOBS_MESSAGE": text,
    }


async def run_command(
    argv: tuple[str, ...],
    setting: str,
    *,
    delivery_id: str,
    phone: str,
    text: str,
    timeout: float,
    kill_grace: float,
) -> Attempt:
    """Run ``argv`` + [phone, text]; ``setting``: the setting's name, for the detail when
    none is configured."""
    if not argv:
        return Attempt(NOT_DELIVERED, f"no command configured ({setting} is not set)")
    spec = ExecSpec([*argv, phone, text], timeout)
    recorder = OutputRecorder(OUTPUT_CAP)
    outcome = await run_process(
        spec,
        command_environment(delivery_id, phone, text),
        JobControl(),
        recorder,
        kill_grace=kill_grace,
    )
    if outcome.status is JobStatus.SUCCEEDED:
        return Attempt(DELIVERED, f"{argv[0]} exited with code 0")
    stderr = str(outcome.description.get("stderr") or "").strip()[:STDERR_EXCERPT]
    detail = f"{argv[0]}: {outcome.error}" + (f": {stderr}" if stderr else "")
    code = outcome.description.get("exitCode")
    return Attempt(
        FAILED, detail, transient=code == TEMPFAIL and outcome.status is JobStatus.FAILED
    )
