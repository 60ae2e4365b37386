"""Template variables (domain/templates.py, domain/shell.py, domain/arguments.py), as data:
what a script becomes, which spots are refused and why, how argv, topics and declared
arguments are checked. tests/execution/test_security_templates.py runs the payloads against real
shells."""

from __future__ import annotations

import pytest

from opsjobs.domain import shell
from opsjobs.domain.arguments import checked_args, declarations
from opsjobs.domain.errors import BadRequest
from opsjobs.domain.templates import (
    STRING_MAX,
    Values,
    compile_script,
    property_map,
    render_argv,
    render_script,
    render_text,
    render_topic,
    variable_names,
)

VALUES = Values(
    entity_id="5e9465cb10b1f754077cb061",
    properties={"ip": "10.0.0.11", "port": 8080, "tls": True, "tags": ["a", "b"], "none": None},
    user_id="5e2184a1a51400778eadc945",
    user_login="alice",
    args={"host": "web-1", "count": 3, "empty": ""},
)


def args(**given) -> Values:
    return Values(entity_id="1", args=given)


# -- values ---------------------------------------------------------------------------------


def test_every_variable_form():
    template = "{{id}} {{properties.ip}} {{user.id}} {{user.login}} {{args.host}}"
    assert render_text(template, VALUES) == (
        "5e9465cb10b1f754077cb061 10.0.0.11 5e2184a1a51400778eadc945 alice web-1"
    )


def test_spaces_inside_braces_are_allowed():
    assert render_text("{{ args.host }}/{{  id}}", VALUES) == "web-1/5e9465cb10b1f754077cb061"


def test_values_that_are_not_strings_are_their_json_text():
    rendered = render_text(
        "{{properties.port}} {{properties.tls}} {{properties.tags}} {{args.count}}", VALUES
    )
    assert rendered == '8080 true ["a","b"] 3'


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("ping {{args.target}}", "args.target"),
        ("{{properties.missing}}", "properties.missing"),
        ("{{properties.none}}", "properties.none"),
    ],
)
def test_a_variable_without_value_is_a_bad_request_naming_it(template, name):
    with pytest.raises(BadRequest) as caught:
        render_text(template, VALUES)
    assert caught.value.message == f"Template variable has no value: {name}"
    with pytest.raises(BadRequest, match=f"no value: {name}"):
        render_script("echo " + template, VALUES)


def test_user_variables_have_no_value_without_a_user():
    # A state trigger runs an operation for nobody.
    with pytest.raises(BadRequest, match="no value: user.login"):
        render_text("{{user.login}}", Values(entity_id="1"))


def test_other_braces_are_left_alone():
    # docker --format, Jinja and friends use {{ }} too.
    template = "docker inspect --format '{{.State.Status}}' {{ foo }} {{args}} {{args.}}"
    assert render_text(template, VALUES) == template
    assert render_script(template, VALUES) == (template, {})


def test_variable_names_lists_the_variables_in_order():
    assert variable_names("{{args.a}} x {{ id }} {{properties.b c}}") == [
        "args.a",
        "id",
        "properties.b c",
    ]


def test_properties_as_a_saymon_array_or_an_object():
    array = [{"name": "ip", "value": "10.0.0.1"}, {"name": "ip", "value": "later"}, {"x": 1}, 7]
    assert property_map(array) == {"ip": "10.0.0.1"}
    assert property_map({"ip": "10.0.0.2"}) == {"ip": "10.0.0.2"}
    assert property_map(None) == {}


# -- scripts: references, never values -------------------------------------------------------


def test_a_script_holds_references_and_its_environment_the_values():
    text, env = render_script(
        'ping -c1 {{properties.ip}} && echo "{{user.login}} on {{properties.ip}}"', VALUES
    )
    assert text == 'ping -c1 "${OPSJOBS_V1}" && echo "${OPSJOBS_V2} on ${OPSJOBS_V1}"'
    assert env == {"OPSJOBS_V1": "10.0.0.11", "OPSJOBS_V2": "alice"}


def test_the_script_text_is_the_same_whatever_the_values():
    template = "echo {{args.x}}"
    first, _ = render_script(template, args(x="$(reboot)"))
    second, _ = render_script(template, args(x="plain"))
    assert first == second == 'echo "${OPSJOBS_V1}"'


