"""Template variables in operations (docs/api.md §9): ``{{id}}``, ``{{properties.<name>}}``,
``{{user.id}}``, ``{{user.login}}``, ``{{args.<name>}}``.

No value ever becomes text that a shell parses. Where a value goes:

- ``scriptText`` and stored scripts: the script's text never holds a value. Each distinct
  variable gets an environment variable of the run (``OPSJOBS_V1``, ``OPSJOBS_V2``... in
  order of first use; names from a request never become names of the environment), and the
  template is replaced by a reference to it: ``"${OPSJOBS_V1}"`` in a word, ``${OPSJOBS_V1}``
  inside ``"..."``. Only spots where the shell reads such a reference as plain data may
  hold a variable (``shell.py``); any other spot is refused when the operation or script is
  saved, and again when it runs (a backstop for what was saved before). Only sh, dash and
  bash scripts take variables; every script, of any interpreter, also gets each declared
  argument as ``OPSJOBS_ARG_<name>``.
- ``fileSystem`` args: each arg is one argv element, never seen by a shell, except the code
  argument of a program that runs one (``sh -c``, ``python3 -c``, ``perl -e``), which may
  hold no variable (``check_argv``).
- MQTT topic: a value is one topic level: ``/``, ``+`` and ``#`` are refused in it. The
  message is bytes, and takes a value as it is.

In a script argument or an argv element, a value that a variable starts (nothing but other
variables before it in its word) must not start with ``-``, which the program would read as
an option (``tar ... {{args.x}}`` with ``--use-compress-program=...``), unless the argument
is declared with ``allowLeadingDash``.

Only those five forms are variables. Other ``{{...}}`` text (Go templates in a ``docker
--format``, Jinja, mustache) is left alone, so scripts that use such tools keep working.

A value is the JSON value given: a string as it is, ``true``/``false``, numbers and
arrays/objects as their JSON text. A missing variable, or ``null``, has no value and makes
rendering fail with BadRequest naming it. A value with a NUL character is refused wherever
it would reach the environment, argv or a topic (none can carry it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import shell
from .arguments import Argument, allows_leading_dash
from .errors import BadRequest

VARIABLE = re.compile(
    r"\{\{\s*(id|user\.id|user\.login|(?:properties|args)\.[^{}\n]*?[^{}\s])\s*\}\}"
)
# The longest string the kernel passes in argv or the environment (MAX_ARG_STRLEN, with
# its NUL), and a bound on all of one run's values together (ARG_MAX is 2 MiB or more).
STRING_MAX = 128 * 1024 - 1
TOTAL_MAX = 1024 * 1024
ENV_PREFIX = "OPSJOBS_V"
_INTEGER = re.compile(r"-?[0-9]{1,18}")
ARG_ENV_PREFIX = "OPSJOBS_ARG_"


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
        return as_text(value)


def as_text(value: Any) -> str:
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
    return _refuse_unencodable(name, value)


def _refuse_unencodable(name: str, value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"Template variable {name} is not valid Unicode") from None
    return value


def _refuse_leading_dash(name: str, value: str, declared: dict[str, Argument] | None) -> None:
    if value.startswith("-") and not allows_leading_dash(declared, name):
        raise BadRequest(
            f"Template variable {name} starts with '-', and stands where the program would "
            "read it as an option; an operation lets a declared argument do so with "
            '"allowLeadingDash": true'
        )


def variable_names(template: str) -> list[str]:
    return [m.group(1) for m in VARIABLE.finditer(template)]


def undeclared(templates: Sequence[str], declared: Mapping[str, Any] | None) -> str | None:
    """The first ``args.<name>`` variable in ``templates`` that ``declared`` lacks (None
    when the operation declares no arguments, and so takes any)."""
    if declared is None:
        return None
    for template in templates:
        for name in variable_names(template):
            if name.startswith("args.") and name[5:] not in declared:
                return name
    return None


class _Budget:
    """The bytes one run's values take in argv or the environment, against the limits."""

    def __init__(self) -> None:
        self.total = 0

    def take(self, name: str, text: str, extra: int = 0) -> None:
        size = len(text.encode("utf-8")) + extra
        if size > STRING_MAX:
            raise BadRequest(
                f"Template variable {name} is too long: at most {STRING_MAX} bytes can reach "
                "a program"
            )
        self.total += size
        if self.total > TOTAL_MAX:
            raise BadRequest(f"Template variables hold more than {TOTAL_MAX} bytes together")


