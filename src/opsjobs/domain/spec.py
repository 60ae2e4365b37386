"""What a runner needs to run one job, stored as JSON in the job row's ``spec`` column.

The execute route renders the operation (arguments checked, templates filled) into a spec
when it records the job; the runner reads only the spec, never the operation, so editing or
deleting an operation never changes a run that is already queued.

Shapes (``type`` decides):
- ``{"type": "exec", "argv": [path, arg, ...], "timeout": seconds}``: a fileSystem program,
  run directly with that argv, no shell.
- ``{"type": "script", "text": "...", "timeout": seconds, "env": {"OPSJOBS_V1": "..."}}``:
  scriptText or a stored script (scriptReference); its text refers to the values of its
  template variables, which ``env`` holds (see ``templates.py``). Run by the interpreter of
  its ``#!`` line, else /bin/sh. Specs written before ``env`` existed load with none.
- ``{"type": "mqtt", "topic": "...", "message": "..."}``: publish with QoS 1.

Any of them may also hold ``sets_state``: the operation's ``setsState`` (``sets_state.py``),
which state the run's end sets; a spec without it sets none. And ``request_id``: the ID of the HTTP request that made the job, so
that the runner's log lines about the job carry the request's ID too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

# The only names a spec may add to a run's environment: generated ones, which can never
# be PATH, LD_PRELOAD or another name that changes what runs.
ENV_NAME = re.compile(r"OPSJOBS_(V[1-9][0-9]*|ARG_[A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ExecSpec:
    argv: list[str]
    timeout: float
    type: str = "exec"
    sets_state: dict[str, Any] | None = None


@dataclass(frozen=True)
class ScriptSpec:
    text: str
    timeout: float
    env: dict[str, str] = field(default_factory=dict)
    type: str = "script"
    sets_state: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, value in self.env.items():
            if ENV_NAME.fullmatch(name) is None or not isinstance(value, str):
                raise ValueError(f"not an environment variable a spec may set: {name!r}")


@dataclass(frozen=True)
class MqttSpec:
    topic: str
    message: str
    type: str = "mqtt"
    sets_state: dict[str, Any] | None = None


Spec = ExecSpec | ScriptSpec | MqttSpec
_BY_TYPE = {"exec": ExecSpec, "script": ScriptSpec, "mqtt": MqttSpec}


def dump_spec(spec: Spec, request_id: str | None = None) -> str:
    data = dict(vars(spec))  # the fields in their order, shallow: the spec is not changed
    if data["sets_state"] is None:
        del data["sets_state"]  # ordinary specs stay as they were
    if request_id is not None:
        data["request_id"] = request_id
    return orjson.dumps(data).decode()


def load_spec(text: str) -> Spec:
    data: dict[str, Any] = orjson.loads(text)
    data.pop("request_id", None)
    return _BY_TYPE[data["type"]](**data)


def spec_request_id(text: str | None) -> str | None:
    """The ID of the request that made the job, if the spec holds one."""
    try:
        found = orjson.loads(text or "null")
    except orjson.JSONDecodeError:
        return None
    value = found.get("request_id") if isinstance(found, dict) else None
    return value if isinstance(value, str) else None