def test_declared_arguments_also_reach_every_script_by_name():
    declared = declarations({"host": {}, "count": {"type": "integer", "default": 3}})
    values = Values("1", args=checked_args(declared, {"host": "web-1"}))
    text, env = render_script("#!/usr/bin/python3\nimport os\n", values, declared)
    assert env == {"OPSJOBS_ARG_host": "web-1", "OPSJOBS_ARG_count": "3"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("echo {{args.x}}", 'echo "${OPSJOBS_V1}"'),
        ('echo "{{args.x}}"', 'echo "${OPSJOBS_V1}"'),
        ('echo "a {{args.x}}b"', 'echo "a ${OPSJOBS_V1}b"'),
        ("tar -C {{args.x}}/sub", 'tar -C "${OPSJOBS_V1}"/sub'),
        ("cmd --file={{args.x}}", 'cmd --file="${OPSJOBS_V1}"'),
        ("X={{args.x}} cmd", 'X="${OPSJOBS_V1}" cmd'),
        ('X={{args.x}}\necho "$X"', 'X="${OPSJOBS_V1}"\necho "$X"'),
        ("export X={{args.x}}", 'export X="${OPSJOBS_V1}"'),
        ("f() { local x={{args.x}}; }", 'f() { local x="${OPSJOBS_V1}"; }'),
        ('echo "$(echo "{{args.x}}")"', 'echo "$(echo "${OPSJOBS_V1}")"'),
        ("x=$(printf %s {{args.x}})", 'x=$(printf %s "${OPSJOBS_V1}")'),
        ('[ "{{args.x}}" -gt 5 ]', '[ "${OPSJOBS_V1}" -gt 5 ]'),
        ("test {{args.x}} = a", 'test "${OPSJOBS_V1}" = a'),
        ("printf '%s\\n' {{args.x}}", "printf '%s\\n' \"${OPSJOBS_V1}\""),
        ("for h in {{args.x}} b; do :; done", 'for h in "${OPSJOBS_V1}" b; do :; done'),
        (
            "case {{args.x}} in a) echo {{args.x}};; esac",
            'case "${OPSJOBS_V1}" in a) echo "${OPSJOBS_V1}";; esac',
        ),
        ("if true; then ( echo {{args.x}} ); fi", 'if true; then ( echo "${OPSJOBS_V1}" ); fi'),
        ("echo hi 2>&1 {{args.x}}", 'echo hi 2>&1 "${OPSJOBS_V1}"'),
        (
            "cat <<'EOF'\n\" ' {{\nEOF\necho {{args.x}}",
            "cat <<'EOF'\n\" ' {{\nEOF\necho \"${OPSJOBS_V1}\"",
        ),
        ("#!/bin/bash\necho {{args.x}}", '#!/bin/bash\necho "${OPSJOBS_V1}"'),
        ("#!/usr/bin/env dash\necho {{args.x}}", '#!/usr/bin/env dash\necho "${OPSJOBS_V1}"'),
        ("[[ a == a ]] && echo {{args.x}}", '[[ a == a ]] && echo "${OPSJOBS_V1}"'),
        ("function f { echo {{args.x}}; }", 'function f { echo "${OPSJOBS_V1}"; }'),
        ("f() {\n  echo {{args.x}}\n}", 'f() {\n  echo "${OPSJOBS_V1}"\n}'),
    ],
)
def test_safe_spots_become_references(template, expected):
    assert compile_script(template).text == expected