# -- as they are: MQTT and argv -------------------------------------------------------------


def render_text(template: str, values: Values) -> str:
    """Substitute values as they are: for MQTT messages (bytes; NUL allowed)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return _refuse_unencodable(name, values.text(name))

    return VARIABLE.sub(substitute, template)


_TOPIC_REFUSED = re.compile(r"[/+#\0]")
# Characters MQTT (3.1.1 section 1.5.3, 5.0 section 1.5.4) says a topic should not hold: control
# characters and Unicode noncharacters. Brokers (mosquitto) drop the connection on them, and
# the job would wait out its timeout and fail with no reason.
_TOPIC_UNFIT = re.compile(
    "[\x01-\x1f\x7f-\x9f\ufdd0-\ufdef"
    + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
    + "]"
)


def render_topic(template: str, values: Values) -> str:
    """An MQTT topic: each value is at most one level, and cannot start a $ topic."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        text = _refuse_unencodable(name, values.text(name))
        if _TOPIC_REFUSED.search(text):
            raise BadRequest(
                f"Template variable {name} holds /, +, # or NUL, which would change the "
                "topic's levels"
            )
        if _TOPIC_UNFIT.search(text):
            raise BadRequest(
                f"Template variable {name} holds a control character or a Unicode "
                "noncharacter, which an MQTT topic may not hold"
            )
        return text

    topic = VARIABLE.sub(substitute, template)
    if topic.startswith("$") and not template.startswith("$"):
        raise BadRequest("Template variables would start a $ topic, which is the broker's own")
    return topic


def check_argv(path: str, args: Sequence[str]) -> None:
    """Refuse (BadRequest) a variable in an argument that the program runs as code: ``sh -c``,
    ``python3 -c``, ``perl -e`` (also through ``env`` or ``busybox``), where the argument is
    a program's text and a value in it would be parsed. Pass such a value as an argument of
    its own (``sh -c 'echo "$1"' sh {{args.x}}``) or through a script."""
    words = [path, *args]
    while len(words) > 1 and words[0].rsplit("/", 1)[-1] in ("env", "busybox"):
        words = words[1:]
        while len(words) > 1 and (words[0].startswith("-") or "=" in words[0]):
            words = words[1:]
    letters = shell.code_options(words[0])
    if not letters:
        return
    program = words[0].rsplit("/", 1)[-1]
    code_next = False  # after -c: the next word that is no option is the program text
    for word in words[1:]:
        option = word.startswith("-")
        code = code_next or (
            option and not word.startswith("--") and any(c in word[1:] for c in letters)
        )
        if code and VARIABLE.search(word):
            raise BadRequest(
                f"Template variable {{{{{variable_names(word)[0]}}}}} cannot stand in the code "
                f"that {program} -{letters[0]} runs; pass the value as an argument of its own "
                "(sh -c 'echo \"$1\"' sh {{args.x}})"
            )
        code_next = (code_next and option) or (code and option and not code_next)


def render_argv(
    args: Sequence[str], values: Values, declared: dict[str, Argument] | None = None
) -> list[str]:
    """Each ``fileSystem`` arg rendered on its own: one template, one argv element."""
    budget = _Budget()
    rendered = []
    for template in args:
        parts: list[str] = []
        done = 0
        for match in VARIABLE.finditer(template):
            name = match.group(1)
            text = _refuse_nul(name, values.text(name))
            literal = template[done : match.start()]
            if not "".join(parts) and not literal:
                _refuse_leading_dash(name, text, declared)
            parts += [literal, text]
            done = match.end()
        parts.append(template[done:])
        element = "".join(parts)
        budget.take("in an argument", element)
        rendered.append(element)
    return rendered


