"""Issue 7.1, no value ever becomes text that a shell parses: hostile values against real
processes (sh, dash and bash through the real script executor, and jobs run by the embedded
runner behind the HTTP execute route). A payload "runs" if it creates its mark file; none
may. Spots that are not proven safe are refused when the operation is saved (400 naming the
variable), and a value that does not fit its declaration is refused before any job is made.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from helpers.execution import wait_status
from opsjobs.domain.errors import BadRequest
from opsjobs.domain.operations import render_spec, validate_new
from opsjobs.domain.spec import ScriptSpec
from opsjobs.domain.templates import Values
from opsjobs.execution.control import JobControl
from opsjobs.execution.output import OutputRecorder
from opsjobs.execution.script import run_process, script_environment
from opsjobs.store.queue import ClaimedJob
from opsjobs.store.schema import jobs, scripts

SHELLS = {
    name: path
    for name, path in (
        ("sh", "/bin/sh"),
        ("dash", shutil.which("dash")),
        ("bash", shutil.which("bash")),
    )
    if path
}
JOB = ClaimedJob("0" * 24, "1", 1, "5ed0e3505a6afa192c2e711f", None)


def payloads(mark: Path) -> list[str]:
    """Values that try to run ``touch mark`` from every kind of spot."""
    m = str(mark)
    return [
        f"$(touch {m})",
        f"`touch {m}`",
        f"a[$(touch {m})]",
        f"x[`touch {m}`]",
        f"'; touch {m}; '",
        f'"; touch {m}; "',
        f"\ntouch {m}\n",
        f"\r\ntouch {m}",
        f"$'\\x60touch {m}\\x60'",
        f"${{IFS}}$(touch {m})",
        f"$((`touch {m}`))",
        f"}}; touch {m}; {{",
        f")touch {m}(",
        f"EOF\ntouch {m}\nEOF",
        f"${{PATH:+$(touch {m})}}",
        f"${{x:-$(touch {m})}}",
        f"|touch {m}",
        f"&& touch {m}",
        f"touch {m}",
        f"-v a[$(touch {m})]",
        f"--use-compress-program=touch {m}",
        f"--checkpoint-action=exec=touch {m}",
        "${OPSJOBS_V2}",
        "$OPSJOBS_V1",
        "$PATH",
        "*",
        "~",
        "#",
        "\\",
        "'",
        '"',
        "-v",
        "-n",
        "é ✓ \t",
        "a" * 100_000 + f"$(touch {m})",
    ]


async def run_script(shell: str, template: str, args: dict) -> tuple[str | None, object]:
    """Render a scriptText operation for ``shell`` with ``args`` and run it with the real
    executor; (None, the refusal) when rendering refuses it."""
    text = f"#!{SHELLS[shell]}\n{template}"
    document = validate_new(
        {"name": "t", "type": 2, "parameters": {"type": "scriptText", "text": text}}
    )
    try:
        spec = render_spec(document, Values("1", args=args), default_timeout=20)
    except BadRequest as refused:
        return None, refused
    assert isinstance(spec, ScriptSpec) and "touch" not in spec.text
    recorder = OutputRecorder(4 * 1024 * 1024)
    outcome = await run_process(spec, script_environment(JOB), JobControl(), recorder)
    return outcome.description["stdout"], outcome


# Spots that are allowed, and what each prints for x: the value, byte for byte ($(...) drops
# trailing newlines, as the shell does).
SAFE_SHAPES = [
    ("printf %s {{args.x}}", lambda x: x),
    ('printf %s "{{args.x}}"', lambda x: x),
    ('printf %s "<{{args.x}}>"', lambda x: f"<{x}>"),
    ("printf %s --x={{args.x}}", lambda x: f"--x={x}"),
    ('X={{args.x}}; printf %s "$X"', lambda x: x),
    ('export X="{{args.x}}"; printf %s "$X"', lambda x: x),
    ('f() { local v={{args.x}}; printf %s "$v"; }; f', lambda x: x),
    ('printf %s "$(printf %s "{{args.x}}")"', lambda x: x.rstrip("\n")),
    ('X=$(printf %s {{args.x}}); printf %s "$X"', lambda x: x.rstrip("\n")),
    ('case {{args.x}} in *) printf %s "{{args.x}}";; esac', lambda x: x),
    ('for v in {{args.x}}; do printf %s "$v"; done', lambda x: x),
    (
        '[ "{{args.x}}" -gt 5 ] 2>/dev/null; test "{{args.x}}" -eq 1 2>/dev/null; printf %s .',
        lambda x: ".",
    ),
    ('if [ -n "{{args.x}}" ]; then printf %s "{{args.x}}"; fi', lambda x: x if x else ""),
    ('f() { printf %s "$1"; }; f "{{args.x}}"', lambda x: x),
    ('echo {{args.x}} >/dev/null; printf %s "{{args.x}}" | cat', lambda x: x),
    ('( printf %s "{{args.x}}" ) && printf %s "[{{args.x}}]"', lambda x: f"{x}[{x}]"),
    ('i="{{args.x}}"; set -- a b; printf %s "$i"', lambda x: x),
]


@pytest.mark.parametrize("shell", sorted(SHELLS))
@pytest.mark.parametrize(("template", "expected"), SAFE_SHAPES, ids=[s for s, _ in SAFE_SHAPES])
async def test_no_payload_runs_from_any_allowed_spot(tmp_path, shell, template, expected):
    mark = tmp_path / "ran"
    ran = 0
    for value in payloads(mark):
        stdout, outcome = await run_script(shell, template, {"x": value})
        assert not mark.exists(), (shell, template, value)
        if stdout is None:  # refused: a leading "-" (an option) or the like
            assert value.startswith("-"), outcome
            continue
        ran += 1
        assert stdout == expected(value), (shell, template, value, outcome)
    assert ran >= len(payloads(mark)) - 6


# The spots an attacker's review found payloads running from, and their variants: refused when saved.
ISSUE_SPOTS = [
    "echo \"${NAME:-'{{args.x}}'}\"",
    'echo "${NAME:-{{args.x}}}"',
    "echo ${NAME#{{args.x}}}",
    "echo ${NAME/a/{{args.x}}}",
    "echo ${#{{args.x}}}",
    "echo `echo {{args.x}}`",
    'echo "`echo {{args.x}}`"',
    "[[ {{args.x}} -gt 5 ]]",
    '[[ "{{args.x}}" -gt 5 ]]',
    'let "v={{args.x}}"',
    "declare -i n={{args.x}}",
    "typeset -i n={{args.x}}",
    "f() { local -i n={{args.x}}; }",
    "echo $(( {{args.x}} ))",
    "(( n = {{args.x}} ))",
    "echo $[ {{args.x}} ]",
    "printf -v {{args.x}} x",
    "printf -v out %s {{args.x}}",
    'arr=(1); echo "${arr[{{args.x}}]}"',
    "arr[{{args.x}}]=1",
    "test -v {{args.x}}",
    "[ -v {{args.x}} ]",
    "unset {{args.x}}",
    "read {{args.x}} < /dev/null",
    'eval "{{args.x}}"',
    'bash -c "{{args.x}}"',
    'sh -c "echo {{args.x}}"',
    "cat <<< {{args.x}}",
    "cat <<EOF\n{{args.x}}\nEOF",
    "echo '{{args.x}}'",
    "echo $'{{args.x}}'",
    "{{args.x}}",
    "echo a; {{args.x}} b",
    "# {{args.x}}",
    "PS4={{args.x}}; set -x; :",
    # jobs -x CMD ARGS runs CMD: no argument of jobs may hold a value.
    "jobs -x {{args.x}} /tmp/f",
    "jobs -x touch {{args.x}}",
    "jobs {{args.x}}",
    # Aliases spelt as the shell reads them (dash expands aliases in scripts by default).
    'a""lias echo=eval\necho {{args.x}}',
    "\\alias echo=eval\necho {{args.x}}",
    "a''lias echo=eval\necho {{args.x}}",
    'shopt -s "expand_aliases"; BASH_ALIASES[echo]=eval\necho {{args.x}}',
    "BASH_ALIASES+=([echo]=eval)\necho {{args.x}}",
]


@pytest.mark.parametrize("template", ISSUE_SPOTS)
async def test_unsafe_spots_are_refused_when_saved(template):
    with pytest.raises(BadRequest) as caught:
        validate_new(
            {"name": "t", "type": 2, "parameters": {"type": "scriptText", "text": template}}
        )
    assert "{{args.x}} cannot stand" in caught.value.message


# A value kept in a variable that the script then evaluates must be an integer.
EVALUATED = [
    'i="{{args.x}}"; arr=(1 2); echo "${arr[i]}"',
    "i={{args.x}}; echo $(( i + 1 ))",
    "i={{args.x}}; j=$i; (( j > 1 ))",
    "i={{args.x}}; [[ $i -gt 5 ]]",
    'i={{args.x}}; echo "${!i}"',
    'i={{args.x}}; unset "$i"',
    'i={{args.x}}; eval "echo $i"',
    'i={{args.x}}; bash -c "$i"',
    'i={{args.x}}; let "v=i"',
    "declare -i n; n={{args.x}}",
    'i={{args.x}}; printf -v "$i" x',
    'i={{args.x}}; [ -v "$i" ]',
    "for i in {{args.x}}; do echo $(( i )); done",
    'i=$(printf %s "{{args.x}}"); echo $((i))',
    'f() { local n={{args.x}}; arr=(1); echo "${arr[n]}"; }; f',
    # ${i@P} expands the value as a prompt string, $(...) included.
    'i={{args.x}}; echo "${i@P}"',
    "i={{args.x}}; x=${i@P}",
    'i={{args.x}}; echo "${i[0]@P}"',
    'i={{args.x}}; echo "${i[@]@P}"',
    'for i in {{args.x}}; do echo "${i@P}"; done',
    'i=$(echo {{args.x}}); echo "${i@P}"',
    "i={{args.x}}; jobs -x $i",
    # bash's own integer variables evaluate what is assigned to them.
    "RANDOM={{args.x}}",
    "OPTIND={{args.x}}",
    "SRANDOM={{args.x}}",
    "HISTCMD={{args.x}}",
    "export OPTIND={{args.x}}",
    "f() { local OPTIND={{args.x}}; }; f",
    "i={{args.x}}; OPTIND=$i",
    "for RANDOM in {{args.x}}; do :; done",
    # Builtins that take no variable take none through another variable either.
    'i={{args.x}}; compgen -W "$i"',
    'i={{args.x}}; compgen -C "$i" x',
    'i={{args.x}}; history -s "$i"; fc -s',
    'i={{args.x}}; set -- "$i"; echo "$(( $1 ))"',
    'i={{args.x}}; hash -p /bin/true "$i"',
    'i={{args.x}}; shopt -s "$i"',
]


@pytest.mark.parametrize("template", EVALUATED)
async def test_a_value_the_script_evaluates_must_be_an_integer(tmp_path, template):
    mark = tmp_path / "ran"
    for value in (f"a[$(touch {mark})]", f"$(touch {mark})", "x"):
        stdout, refused = await run_script("bash", template, {"x": value})
        assert stdout is None and "must be an integer" in refused.message, (template, value)
    assert not mark.exists()
    stdout, outcome = await run_script("bash", template, {"x": "1"})
    assert stdout is not None, outcome


# -- random values --------------------------------------------------------------------------

FRAGMENTS = [
    *("'", '"', "\\", "`", "$(", ")", "${", "}", "$((", "))", "[", "]", "a[", "$'", "\n"),
    *(";", "|", "&", "#", "*", "?", "~", "-", "--", "=", " ", "\t", "EOF", "$IFS", "é"),
    "touch mark",
    "$OPSJOBS_V1",
]
values = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
)
PROPERTY_SHAPES = [
    ("printf %s {{args.x}}", lambda x: x),
    ('printf %s "a{{args.x}}b"', lambda x: f"a{x}b"),
    ('X={{args.x}}; printf %s "$X"', lambda x: x),
    ('printf %s "$(printf %s "{{args.x}}")"', lambda x: x.rstrip("\n")),
]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shape=st.sampled_from(PROPERTY_SHAPES), x=values)
def test_random_values_arrive_byte_exact_and_run_nothing(tmp_path, shape, x):
    from opsjobs.domain.templates import render_script

    template, expected = shape
    try:
        text, env = render_script(template, Values("1", args={"x": x}))
    except BadRequest:
        assert x.startswith("-")
        return
    for path in SHELLS.values():
        done = subprocess.run(
            [path, "-c", text],
            cwd=tmp_path,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        )
        assert done.returncode == 0 and done.stderr == b"", (path, text, x, done.stderr)
        assert done.stdout.decode() == expected(x), (path, text, x)
        assert list(tmp_path.iterdir()) == [], (path, text, x)


# Pieces of shell syntax joined at random (often invalid: a shell still runs what comes
# before a syntax error). Whatever a script is, a value either is refused or runs nothing.
SYNTAX = [
    *("echo ", "printf %s ", "{{args.x}}", "{{args.x}}", "'", '"', "$(", ")", "`", "${", "}"),
    *("#", "\n", ";", " ", "case a in a) ", ";; esac", "<<EOF\n", "\nEOF\n", "\\", "$", "(("),
    *("))", "a", "=", "|", "&&", "(", "$'", "cat ", "[[ ", " ]]", "let ", "declare -i ", "i="),
    *("${arr[i]}", "$((i))", "[ ", " -gt 1 ]", "arr[", "]=1", "eval ", "X=", '"$X"', "for "),
    *(" in ", "; do ", "; done", "unset ", "read ", "printf -v ", "-", "<<<"),
]


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.sampled_from(SYNTAX), min_size=1, max_size=14))
def test_in_any_script_a_value_is_refused_or_runs_nothing(tmp_path, parts):
    from opsjobs.domain.templates import render_script

    template = "arr=(1 2)\n" + "".join(parts) + " {{args.x}}"
    mark = tmp_path / "ran"
    for value in (
        f"a[$(touch {mark})]",
        f"$(touch {mark})",
        f"\ntouch {mark}",
        f"';touch {mark};'",
    ):
        try:
            text, env = render_script(template, Values("1", args={"x": value}))
        except BadRequest:
            continue
        for path in SHELLS.values():
            try:
                subprocess.run(
                    [path, "-c", text],
                    cwd=tmp_path,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                    timeout=5,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                )
            except subprocess.TimeoutExpired:
                continue
            assert not mark.exists(), (path, template, value)


# -- through the API ------------------------------------------------------------------------


async def _host(api):
    admin = await api.admin()
    created = await api.client.post(
        "/node/api/objects",
        json={"name": "web-1", "properties": [{"name": "ip", "value": "10.0.0.11"}]},
        headers=admin,
    )
    return admin, created.json()["id"]


def _script(text: str, **parameters) -> dict:
    return {
        "name": "S",
        "type": 2,
        "parameters": {"type": "scriptText", "text": text, **parameters},
    }


async def _job_count(api) -> int:
    async with api.store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(jobs))).scalar_one()


@pytest.mark.parametrize("template", ["[[ {{args.x}} -gt 5 ]]", "echo \"${N:-'{{args.x}}'}\""])
async def test_every_way_of_saving_an_operation_refuses_an_unsafe_spot(api, backend, template):
    admin, host = await _host(api)
    base = "/node/api"

    def refused(response, where: str) -> None:
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert message.startswith(where) and "{{args.x}} cannot stand" in message, message

    post = api.client.post
    refused(
        await post(f"{base}/objects/{host}/operations", json=_script(template), headers=admin),
        "parameters.text: ",
    )
    refused(
        await post(
            f"{base}/classes", json={"name": "C", "operations": [_script(template)]}, headers=admin
        ),
        "operations.0.parameters.text: ",
    )
    refused(
        await post(
            f"{base}/objects", json={"name": "o", "operations": [_script(template)]}, headers=admin
        ),
        "operations.0.parameters.text: ",
    )
    refused(
        await post(f"{base}/scripts", json={"name": "s", "text": template}, headers=admin), "text: "
    )
    good = await post(f"{base}/objects/{host}/operations", json=_script("echo ok"), headers=admin)
    operation = good.json()["id"]
    refused(
        await api.client.patch(
            f"{base}/objects/{host}/operations/{operation}",
            json={"parameters": {"text": template}},
            headers=admin,
        ),
        "parameters.text: ",
    )
    stored = (
        await post(f"{base}/scripts", json={"name": "s", "text": "echo ok"}, headers=admin)
    ).json()
    refused(
        await api.client.patch(
            f"{base}/scripts/{stored['id']}", json={"text": template}, headers=admin
        ),
        "text: ",
    )


async def test_a_stored_script_changed_behind_the_api_is_refused_when_run(api, backend):
    admin, host = await _host(api)
    stored = (
        await api.client.post(
            "/node/api/scripts", json={"name": "s", "text": "echo {{args.x}}"}, headers=admin
        )
    ).json()
    operation = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={
            "name": "R",
            "type": 2,
            "parameters": {"type": "scriptReference", "ref": stored["id"]},
        },
        headers=admin,
    )
    assert operation.status_code == 200, operation.text
    async with api.store.write() as conn:  # as a database written by an older version
        await conn.execute(
            update(scripts).where(scripts.c.id == stored["id"]).values(text="let v={{args.x}}")
        )
    response = await api.client.post(
        f"/node/api/objects/{host}/operations/{operation.json()['id']}/execute",
        json={"x": "1"},
        headers=admin,
    )
    assert response.status_code == 400 and "{{args.x}} cannot stand" in response.json()["message"]
    assert await _job_count(api) == 0


async def test_a_stored_script_must_name_only_declared_arguments(api, backend):
    admin, host = await _host(api)
    stored = (
        await api.client.post(
            "/node/api/scripts", json={"name": "s", "text": "echo {{args.y}}"}, headers=admin
        )
    ).json()
    response = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={
            "name": "R",
            "type": 2,
            "parameters": {"type": "scriptReference", "ref": stored["id"], "arguments": {"x": {}}},
        },
        headers=admin,
    )
    assert response.status_code == 400
    assert response.json()["message"].endswith(
        "{{args.y}} names an argument the operation does not declare"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"host": "web 1"}, "args.host: does not match the pattern the operation declares"),
        ({"host": "$(touch p)"}, "args.host: does not match the pattern the operation declares"),
        ({}, "args.host: required"),
        ({"host": "a", "count": "a[$(touch p)]"}, "args.count: must be an integer"),
        ({"host": "a", "other": "1"}, "args.other: not an argument of this operation"),
        ({"host": "a", "mode": "hard"}, "args.mode: not one of the operation's choices"),
    ],
)
async def test_arguments_are_checked_against_their_declarations_before_a_job(
    api, backend, args, message
):
    admin, host = await _host(api)
    executor = await api.user("op", permissions=["execute-operations"], include=[host])
    arguments = {
        "host": {"pattern": "[a-z0-9-]+", "required": True},
        "count": {"type": "integer", "default": 1},
        "mode": {"choices": ["soft", "quick"], "default": "soft"},
    }
    created = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json=_script("echo {{args.host}} {{args.count}} {{args.mode}}", arguments=arguments),
        headers=admin,
    )
    assert created.status_code == 200, created.text
    url = f"/node/api/objects/{host}/operations/{created.json()['id']}/execute"
    response = await api.client.post(url, json=args, headers=executor)
    assert response.status_code == 400, response.text
    assert response.json() == {"code": "BadRequest", "message": message}
    assert await _job_count(api) == 0
    ok = await api.client.post(url, json={"host": "web-1", "count": "3"}, headers=executor)
    assert ok.status_code == 200, ok.text


async def test_an_operation_may_not_use_an_argument_it_does_not_declare(api, backend):
    admin, host = await _host(api)
    response = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json=_script("echo {{args.y}}", arguments={"x": {}}),
        headers=admin,
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "parameters.text: {{args.y}} names an argument the operation does not declare"
    )


async def test_a_value_may_not_become_a_programs_option(api, backend):
    admin, host = await _host(api)

    async def tar(args: list[str], **declared) -> str:
        parameters = {"type": "fileSystem", "path": "/bin/tar", "args": args, **declared}
        created = await api.client.post(
            f"/node/api/objects/{host}/operations",
            json={"name": "tar", "type": 2, "parameters": parameters},
            headers=admin,
        )
        assert created.status_code == 200, created.text
        return f"/node/api/objects/{host}/operations/{created.json()['id']}/execute"

    payload = {"x": "--use-compress-program=touch /tmp/p"}
    alone = await tar(["-cf", "/dev/null", "{{args.x}}"])
    response = await api.client.post(alone, json=payload, headers=admin)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Template variable args.x starts with '-'")
    embedded = await tar(["-cf", "/dev/null", "--exclude={{args.x}}", "."])
    assert (await api.client.post(embedded, json=payload, headers=admin)).status_code == 200
    declared = await tar(["{{args.x}}"], arguments={"x": {"allowLeadingDash": True}})
    assert (await api.client.post(declared, json={"x": "-t"}, headers=admin)).status_code == 200


# fileSystem operations that hand an argument to a program as code: sh -c, python3 -c...
CODE_ARGV = [
    ("/bin/sh", ["-c", "echo {{args.x}}"]),
    ("/bin/bash", ["-ec", "{{args.x}}"]),
    ("/bin/sh", ["-x", "-c", "--", "{{args.x}}"]),
    ("/usr/bin/env", ["-i", "A=1", "dash", "-c", "echo {{args.x}}"]),
    ("/usr/bin/python3", ["-c", "print('{{args.x}}')"]),
    ("/usr/bin/python3", ["-cprint('{{args.x}}')"]),
    ("/usr/bin/perl", ["-e", "1", "-e", "print '{{args.x}}'"]),
    ("/bin/busybox", ["sh", "-c", "{{args.x}}"]),
]


@pytest.mark.parametrize(("path", "args"), CODE_ARGV)
async def test_a_value_is_not_code_of_a_file_system_program(api, backend, tmp_path, path, args):
    admin, host = await _host(api)
    parameters = {"type": "fileSystem", "path": path, "args": args}
    created = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={"name": "fs", "type": 2, "parameters": parameters},
        headers=admin,
    )
    assert created.status_code == 400, created.text
    assert "cannot stand in the code" in created.json()["message"]
    # Nor by changing a harmless operation into one, nor through a class.
    harmless = {"type": "fileSystem", "path": path, "args": ["-c", "echo hi"]}
    made = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={"name": "fs", "type": 2, "parameters": harmless},
        headers=admin,
    )
    assert made.status_code == 200, made.text
    changed = await api.client.patch(
        f"/node/api/objects/{host}/operations/{made.json()['id']}",
        json={"parameters": parameters},
        headers=admin,
    )
    assert changed.status_code == 400, changed.text
    assert await _job_count(api) == 0


@pytest.mark.parametrize(("path", "args"), CODE_ARGV)
def test_a_value_saved_as_code_of_a_program_is_refused_when_run(tmp_path, path, args):
    mark = tmp_path / "ran"
    document = {"name": "fs", "type": 2, "parameters": {"type": "fileSystem", "path": path}}
    document["parameters"]["args"] = args  # as an older version may have stored it
    with pytest.raises(BadRequest, match="cannot stand in the code"):
        render_spec(document, Values("1", args={"x": f"';touch {mark};'"}), default_timeout=5)


async def test_a_value_after_the_code_of_sh_c_is_data(api, backend, tmp_path):
    admin, host = await _host(api)
    mark = tmp_path / "ran"
    parameters = {"type": "fileSystem", "path": "/bin/sh"}
    parameters["args"] = ["-c", 'printf %s "$1"', "sh", "{{args.x}}"]
    created = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={"name": "fs", "type": 2, "parameters": parameters},
        headers=admin,
    )
    assert created.status_code == 200, created.text
    url = f"/node/api/objects/{host}/operations/{created.json()['id']}/execute"
    value = f"$(touch {mark});touch {mark}"
    job = await api.client.post(url, json={"x": value}, headers=admin)
    assert job.status_code == 200, job.text
    done = await wait_status(api.store, job.json(), timeout=60)
    assert done["execution"]["status"] == "succeeded", done
    assert done["description"]["stdout"] == value
    assert not mark.exists()


async def test_a_value_in_a_topic_is_one_level(api, backend):
    admin, host = await _host(api)
    created = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json={
            "name": "m",
            "type": 1,
            "parameters": {"topic": "adv/{{args.dev}}/cmd", "message": "go"},
        },
        headers=admin,
    )
    url = f"/node/api/objects/{host}/operations/{created.json()['id']}/execute"
    for dev in ("a/b", "+", "#", "a/+/#", "\x01", "\ufffe"):
        response = await api.client.post(url, json={"dev": dev}, headers=admin)
        assert response.status_code == 400, dev
        assert "args.dev" in response.json()["message"]
    assert await _job_count(api) == 0
    assert (await api.client.post(url, json={"dev": "a b"}, headers=admin)).status_code == 200


async def test_a_hostile_property_runs_nothing_in_a_real_job(api, backend, tmp_path):
    """A user with only modify-objects sets a property; an executor runs the operation; the
    embedded runner runs the job with bash: the value arrives whole and runs nothing."""
    admin, host = await _host(api)
    mark = tmp_path / "ran"
    hostile = f"$(touch {mark})`touch {mark}`a[$(touch {mark})]'\";touch {mark}"
    editor = await api.user("ed", permissions=["modify-objects"], include=[host])
    changed = await api.client.patch(
        f"/node/api/objects/{host}",
        json={"properties": [{"name": "ip", "value": hostile}]},
        headers=editor,
    )
    assert changed.status_code == 200, changed.text
    text = '#!/bin/bash\nprintf "%s|" {{properties.ip}} "{{properties.ip}}"\nprintf %s "$OPSJOBS_ARG_n"'
    created = await api.client.post(
        f"/node/api/objects/{host}/operations",
        json=_script(text, arguments={"n": {"type": "integer", "default": 7}}),
        headers=admin,
    )
    assert created.status_code == 200, created.text
    response = await api.client.post(
        f"/node/api/objects/{host}/operations/{created.json()['id']}/execute", headers=admin
    )
    assert response.status_code == 200, response.text
    job = await wait_status(api.store, response.json(), timeout=60)
    assert job["execution"]["status"] == "succeeded", job
    assert job["description"]["stdout"] == f"{hostile}|{hostile}|7"
    assert not mark.exists()
