"""Operations (docs/api.md §9, §10): what a valid one is, how it may change, who sees how
much of it, and how one execution of it becomes a runner's spec.

An operation document: ``{"id", "name", "type", "description", "parameters", "popupResult",
"runOnReadWritePropertyModification"}``; ``type`` 1 publishes MQTT, 2 runs a program or
script. Unknown keys in ``parameters`` are kept as given (SAYMON clients may store more).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import sets_state
from .arguments import checked_args, declarations
from .errors import BadRequest
from .rights import Rights
from .spec import ExecSpec, MqttSpec, ScriptSpec, Spec
from .templates import (
    Values,
    check_argv,
    check_script,
    render_argv,
    render_script,
    render_text,
    render_topic,
    undeclared,
    variable_names,
)

MQTT = 1
SCRIPT = 2
SCRIPT_KINDS = ("fileSystem", "scriptText", "scriptReference")
RUNNER_TAG_MAX = 255  # the width of jobs.runner_tag

_FLAGS = ("popupResult", "runOnReadWritePropertyModification")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRequest(message)


def _text(value: Any, where: str, *, empty: bool = False) -> str:
    # NUL is refused here for the same reason templates refuse it in values: no script,
    # argv or topic can carry it, and it is better to hear so when saving than when running.
    _require(
        isinstance(value, str) and (empty or value != ""),
        f"{where}: must be a {'' if empty else 'non-empty '}string",
    )
    _require("\0" not in value, f"{where}: must not contain NUL characters")
    return value


def _templates_declared(where: str, template: str, declared: Mapping[str, Any] | None) -> None:
    missing = undeclared([template], declared)
    _require(
        missing is None,
        f"{where}: {{{{{missing}}}}} names an argument the operation does not declare",
    )


def validate_parameters(op_type: int, parameters: Any) -> dict[str, Any]:
    """Checked parameters of an operation of ``op_type``; BadRequest naming the bad field.

    Templates are checked here, when the operation is saved: a variable in a spot of a
    script that is not proven safe, or naming an undeclared argument, is refused now rather
    than when someone runs it. (A scriptReference's script is checked by the store, which
    reads it.)"""
    _require(isinstance(parameters, Mapping), "parameters: must be an object")
    clean = dict(parameters)
    declared = declarations(clean.get("arguments"))
    names = None if declared is None else set(declared)
    if op_type == MQTT:
        _templates_declared(
            "parameters.topic", _text(clean.get("topic"), "parameters.topic"), names
        )
        message = _text(clean.get("message"), "parameters.message", empty=True)
        _templates_declared("parameters.message", message, names)
    else:
        kind = clean.get("type")
        _require(kind in SCRIPT_KINDS, "parameters.type: must be one of " + ", ".join(SCRIPT_KINDS))
        if kind == "fileSystem":
            _text(clean.get("path"), "parameters.path")
            args = clean.setdefault("args", [])
            _require(isinstance(args, list), "parameters.args: must be an array of strings")
            for n, arg in enumerate(args):
                where = f"parameters.args[{n}]"
                _templates_declared(where, _text(arg, where, empty=True), names)
            try:
                check_argv(clean["path"], args)
            except BadRequest as exc:
                raise BadRequest(f"parameters.args: {exc.message}") from None
        elif kind == "scriptText":
            text = _text(clean.get("text"), "parameters.text")
            try:
                check_script(text, names)
            except BadRequest as exc:
                raise BadRequest(f"parameters.text: {exc.message}") from None
        else:
            _text(clean.get("ref"), "parameters.ref")
    if "timeout" in clean:
        timeout = clean["timeout"]
        _require(
            isinstance(timeout, int | float)
            and not isinstance(timeout, bool)
            and math.isfinite(timeout)
            and timeout > 0,
            "parameters.timeout: must be a positive number of seconds",
        )
    if sets_state.FIELD in clean:
        clean[sets_state.FIELD] = sets_state.validate(op_type == MQTT, clean[sets_state.FIELD])
    if "runner" in clean:
        runner = _text(clean["runner"], "parameters.runner")
        _require(
            len(runner) <= RUNNER_TAG_MAX,
            f"parameters.runner: must be at most {RUNNER_TAG_MAX} characters",
        )
    return clean


def validate_new(document: Mapping[str, Any]) -> dict[str, Any]:
    """A checked operation document (without ``id``) from what a client sent."""
    op_type = document.get("type")
    _require(
        type(op_type) is int and op_type in (MQTT, SCRIPT),
        "type: must be 1 (MQTT) or 2 (program or script)",
    )
    description = document.get("description")
    clean = {
        "name": _text(document.get("name"), "name"),
        "type": op_type,
        "description": _text("" if description is None else description, "description", empty=True),
        "parameters": validate_parameters(op_type, document.get("parameters")),
    }
    for flag in _FLAGS:
        value = document.get(flag, False)
        _require(isinstance(value, bool), f"{flag}: must be true or false")
        clean[flag] = value
    return clean


def validate_all(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``validate_new`` of each operation sent with a new class, object or link; an error
    names the operation by its place: ``operations.2.name: ...``."""
    checked = []
    for number, document in enumerate(documents):
        try:
            checked.append(validate_new(document))
        except BadRequest as exc:
            raise BadRequest(f"operations.{number}.{exc.message}") from None
    return checked