# -- scripts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptTemplate:
    """A script with each variable replaced by a reference to its environment variable."""

    text: str
    env_names: Mapping[str, str]  # variable -> environment variable
    leading: frozenset[str]  # variables that start an argument somewhere
    numeric: frozenset[str] = frozenset()  # variables the script evaluates: integers only


def _refused(name: str, reason: str) -> BadRequest:
    return BadRequest(f"Template variable {name} cannot stand {reason}")


_CACHED_MAX = 256 * 1024  # scripts up to this size are read once and remembered


def compile_script(script: str) -> ScriptTemplate:
    """The script's variables replaced by references; BadRequest naming the first variable
    that stands in a spot that is not proven safe."""
    if len(script) <= _CACHED_MAX:
        return _compile_cached(script)
    return _compile(script)


@functools.lru_cache(maxsize=128)
def _compile_cached(script: str) -> ScriptTemplate:
    return _compile(script)


def _compile(script: str) -> ScriptTemplate:
    matches = list(VARIABLE.finditer(script))
    if not matches:
        return ScriptTemplate(script, {}, frozenset())
    program = shell.interpreter(script)
    if program not in shell.SHELLS:
        raise BadRequest(
            f"Template variables need an sh, dash or bash script, and this one runs {program}; "
            f"it can read declared arguments from the environment ({ARG_ENV_PREFIX}<name>)"
        )
    spots = shell.spots(script, {m.start(): m.end() for m in matches})
    env_names: dict[str, str] = {}
    leading: set[str] = set()
    numeric: set[str] = set()
    parts: list[str] = []
    done = 0
    for match in matches:
        name = match.group(1)
        spot = spots[match.start()]
        if isinstance(spot, shell.Unsafe):
            raise _refused("{{" + name + "}}", spot.reason)
        env = env_names.setdefault(name, f"{ENV_PREFIX}{len(env_names) + 1}")
        reference = "${" + env + "}"
        if spot.form is shell.Form.WORD:
            reference = f'"{reference}"'
        if spot.leading:
            leading.add(name)
        if spot.numeric:
            numeric.add(name)
        parts += [script[done : match.start()], reference]
        done = match.end()
    parts.append(script[done:])
    return ScriptTemplate("".join(parts), env_names, frozenset(leading), frozenset(numeric))


def check_script(script: str, declared: Mapping[str, Any] | None = None) -> None:
    """Refuse (BadRequest) a script whose variables stand where they are not proven safe,
    or that names an argument ``declared`` lacks."""
    compile_script(script)
    missing = undeclared([script], declared)
    if missing is not None:
        raise BadRequest(f"{{{{{missing}}}}} names an argument the operation does not declare")


def render_script(
    script: str, values: Values, declared: dict[str, Argument] | None = None
) -> tuple[str, dict[str, str]]:
    """The script to run and its environment: each variable's value, and each declared
    argument's as ``OPSJOBS_ARG_<name>``."""
    template = compile_script(script)
    budget = _Budget()
    env: dict[str, str] = {}
    for name, env_name in template.env_names.items():
        text = _refuse_nul(name, values.text(name))
        if name in template.leading:
            _refuse_leading_dash(name, text, declared)
        if name in template.numeric and _INTEGER.fullmatch(text) is None:
            raise BadRequest(
                f"Template variable {name} must be an integer: the script evaluates the "
                "variable it is assigned to (as arithmetic, a name or code)"
            )
        budget.take(name, text, len(env_name) + 1)
        env[env_name] = text
    for name in declared or {}:
        value = values.args.get(name)
        if value is not None:
            text = _refuse_nul(f"args.{name}", as_text(value))
            env_name = ARG_ENV_PREFIX + name
            budget.take(f"args.{name}", text, len(env_name) + 1)
            env[env_name] = text
    return template.text, env