# Every spot refused, and a word of the reason each gives. The issue-7 payload spots first.
REFUSED = [
    ("echo \"${NAME:-'{{args.x}}'}\"", "${...}"),
    ("echo ${NAME:-{{args.x}}}", "${...}"),
    ("echo ${NAME#{{args.x}}}", "${...}"),
    ("echo ${NAME/{{args.x}}/y}", "${...}"),
    ("echo ${#{{args.x}}}", "${...}"),
    ('x=abc; echo "${x:{{args.x}}}"', "${...}"),
    ("echo `echo {{args.x}}`", "`...`"),
    ('echo "`echo {{args.x}}`"', "`...`"),
    ("[[ {{args.x}} -gt 5 ]]", "[[ ... ]]"),
    ('[[ "{{args.x}}" == a ]]', "[[ ... ]]"),
    ("[[ -v {{args.x}} ]]", "[[ ... ]]"),
    ("[[ $(echo {{args.x}}) -gt 1 ]]", "[[ ... ]]"),
    ("time [[ a && 5 -lt {{args.x}} ]]", "[[ ... ]]"),
    ("x && ! [[ a || 5 -lt {{args.x}} ]]", "[[ ... ]]"),
    ('let "v={{args.x}}"', "let"),
    ("let v={{args.x}}", "let"),
    ("declare -i n={{args.x}}", "declare with options"),
    ("typeset -i n={{args.x}}", "typeset with options"),
    ("f() { local -i n={{args.x}}; }", "local with options"),
    ("declare -n r={{args.x}}", "declare with options"),
    ("declare $opts n={{args.x}}", "declare with options"),
    ("declare {{args.x}}=1", "variable's name"),
    ("declare -i n=$(printf %s {{args.x}})", "declare with options"),
    ("echo $(( {{args.x}} + 1 ))", "arithmetic"),
    ('echo "$(( {{args.x}} ))"', "arithmetic"),
    ("(( {{args.x}} > 1 ))", "arithmetic"),
    ("for ((i={{args.x}}; i<3; i++)); do :; done", "arithmetic"),
    ("echo $[ {{args.x}} + 1 ]", "arithmetic"),
    ("a[{{args.x}}]=1", "array subscript"),
    ('a["{{args.x}}"]=1', "array subscript"),
    ('echo "${arr[{{args.x}}]}"', "${...}"),
    ("a=( [{{args.x}}]=1 )", "array subscript"),
    ("printf -v {{args.x}} %s x", "printf's options"),
    ("printf -v out %s {{args.x}}", "printf's options"),
    ('test -v "{{args.x}}"', "-v"),
    ('[ -v "{{args.x}}" ]', "-v"),
    ('[ -R "{{args.x}}" ]', "-R"),
    ('[ $op "{{args.x}}" ]', "$op"),
    ("wait -p {{args.x}}", "wait -p"),
    ("unset {{args.x}}", "unset"),
    ("read {{args.x}}", "read"),
    ("mapfile {{args.x}}", "mapfile"),
    ('eval "{{args.x}}"', "eval"),
    ('command eval "{{args.x}}"', "eval"),
    ('builtin eval "{{args.x}}"', "eval"),
    ("trap {{args.x}} EXIT", "trap"),
    ('alias e="{{args.x}}"', "aliases"),
    ('alias e=eval\ne "{{args.x}}"', "aliases"),
    (". {{args.x}}", "."),
    ("source {{args.x}}", "source"),
    ('bash -c "{{args.x}}"', "bash -c"),
    ("sh -ec {{args.x}}", "sh -c"),
    ('python3 -c "{{args.x}}"', "python3 -c"),
    ("{{args.x}} --version", "name of the command"),
    ('"{{args.x}}"', "name of the command"),
    ("/usr/bin/{{args.x}}", "name of the command"),
    ("echo a; {{args.x}}", "name of the command"),
    ("echo a | {{args.x}}", "name of the command"),
    ("exec {{args.x}}", "name of the command"),
    ('echo "$({{args.x}})"', "name of the command"),
    ('$tool "{{args.x}}"', "named by an expansion"),
    ("PATH={{args.x}} ls", "PATH"),
    ("export LD_PRELOAD={{args.x}}", "LD_PRELOAD"),
    ("PS4={{args.x}}; set -x", "PS4"),
    ("BASH_ENV={{args.x}} bash x.sh", "BASH_ENV"),
    ("cat <<EOF\n{{args.x}}\nEOF", "here-document"),
    ("cat <<-'EOF'\n\t{{args.x}}\n\tEOF", "here-document"),
    ("cat <<{{args.x}}\nx\n", "here-document's delimiter"),
    ("cat <<< {{args.x}}", "here-string"),
    ("echo hi > {{args.x}}", "redirection"),
    ("cat < {{args.x}}", "redirection"),
    ("echo hi &> {{args.x}}", "redirection"),
    ("echo # {{args.x}}", "comment"),
    ("# {{args.x}}", "comment"),
    ("echo '{{args.x}}'", "'...'"),
    ("awk '{print \"{{args.x}}\"}'", "'...'"),
    ("echo $'{{args.x}}'", "$'...'"),
    ('echo $"{{args.x}}"', '$"..."'),
    ("echo ${{args.x}}", "right after a $"),
    ('echo "${{args.x}}"', "right after a $"),
    ("echo \\{{args.x}}", "right after a backslash"),
    ('echo "\\{{args.x}}"', "right after a backslash"),
    ("case a in {{args.x}}) ;; esac", "case pattern"),
    ("for {{args.x}} in a; do :; done", "variable name"),
    ("set -o {{args.x}}", "set"),  # a value may not choose shell options
    ("shopt -s {{args.x}}", "shopt"),
    ('echo "${x:-\'}" {{args.x}} "\'}"', "single quote"),
    ('cat <<EOF\nX\\\nEOF\necho "\nEOF\n{{args.x}}', "backslash"),
]


