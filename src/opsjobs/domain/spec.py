"""What a runner needs to run one job, stored as JSON in the job row's ``spec`` column.

The execute route renders the operation (templates filled, values quoted) into a spec when it
records the job; the runner reads only the spec, never the operation, so editing or deleting
an operation never changes a run that is already queued.

Shapes (``type`` decides):
- ``{"type": "exec", "argv": [path, arg, ...], "timeout": seconds}``: a fileSystem program,
  run directly with that argv, no shell.
- ``{"type": "script", "text": "...", "timeout": seconds}``: scriptText or a stored script
  (scriptReference), already rendered; run by the interpreter of its ``#!`` line, else /bin/sh.
- ``{"type": "mqtt", "topic": "...", "message": "..."}``: publish with QoS 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class ExecSpec:
    argv: list[str]
    timeout: float
    type: str = "exec"


@dataclass(frozen=True)
class ScriptSpec:
    text: str
    timeout: float
    type: str = "script"


@dataclass(frozen=True)
class MqttSpec:
    topic: str
    message: str
    type: str = "mqtt"


Spec = ExecSpec | ScriptSpec | MqttSpec
_BY_TYPE = {"exec": ExecSpec, "script": ScriptSpec, "mqtt": MqttSpec}


def dump_spec(spec: Spec) -> str:
    return orjson.dumps(spec).decode()  # orjson writes a dataclass's fields in their order


def load_spec(text: str) -> Spec:
    data: dict[str, Any] = orjson.loads(text)
    return _BY_TYPE[data["type"]](**data)
