"""Declared arguments of an operation: ``parameters.arguments``, checked before a job is made.

An operation may declare the arguments its execution takes, after Rundeck's options and
StackStorm's parameters::

    "arguments": {"host": {"type": "string", "pattern": "[a-z0-9-]+", "required": true},
                  "count": {"type": "integer", "default": 3, "choices": [1, 3, 5]}}

Each declaration may hold ``type`` (``string``, the default, ``integer``, ``number`` or
``boolean``), ``description``, ``required`` (default false), ``default``, ``choices`` (the
only values allowed), and for strings ``pattern`` (an RE2 expression the whole value must
match, so it cannot be made to backtrack for ever) and ``maxLength`` (characters), and
``allowLeadingDash`` (default false; see ``templates.py``). Unknown keys are refused, so a
misspelt constraint never silently allows everything.

An operation that declares arguments takes only those: an undeclared one is a 400 naming it,
and so is a template ``{{args.x}}`` naming one it does not declare (when it is saved). An
operation without ``arguments`` takes any arguments, as SAYMON's do; their values still
reach scripts only as environment variables.

Integers and numbers may also be sent as decimal strings (forms send text), booleans as
``"true"``/``"false"``; each is turned into its JSON value before it is checked or used.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import re2

from .errors import BadRequest

TYPES = ("string", "integer", "number", "boolean")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
PATTERN_MAX = 1000
_KEYS = frozenset(
    {
        *("type", "description", "required", "default", "choices", "pattern", "maxLength"),
        "allowLeadingDash",
    }
)
_INT_RANGE = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_NUMBER = re.compile(r"-?[0-9]{1,300}(\.[0-9]{1,300})?([eE][-+]?[0-9]{1,3})?")


@dataclass(frozen=True)
class Argument:
    type: str = "string"
    required: bool = False
    has_default: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    pattern: str | None = None
    max_length: int | None = None
    allow_leading_dash: bool = False


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRequest(message)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def _flag(spec: Mapping[str, Any], key: str, where: str) -> bool:
    value = spec.get(key, False)
    _require(isinstance(value, bool), f"{where}.{key}: must be true or false")
    return value


def _declaration(spec: Any, where: str) -> Argument:
    _require(isinstance(spec, Mapping), f"{where}: must be an object")
    unknown = sorted(set(spec) - _KEYS)
    _require(not unknown, f"{where}: unknown key {unknown[0] if unknown else ''}")
    kind = spec.get("type", "string")
    _require(kind in TYPES, f"{where}.type: must be one of " + ", ".join(TYPES))
    description = spec.get("description", "")
    _require(isinstance(description, str), f"{where}.description: must be a string")
    pattern = spec.get("pattern")
    max_length = spec.get("maxLength")
    if kind != "string":
        _require(pattern is None, f"{where}.pattern: only a string argument takes a pattern")
        _require(max_length is None, f"{where}.maxLength: only a string argument takes one")
    if pattern is not None:
        _require(
            isinstance(pattern, str) and 0 < len(pattern) <= PATTERN_MAX,
            f"{where}.pattern: must be a string of 1 to {PATTERN_MAX} characters",
        )
        try:
            _compiled(pattern)
        except re2.error as exc:
            raise BadRequest(f"{where}.pattern: not a valid RE2 expression: {exc}") from None
    if max_length is not None:
        _require(
            type(max_length) is int and 0 < max_length <= 2**31,
            f"{where}.maxLength: must be a positive integer",
        )
    argument = Argument(
        type=kind,
        required=_flag(spec, "required", where),
        pattern=pattern,
        max_length=max_length,
        allow_leading_dash=_flag(spec, "allowLeadingDash", where),
    )
    if "choices" in spec:
        choices = spec["choices"]
        _require(
            isinstance(choices, list) and choices, f"{where}.choices: must be a non-empty array"
        )
        checked = tuple(_value(argument, c, f"{where}.choices[{n}]") for n, c in enumerate(choices))
        argument = replace(argument, choices=checked)
    if spec.get("default") is not None:
        default = _value(argument, spec["default"], f"{where}.default")
        argument = replace(argument, has_default=True, default=default)
    return argument


def declarations(raw: Any, where: str = "parameters.arguments") -> dict[str, Argument] | None:
    """The declarations ``raw`` (an operation's ``parameters.arguments``) holds, None when it
    declares nothing; BadRequest naming what is wrong."""
    if raw is None:
        return None
    _require(isinstance(raw, Mapping), f"{where}: must be an object")
    found = {}
    for name, spec in raw.items():
        _require(
            isinstance(name, str) and NAME.fullmatch(name) is not None,
            f"{where}: {name!r} is not an argument name (letters, digits and _, at most 64)",
        )
        found[name] = _declaration(spec, f"{where}.{name}")
    return found


def _value(argument: Argument, value: Any, where: str) -> Any:
    """``value`` as the JSON value of the declared type, checked against the declaration."""
    kind = argument.type
    if kind == "string":
        _require(isinstance(value, str), f"{where}: must be a string")
        if argument.max_length is not None:
            _require(
                len(value) <= argument.max_length,
                f"{where}: must be at most {argument.max_length} characters",
            )
        if argument.pattern is not None:
            _require(
                _compiled(argument.pattern).fullmatch(value) is not None,
                f"{where}: does not match the pattern the operation declares",
            )
    elif kind == "integer":
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        _require(
            type(value) is int and _INT_RANGE[0] <= value <= _INT_RANGE[1],
            f"{where}: must be an integer",
        )
    elif kind == "number":
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            value = float(value) if any(c in value for c in ".eE") else int(value)
        _require(
            type(value) in (int, float) and math.isfinite(value) and abs(value) < 1e300,
            f"{where}: must be a number",
        )
    else:
        value = (
            {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
        )
        _require(isinstance(value, bool), f"{where}: must be true or false")
    if argument.choices is not None:
        _require(value in argument.choices, f"{where}: not one of the operation's choices")
    return value


def checked_args(declared: dict[str, Argument] | None, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of one execution: checked against the declarations, defaults filled
    in; BadRequest naming the first that is wrong. Without declarations, as given."""
    if declared is None:
        return dict(args)
    for name in args:
        _require(name in declared, f"args.{name}: not an argument of this operation")
    found: dict[str, Any] = {}
    for name, argument in declared.items():
        value = args.get(name)
        if value is None:
            _require(not argument.required, f"args.{name}: required")
            if argument.has_default:
                found[name] = argument.default
            continue
        found[name] = _value(argument, value, f"args.{name}")
    return found


def allows_leading_dash(declared: dict[str, Argument] | None, variable: str) -> bool:
    """Whether the template variable ``variable`` is a declared argument allowed to start
    with "-"."""
    scope, _, name = variable.partition(".")
    argument = (declared or {}).get(name) if scope == "args" else None
    return argument is not None and argument.allow_leading_dash