@pytest.mark.parametrize(("template", "reason"), REFUSED)
def test_spots_not_proven_safe_are_refused_with_the_reason(template, reason):
    with pytest.raises(BadRequest) as caught:
        compile_script(template)
    message = caught.value.message
    assert message.startswith("Template variable {{args.x}} cannot stand"), message
    assert reason in message, message


def test_variables_in_a_script_of_another_interpreter_are_refused():
    for script in ("#!/usr/bin/env python3\nprint({{args.x}})", "#!/bin/zsh\necho {{args.x}}"):
        with pytest.raises(BadRequest, match="need an sh, dash or bash script"):
            compile_script(script)


def test_a_script_without_variables_may_be_anything():
    script = "#!/usr/bin/python3\nprint('{{.Go}}')"
    assert render_script(script, args()) == (script, {})


@pytest.mark.parametrize(
    ("script", "program"),
    [
        ("echo hi", "sh"),
        ("#!/bin/bash\necho", "bash"),
        ("#! /bin/sh -e\necho", "sh"),
        ("#!/usr/bin/env bash\necho", "bash"),
        ("#!/usr/bin/env -S LANG=C python3 -u\n", "python3"),
        ("#!/bin/busybox sh\n", "sh"),
        ("#!/usr/bin/perl -w\n", "perl"),
        ("#!/usr/bin/env -i A=1 dash\n", "dash"),
        ("#!/usr/bin/env -S make -f\n", "make"),
    ],
)
def test_the_interpreter_comes_from_the_hashbang_line(script, program):
    assert shell.interpreter(script) == program


# env options that hide which word is the program: such a script is not taken for a shell
# script (env -Smake -f runs make, which expands ${OPSJOBS_V1} into a recipe's shell line).
@pytest.mark.parametrize(
    "hashbang",
    [
        "#!/usr/bin/env -Smake -f",
        "#!/usr/bin/env --split-string=make -f",
        "#!/usr/bin/env -u X sh",
        "#!/usr/bin/env -C /tmp sh",
        "#!/usr/bin/env --chdir=/tmp sh",
        "#!/bin/busybox -x sh",
        "#!/usr/bin/env",
    ],
)
def test_a_hashbang_whose_program_cannot_be_told_takes_no_variables(hashbang):
    assert shell.interpreter(hashbang + "\n") not in shell.SHELLS
    with pytest.raises(BadRequest, match="need an sh, dash or bash script"):
        compile_script(hashbang + "\nall:\n\techo {{args.x}}\n")


# -- leading dashes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    ["tar xf a.tar {{args.x}}", 'tar xf a.tar "{{args.x}}"', "ls {{args.y}}{{args.x}}"],
)
def test_a_value_that_leads_an_argument_may_not_start_with_a_dash(template):
    with pytest.raises(BadRequest, match=r"args.x starts with '-'"):
        render_script(template, args(x="--use-compress-program=sh", y=""))
    allowed = declarations({"x": {"allowLeadingDash": True}, "y": {}})
    text, env = render_script(template, args(x="-v", y=""), allowed)
    assert env["OPSJOBS_V1" if "y" not in template else "OPSJOBS_V2"] == "-v"


@pytest.mark.parametrize(
    "template", ["cmd --file={{args.x}}", 'echo "a{{args.x}}"', "X={{args.x}}", "cmd x{{args.x}}"]
)
def test_a_value_inside_a_word_may_start_with_a_dash(template):
    assert render_script(template, args(x="-rf"))[1] == {"OPSJOBS_V1": "-rf"}


