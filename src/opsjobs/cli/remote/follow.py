"""Following a job's live output (`exec --follow`, `tail`): printed as it comes, the job's
exit code passed on, and Ctrl-C asking whether to cancel the job."""

from __future__ import annotations

import sys
from typing import Any

from rich.text import Text

from ...client import Client, Conflict, EndEvent, OutputEvent
from .session import errors
from .terminal import print_json, safe_name, write_output
from .views import STATUS_STYLES, duration

# Exit status when Ctrl-C is pressed again at the question: following stops, the job runs on.
INTERRUPTED = 130


def exit_code(job: dict[str, Any]) -> int:
    """The job's own exit code (0–255) when it has one, else 0 if it succeeded and 1 if not
    (an MQTT job, a run that never started)."""
    description = job.get("description")
    code = description.get("exitCode") if isinstance(description, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255:
        return code
    execution = job.get("execution")
    status = execution.get("status") if isinstance(execution, dict) else None
    return 0 if status == "succeeded" else 1


def _show(event: OutputEvent | EndEvent, as_json: bool) -> None:
    if isinstance(event, EndEvent):
        if as_json:
            print_json({"event": "end", "job": event.job})
        return
    if as_json:
        print_json(
            {"event": "output", "stream": event.stream, "offset": event.offset, "data": event.data}
        )
    else:
        write_output(event.data, event.stream)


def summary(job: dict[str, Any]) -> None:
    execution = job.get("execution") if isinstance(job.get("execution"), dict) else {}
    status = str(execution.get("status"))
    line = Text(f"job {safe_name(job.get('id'))} ") + Text(status, STATUS_STYLES.get(status, ""))
    line += Text(f" (exit {exit_code(job)})")
    if took := duration(execution):
        line += Text(f" in {took}")
    if execution.get("error"):
        line += Text(f": {safe_name(execution['error'])}")
    errors.print(line)


def ask_to_cancel() -> bool | None:
    """True to cancel, False to go on following, None to stop following (a second Ctrl-C)."""
    errors.print(Text("cancel the job? [y/N] "), end="")
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        errors.print()
        return None
    return answer.strip().lower() in ("y", "yes")


def _cancel(client: Client, job_id: str) -> None:
    try:
        client.cancel_job(job_id)
    except Conflict:  # it finished meanwhile: its end is about to be printed
        return
    errors.print(Text(f"cancelling job {safe_name(job_id)}"))


def follow(client: Client, job_id: str, *, as_json: bool) -> int:
    """Print the job's output until it ends; its exit code (or 130 if the user stops)."""
    last_id: str | None = None
    while True:
        try:
            for event in client.stream_job(job_id, last_event_id=last_id):
                if isinstance(event, OutputEvent):
                    last_id = event.id or last_id  # first: a Ctrl-C now must not repeat it
                _show(event, as_json)
                if isinstance(event, EndEvent):
                    if not as_json:
                        summary(event.job)
                    return exit_code(event.job)
        except KeyboardInterrupt:
            errors.print()
            answer = ask_to_cancel()
            if answer is None:
                return INTERRUPTED
            if answer:
                _cancel(client, job_id)