def apply_update(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The document after a PATCH; ``type`` and ``parameters.type`` cannot change.

    ``parameters`` is merged key by key into the current ones, and a key sent as ``null`` is
    removed (JSON merge patch), so a client can change one field without resending a script.
    """
    if "type" in changes and changes["type"] != current["type"]:
        raise BadRequest("type: cannot change; create a new operation instead")
    merged = {k: v for k, v in current.items() if k != "id"}
    for key in ("name", "description", *_FLAGS):
        if key in changes:
            merged[key] = changes[key]
    if "parameters" in changes:
        patch = changes["parameters"]
        _require(isinstance(patch, Mapping), "parameters: must be an object")
        parameters = dict(current["parameters"])
        for key, value in patch.items():
            if value is None:
                parameters.pop(key, None)
            else:
                parameters[key] = value
        if current["type"] == SCRIPT and parameters.get("type") != current["parameters"]["type"]:
            raise BadRequest("parameters.type: cannot change; create a new operation instead")
        merged["parameters"] = parameters
    return validate_new(merged)


# -- who sees what --------------------------------------------------------------------------


def reduced_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a caller without ``manage-operations`` sees: no parameters, so no script text,
    paths, topics or runner tags."""
    return {
        "id": document["id"],
        "name": document["name"],
        "description": document["description"],
    }


def sees_full_operations(rights: Rights) -> bool:
    return rights.has_any("manage-operations")


def shown(rights: Rights, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operations as ``rights`` may see them."""
    if sees_full_operations(rights):
        return documents
    return [reduced_view(d) for d in documents]


# -- execution ------------------------------------------------------------------------------


def runner_tag(document: Mapping[str, Any]) -> str | None:
    return document["parameters"].get("runner")


def _mqtt_topic(template: str, values: Values) -> str:
    topic = render_topic(template, values)
    _require(topic != "", "parameters.topic: renders to an empty topic")
    _require(
        "+" not in topic and "#" not in topic,
        f"parameters.topic: {topic!r} holds an MQTT wildcard (+ or #), which cannot be published to",
    )
    return topic


def render_spec(
    document: Mapping[str, Any],
    values: Values,
    *,
    default_timeout: float,
    script_text: str | None = None,
) -> Spec:
    """The runner's spec for one execution; BadRequest naming an argument that does not
    fit its declaration or a variable without value. Nothing is written before this.

    ``script_text`` is the stored script a ``scriptReference`` operation names.
    """
    spec = _render(document, values, default_timeout, script_text)
    mapping = document["parameters"].get(sets_state.FIELD)
    # Carried by the spec: the run's end sets the state without the operation being read.
    return spec if mapping is None else replace(spec, sets_state=mapping)


def _render(
    document: Mapping[str, Any], values: Values, default_timeout: float, script_text: str | None
) -> Spec:
    parameters = document["parameters"]
    declared = declarations(parameters.get("arguments"))
    values = replace(values, args=checked_args(declared, values.args))
    if document["type"] == MQTT:
        return MqttSpec(
            topic=_mqtt_topic(parameters["topic"], values),
            message=render_text(parameters["message"], values),
        )
    timeout = float(parameters.get("timeout", default_timeout))
    kind = parameters["type"]
    if kind == "fileSystem":
        check_argv(parameters["path"], parameters.get("args", []))  # also what older versions saved
        args = render_argv(parameters.get("args", []), values, declared)
        return ExecSpec(argv=[parameters["path"], *args], timeout=timeout)
    text = parameters["text"] if kind == "scriptText" else script_text
    _require(text is not None, f"parameters.ref: no such script {parameters.get('ref')}")
    if kind == "scriptReference":
        # Saved apart from the operation: it may name arguments the operation lacks.
        missing = undeclared([text], None if declared is None else set(declared))
        _require(
            missing is None, f"parameters.ref: the script uses {{{{{missing}}}}}, not declared"
        )
    script, env = render_script(text, values, declared)
    return ScriptSpec(text=script, timeout=timeout, env=env)


# -- what a run asks for --------------------------------------------------------------------


def _templates(document: Mapping[str, Any], script_text: str | None) -> list[str]:
    """Every text of the operation that may hold ``{{args.<name>}}``, in the order a run
    renders them."""
    parameters = document["parameters"]
    if document["type"] == MQTT:
        return [parameters.get("topic", ""), parameters.get("message", "")]
    kind = parameters.get("type")
    if kind == "fileSystem":
        return [a for a in parameters.get("args", []) if isinstance(a, str)]
    text = parameters.get("text") if kind == "scriptText" else script_text
    return [text] if isinstance(text, str) else []


def run_arguments(document: Mapping[str, Any], script_text: str | None) -> list[dict[str, Any]]:
    """The arguments a run of the operation takes (docs/api.md §10): each declared one, as
    declared, then each ``{{args.<name>}}`` its templates use that no declaration names, in
    order of first use. ``script_text`` is the stored script of a ``scriptReference``."""
    raw = document["parameters"].get("arguments")
    found: dict[str, dict[str, Any]] = {}
    if isinstance(raw, Mapping):
        for name, spec in raw.items():
            entry: dict[str, Any] = {"name": name, "declared": True}
            if isinstance(spec, Mapping):  # as validated when the operation was saved
                entry.update((k, v) for k, v in spec.items() if k not in entry)
            found[name] = entry
    for template in _templates(document, script_text):
        for variable in variable_names(template):
            if variable.startswith("args."):
                name = variable[5:]
                found.setdefault(name, {"name": name, "declared": False})
    return list(found.values())