def test_argv_elements_are_rendered_one_by_one_and_never_quoted():
    argv = render_argv(
        ["-c", "{{args.count}}", "--host={{args.host}}", "{{args.x}}"],
        Values(entity_id="1", args={"count": 3, "host": "web-1", "x": "a b; rm -rf / 'q'"}),
    )
    assert argv == ["-c", "3", "--host=web-1", "a b; rm -rf / 'q'"]


def test_an_argv_element_a_value_starts_may_not_start_with_a_dash():
    for element in ("{{args.x}}", "{{args.y}}{{args.x}}", "{{args.x}}.tar"):
        with pytest.raises(BadRequest, match=r"args.x starts with '-'"):
            render_argv([element], args(x="--use-compress-program=sh", y=""))
    assert render_argv(["--file={{args.x}}"], args(x="-x")) == ["--file=-x"]
    allowed = declarations({"x": {"allowLeadingDash": True}})
    assert render_argv(["{{args.x}}"], args(x="-x"), allowed) == ["-x"]
    with pytest.raises(BadRequest, match=r"user.login starts with '-'"):
        render_argv(["{{user.login}}"], Values("1", user_login="-rf"), allowed)


# -- NUL, size, topics -----------------------------------------------------------------------


def test_nul_is_refused_in_argv_scripts_and_topics():
    nul = args(x="a\0b")
    for render in (
        lambda: render_argv(["{{args.x}}"], nul),
        lambda: render_script("echo {{args.x}}", nul),
        lambda: render_topic("t/{{args.x}}", nul),
    ):
        with pytest.raises(BadRequest) as caught:
            render()
        assert "args.x" in caught.value.message and "NUL" in caught.value.message


def test_a_lone_surrogate_is_refused_wherever_it_goes():
    bad = args(x="a\ud800")
    for render in (
        lambda: render_argv(["{{args.x}}"], bad),
        lambda: render_script("echo {{args.x}}", bad),
        lambda: render_topic("t/{{args.x}}", bad),
        lambda: render_text("{{args.x}}", bad),
    ):
        with pytest.raises(BadRequest, match="args.x is not valid Unicode"):
            render()


def test_nul_may_go_into_an_mqtt_message():
    assert render_text("<{{args.x}}>", args(x="a\0b")) == "<a\0b>"


def test_a_value_too_long_for_the_kernel_is_refused_before_a_job():
    long = "a" * (STRING_MAX + 1)
    with pytest.raises(BadRequest, match="args.x is too long"):
        render_script("echo {{args.x}}", args(x=long))
    with pytest.raises(BadRequest, match="too long"):
        render_argv(["{{args.x}}"], args(x=long))
    many = {f"v{n}": "a" * 100_000 for n in range(12)}
    script = " ".join(f"echo {{{{args.v{n}}}}};" for n in range(12))
    with pytest.raises(BadRequest, match="together"):
        render_script(script, args(**many))


@pytest.mark.parametrize("value", ["a/b", "+", "#", "a/#", "/", "x\0"])
def test_a_value_is_one_topic_level(value):
    with pytest.raises(BadRequest, match="args.dev"):
        render_topic("adv/{{args.dev}}/cmd", args(dev=value))


# Characters a broker refuses in a topic (mosquitto drops the connection): refused with a 400
# naming the variable, rather than a job that waits out its timeout and fails without reason.
@pytest.mark.parametrize(
    "value", ["\x01", "a\x1fb", "\x7f", "\x85", "\x9f", "\ufdd0", "\ufffe", "\uffff", "\U0010ffff"]
)
def test_a_topic_value_holds_no_character_a_broker_refuses(value):
    with pytest.raises(BadRequest, match="args.dev.*noncharacter"):
        render_topic("adv/{{args.dev}}/cmd", args(dev=value))


@pytest.mark.parametrize("value", ["é", "😀", "a\u2215b", "\ufdcf", "\ufdf0", "\ufffd", "\xa0"])
def test_a_topic_value_may_hold_any_other_character(value):
    assert render_topic("adv/{{args.dev}}/cmd", args(dev=value)) == f"adv/{value}/cmd"


def test_a_topic_value_may_not_start_a_system_topic():
    for template in ("{{args.t}}/x", "{{args.e}}{{args.t}}"):
        with pytest.raises(BadRequest, match=r"\$ topic"):
            render_topic(template, args(t="$SYS", e=""))
    assert render_topic("adv/{{args.dev}}/cmd", args(dev="a$b c")) == "adv/a$b c/cmd"


