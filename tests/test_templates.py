"""Template variables and quoting (domain/templates.py, domain/shell.py).

The property tests run rendered scripts with the real /bin/sh (and bash when installed): an
argument must come out exactly as given and nothing it holds may run. They print with
``printf '%s'``, not ``echo``: dash's echo reads backslashes in its argument as escapes, which
is echo's behaviour, not a quoting failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsjobs.domain import shell
from opsjobs.domain.errors import BadRequest
from opsjobs.domain.templates import (
    Values,
    property_map,
    render_argv,
    render_script,
    render_text,
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


# -- rendering as it is ---------------------------------------------------------------------


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


def test_an_empty_string_is_a_value():
    assert render_text("[{{args.empty}}]", VALUES) == "[]"


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


def test_user_variables_have_no_value_without_a_user():
    # A state trigger runs an operation for nobody.
    with pytest.raises(BadRequest, match="no value: user.login"):
        render_text("{{user.login}}", Values(entity_id="1"))


def test_other_braces_are_left_alone():
    # docker --format, Jinja and friends use {{ }} too.
    template = "docker inspect --format '{{.State.Status}}' {{ foo }} {{args}} {{args.}}"
    assert render_text(template, VALUES) == template
    assert render_script(template, VALUES) == template


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


def test_argv_elements_are_rendered_one_by_one_and_never_quoted():
    argv = render_argv(
        ["-c", "{{args.count}}", "--host={{args.host}}", "{{args.x}}"],
        Values(entity_id="1", args={"count": 3, "host": "web-1", "x": "a b; rm -rf / 'q'"}),
    )
    assert argv == ["-c", "3", "--host=web-1", "a b; rm -rf / 'q'"]


# -- NUL ------------------------------------------------------------------------------------


def test_nul_is_refused_in_argv_scripts_and_topics():
    nul = args(x="a\0b")
    for render in (
        lambda: render_argv(["{{args.x}}"], nul),
        lambda: render_script("echo {{args.x}}", nul),
        lambda: render_text("t/{{args.x}}", nul),
    ):
        with pytest.raises(BadRequest) as caught:
            render()
        assert "args.x" in caught.value.message and "NUL" in caught.value.message


def test_nul_may_go_into_an_mqtt_message():
    assert render_text("<{{args.x}}>", args(x="a\0b"), allow_nul=True) == "<a\0b>"


# -- shell quoting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("echo {{args.x}}", "a b", "echo 'a b'"),
        ("echo {{args.x}}", "plain", "echo plain"),
        ("echo {{args.x}}", "it's", "echo 'it'\"'\"'s'"),
        ('echo "{{args.x}}"', '$(id) `id` "q" \\', 'echo "\\$(id) \\`id\\` \\"q\\" \\\\"'),
        ("echo '{{args.x}}'", "it's", "echo 'it'\\''s'"),
        ("# {{args.x}}\necho", "a\nb", "# 'a b'\necho"),
    ],
)
def test_a_value_is_quoted_for_the_spot_it_stands_in(template, value, expected):
    assert render_script(template, args(x=value)) == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("cat <<EOF\n{{args.x}}\nEOF", "here-document"),
        ("cat <<-'EOF'\n\t{{args.x}}\n\tEOF", "here-document"),
        ("cat <<{{args.x}}\nx\n", "here-document's delimiter"),
        ("echo `echo {{args.x}}`", "`...`"),
        ("echo ${X:-{{args.x}}}", "${...}"),
        ("echo $(( {{args.x}} + 1 ))", "arithmetic"),
        ("(( {{args.x}} > 1 ))", "arithmetic"),
        ("echo ${{args.x}}", "right after a $"),
        ('echo "${{args.x}}"', "right after a $"),
        ("echo \\{{args.x}}", "right after a backslash"),
        ('echo "\\{{args.x}}"', "right after a backslash"),
        ("echo $'{{args.x}}'", "$'...'"),
    ],
)
def test_spots_no_quoting_makes_safe_are_refused(template, reason):
    with pytest.raises(BadRequest) as caught:
        render_script(template, args(x="v"))
    assert caught.value.message.startswith("Template variable args.x cannot be quoted safely")
    assert reason in caught.value.message


def test_a_here_document_does_not_hide_what_follows_it():
    script = "cat <<'EOF'\n\" ' unbalanced\nEOF\necho {{args.x}}"
    assert render_script(script, args(x="a b")).endswith("echo 'a b'")


def test_variables_in_a_script_of_another_interpreter_are_refused():
    with pytest.raises(BadRequest, match="runs python3"):
        render_script("#!/usr/bin/env python3\nprint({{args.x}})", args(x="1"))


def test_a_script_without_variables_may_be_anything():
    script = "#!/usr/bin/python3\nprint('{{.Go}}')"
    assert render_script(script, args()) == script


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
    ],
)
def test_the_interpreter_comes_from_the_hashbang_line(script, program):
    assert shell.interpreter(script) == program


# -- the property: what the shell runs ------------------------------------------------------

SHELLS = [s for s in ("/bin/sh", shutil.which("bash")) if s]

# Fragments that try to break out of each kind of quoting, run something, or end a line.
ATTACKS = [
    "'",
    '"',
    "\\",
    "`touch pwned`",
    "$(touch pwned)",
    "${IFS}",
    "; touch pwned;",
    "| touch pwned",
    "&& touch pwned",
    "\ntouch pwned\n",
    "\r\n",
    "#",
    "$HOME",
    "*",
    "~",
    "-n",
    "EOF",
    ")",
    "'\"$`\\",
    "\\'",
    "é ✓",
    "\t",
    " ",
]
value_strategy = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    st.lists(st.sampled_from(ATTACKS), max_size=6).map("".join),
    st.lists(
        st.one_of(
            st.sampled_from(ATTACKS), st.text(st.sampled_from("ab'\"\\$`(){}#;\n "), max_size=3)
        ),
        max_size=8,
    ).map("".join),
)

# (script, what it prints for x and y). $(...) drops trailing newlines, as the shell does.
SHAPES = [
    ("printf '%s' {{args.x}}", lambda x, y: x),
    ('printf "%s" "{{args.x}}"', lambda x, y: x),
    ("printf '%s' '{{args.x}}'", lambda x, y: x),
    ("printf '%s|%s' {{args.x}} {{args.y}}", lambda x, y: f"{x}|{y}"),
    (
        "printf '%s' pre{{args.x}}\"mid{{args.y}}\"'end{{args.x}}'",
        lambda x, y: f"pre{x}mid{y}end{x}",
    ),
    ("X={{args.x}}\nprintf '%s' \"$X\"", lambda x, y: x),
    ("# note: {{args.x}}\nprintf '%s' {{args.y}}", lambda x, y: y),
    ("printf '%s' \"$(printf '%s' {{args.x}})\"", lambda x, y: x.rstrip("\n")),
    ("printf '%s' \"$(printf '%s' \"{{args.x}}\")\"", lambda x, y: x.rstrip("\n")),
    (
        "X=$(case a in a) printf '%s' {{args.x}};; esac)\nprintf '%s' \"$X\"",
        lambda x, y: x.rstrip("\n"),
    ),
    ("if true; then ( printf '%s' {{args.x}} ); fi", lambda x, y: x),
    ("cat <<'EOF'\n\" '\nEOF\nprintf '%s' {{args.x}}", lambda x, y: "\" '\n" + x),
    ("f() { printf '%s' \"$1\"; }\nf {{args.x}} # {{args.y}}", lambda x, y: x),
]


def _run(program: str, script: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [program, "-c", script],
        cwd=cwd,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        timeout=10,
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(shape=st.sampled_from(SHAPES), x=value_strategy, y=value_strategy)
def test_the_shell_prints_exactly_the_value_and_runs_nothing_else(tmp_path, shape, x, y):
    template, expected = shape
    script = render_script(template, args(x=x, y=y))
    for program in SHELLS:
        workdir = tmp_path / program.rsplit("/", 1)[-1]
        workdir.mkdir(exist_ok=True)
        done = _run(program, script, workdir)
        assert done.stderr == b"", (program, script)
        assert done.returncode == 0, (program, script)
        assert done.stdout.decode() == expected(x, y), (program, script)
        assert list(workdir.iterdir()) == [], (program, script)  # nothing was touched


@settings(max_examples=100, deadline=None)
@given(x=value_strategy)
def test_argv_carries_any_value_as_one_argument(x):
    argv = render_argv(["{{args.x}}"], args(x=x))
    done = subprocess.run(["printf", "%s", *argv], capture_output=True, timeout=10)
    assert done.stdout.decode() == x


# Pieces of shell syntax, joined at random into scripts (mostly odd, often invalid: the shell
# still runs what comes before a syntax error, so they are worth trying).
SYNTAX = [
    *("echo ", "printf '%s' ", "{{args.x}}", "{{args.x}}", "'", '"', "$(", ")", "`", "${"),
    *("}", "#", "\n", ";", " ", "case a in a) ", ";; esac", "<<EOF\n", "\nEOF\n", "\\", "$"),
    *("((", "))", "a", "=", "|", "&&", "(", "<<'E'\n", "\nE\n", "$'", "cat ", "<<-EOF\n"),
    *("\tEOF\n", "X=", '"$X"', "esac", "case"),
]
BREAKOUTS = [
    "x';touch p1;'",
    '"$(touch p2)"',
    "`touch p3`",
    "\ntouch p4\n",
    "EOF\ntouch p5\nEOF",
    "E",
    "\\",
    "$(touch p6)",
    ")touch p7;(",
    "}touch p8",
    '"; touch p9; "',
    "'\ntouch p10 #",
]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    parts=st.lists(st.sampled_from(SYNTAX), min_size=1, max_size=14),
    x=st.lists(st.sampled_from(BREAKOUTS), min_size=1, max_size=4).map("".join),
)
def test_in_any_script_a_value_runs_nothing_or_is_refused(tmp_path, parts, x):
    template = "".join(parts) + " {{args.x}}"
    try:
        script = render_script(template, args(x=x))
    except BadRequest:
        return  # refused: nothing runs
    for program in SHELLS:
        workdir = tmp_path / program.rsplit("/", 1)[-1]
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        try:
            subprocess.run(
                [program, "-c", script],
                cwd=workdir,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                timeout=5,
            )
        except subprocess.TimeoutExpired:
            continue
        assert list(workdir.iterdir()) == [], (program, template, script)
