"""Template variables in operations (API.md §6): ``{{id}}``, ``{{properties.<name>}}``,
``{{user.id}}``, ``{{user.login}}``, ``{{args.<name>}}``.

How a value is substituted depends on where it goes:
- MQTT topic and message, and each ``fileSystem`` arg: the value as it is. Args are argv
  elements, never seen by a shell, so one value stays one argument whatever it holds.
- ``scriptText`` (and stored scripts): quoted for the spot of the shell script it stands in
  (see ``shell.py``); a bare ``{{args.x}}`` gets exactly ``shlex.quote`` of the value.

Only those five forms are variables. Other ``{{...}}`` text (Go templates in a ``docker
--format``, Jinja, mustache) is left alone, so scripts that use such tools keep working.

A value is the JSON value given: a string as it is, ``true``/``false``, numbers and
arrays/objects as their JSON text. A missing variable, or ``null``, has no value and makes
rendering fail with BadRequest naming it.

NUL: no argv element, script or MQTT topic can carry a NUL character (the kernel and the
MQTT spec refuse it), so a value holding one is refused with BadRequest naming the variable
rather than silently cut short. Only an MQTT message, which is bytes, takes it as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import shell
from .errors import BadRequest

VARIABLE = re.compile(
    r"\{\{\s*(id|user\.id|user\.login|(?:properties|args)\.[^{}\n]*?[^{}\s])\s*\}\}"
)


def property_map(properties: Any) -> dict[str, Any]:
    """Object or link properties as name -> value, from either form SAYMON uses: a JSON
    object, or an array of ``{"name", "value"}``. The first entry of a name wins."""
    if isinstance(properties, Mapping):
        return dict(properties)
    found: dict[str, Any] = {}
    if isinstance(properties, list):
        for entry in properties:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                found.setdefault(entry["name"], entry.get("value"))
    return found


@dataclass(frozen=True)
class Values:
    """What the variables of one execution stand for."""

    entity_id: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    user_login: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """The value of variable ``name`` as text; BadRequest when it has none."""
        if name == "id":
            value: Any = self.entity_id
        elif name == "user.id":
            value = self.user_id
        elif name == "user.login":
            value = self.user_login
        else:
            scope, _, key = name.partition(".")
            value = (self.properties if scope == "properties" else self.args).get(key)
        if value is None:
            raise BadRequest(f"Template variable has no value: {name}")
        return _as_text(value)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def _refuse_nul(name: str, value: str) -> str:
    if "\0" in value:
        raise BadRequest(
            f"Template variable {name} holds a NUL character, which no command, script or "
            "MQTT topic can carry"
        )
    return value


def variable_names(template: str) -> list[str]:
    return [m.group(1) for m in VARIABLE.finditer(template)]


def render_text(template: str, values: Values, *, allow_nul: bool = False) -> str:
    """Substitute values as they are: for MQTT topics and messages and for argv elements."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        text = values.text(name)
        return text if allow_nul else _refuse_nul(name, text)

    return VARIABLE.sub(substitute, template)


def render_argv(args: Sequence[str], values: Values) -> list[str]:
    """Each ``fileSystem`` arg rendered on its own: one template, one argv element."""
    return [render_text(arg, values) for arg in args]


def render_script(script: str, values: Values) -> str:
    """Substitute values into a shell script, each quoted for where it stands.

    A script run by something other than a POSIX shell (its ``#!`` line says) takes no
    variables: its quoting rules are not the shell's, so no value could be made safe in it.
    """
    matches = list(VARIABLE.finditer(script))
    if not matches:
        return script
    program = shell.interpreter(script)
    if program not in shell.POSIX_SHELLS:
        raise BadRequest(
            f"Template variables need a shell script, and this one runs {program}; "
            "pass values to other programs as args of a fileSystem operation"
        )
    spots = shell.spots(script, {m.start(): m.end() for m in matches})
    parts: list[str] = []
    done = 0
    for match in matches:
        name = match.group(1)
        value = _refuse_nul(name, values.text(name))
        spot = spots[match.start()]
        if isinstance(spot, shell.Unsafe):
            raise BadRequest(
                f"Template variable {name} cannot be quoted safely: it stands {spot.reason}"
            )
        parts += [script[done : match.start()], shell.quote(spot, value)]
        done = match.end()
    parts.append(script[done:])
    return "".join(parts)