# -- declared arguments ---------------------------------------------------------------------


def test_declared_arguments_are_checked_and_converted():
    declared = declarations(
        {
            "host": {"pattern": "[a-z0-9-]+", "maxLength": 20, "required": True},
            "count": {"type": "integer", "default": 3, "choices": [1, 3, 5]},
            "ratio": {"type": "number"},
            "force": {"type": "boolean", "default": False},
        }
    )
    assert checked_args(declared, {"host": "web-1"}) == {
        "host": "web-1",
        "count": 3,
        "force": False,
    }
    assert checked_args(declared, {"host": "a", "count": "5", "ratio": "0.5", "force": "true"}) == {
        "host": "a",
        "count": 5,
        "ratio": 0.5,
        "force": True,
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "args.host: required"),
        ({"host": "web 1"}, "args.host: does not match"),
        ({"host": "web-1\n"}, "args.host: does not match"),  # the whole value must match
        ({"host": "$(touch p)"}, "args.host: does not match"),
        ({"host": "a" * 21}, "args.host: must be at most 20 characters"),
        ({"host": 7}, "args.host: must be a string"),
        ({"host": "a", "count": 2}, "args.count: not one of the operation's choices"),
        ({"host": "a", "count": "a[$(touch p)]"}, "args.count: must be an integer"),
        ({"host": "a", "count": 2**64}, "args.count: must be an integer"),
        ({"host": "a", "count": True}, "args.count: must be an integer"),
        ({"host": "a", "ratio": "1e400"}, "args.ratio: must be a number"),
        ({"host": "a", "ratio": float("nan")}, "args.ratio: must be a number"),
        ({"host": "a", "force": "yes"}, "args.force: must be true or false"),
        ({"host": "a", "other": 1}, "args.other: not an argument of this operation"),
    ],
)
def test_arguments_that_do_not_fit_their_declaration_are_refused_naming_them(given, message):
    declared = declarations(
        {
            "host": {"pattern": "[a-z0-9-]+", "maxLength": 20, "required": True},
            "count": {"type": "integer", "choices": [1, 3, 5]},
            "ratio": {"type": "number"},
            "force": {"type": "boolean"},
        }
    )
    with pytest.raises(BadRequest) as caught:
        checked_args(declared, given)
    assert caught.value.message.startswith(message), caught.value.message


def test_without_declarations_any_arguments_are_taken():
    assert checked_args(None, {"x": [1], "y": "$(z)"}) == {"x": [1], "y": "$(z)"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "parameters.arguments: must be an object"),
        ({"a-b": {}}, "is not an argument name"),
        ({"x": {"type": "text"}}, "parameters.arguments.x.type: must be one of"),
        ({"x": {"patern": "a"}}, "parameters.arguments.x: unknown key patern"),
        ({"x": {"pattern": "(a"}}, "parameters.arguments.x.pattern: not a valid RE2"),
        ({"x": {"pattern": "(a)\\1"}}, "parameters.arguments.x.pattern: not a valid RE2"),
        ({"x": {"type": "integer", "pattern": "1"}}, "only a string argument takes a pattern"),
        ({"x": {"choices": []}}, "parameters.arguments.x.choices: must be a non-empty array"),
        ({"x": {"type": "integer", "choices": ["a"]}}, "x.choices[0]: must be an integer"),
        ({"x": {"pattern": "[a-z]+", "default": "A"}}, "x.default: does not match"),
        ({"x": {"required": "yes"}}, "x.required: must be true or false"),
        ({"x": {"maxLength": 0}}, "x.maxLength: must be a positive integer"),
    ],
)
def test_bad_declarations_are_refused_naming_the_field(raw, message):
    with pytest.raises(BadRequest) as caught:
        declarations(raw)
    assert message in caught.value.message, caught.value.message


def test_a_pattern_cannot_be_made_to_backtrack_for_ever():
    # (a+)+$ takes exponential time in a backtracking engine; RE2 answers at once.
    declared = declarations({"x": {"pattern": "(a+)+b"}})
    with pytest.raises(BadRequest, match="does not match"):
        checked_args(declared, {"x": "a" * 50_000 + "c"})
