"""Every fenced block of README.md and docs/*.md is either an example a test runs or says why it
is none (tests/helpers/doc_examples.py): a block nobody claimed, an example no test names and
a test naming an example no page has all fail here, so none can be forgotten."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from helpers.doc_examples import ROOT, blocks, documents

# How tests name the examples they run: example("README.md", "name"), literally, so that this
# file can find them without running them.
NAMED = re.compile(r"\bexample\(\s*\"([^\"]+)\",\s*\"([^\"]+)\"\s*\)")


def _every_block():
    return [block for doc in documents() for block in blocks(doc)]


def _named_by_tests() -> set[tuple[str, str]]:
    named = set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path != Path(__file__):
            named |= set(NAMED.findall(path.read_text(encoding="utf-8")))
    return named


def test_the_pages_have_blocks_and_the_walk_finds_them() -> None:
    found = Counter(block.doc for block in _every_block())
    assert found["README.md"] >= 10 and found["docs/api.md"] >= 8, found


def test_every_block_is_claimed() -> None:
    unclaimed = [block.where for block in _every_block() if block.claim is None]
    assert not unclaimed, (
        "blocks with neither <!-- example: NAME --> nor <!-- not an example: REASON --> "
        f"on the line before the fence: {unclaimed}"
    )


def test_a_block_that_is_no_example_says_why() -> None:
    terse = [b.where for b in _every_block() if b.claim == "not an example" and len(b.name) < 12]
    assert not terse, f"give a reason a reader would accept: {terse}"


def test_example_names_are_unique_in_their_page() -> None:
    names = Counter((b.doc, b.name) for b in _every_block() if b.claim == "example")
    doubled = [name for name, count in names.items() if count > 1]
    assert not doubled, doubled


def test_every_example_is_run_by_a_test() -> None:
    examples = {(b.doc, b.name) for b in _every_block() if b.claim == "example"}
    named = _named_by_tests()
    assert named, "the pattern finds the tests' calls"
    not_run = sorted(examples - named)
    assert not not_run, f"examples no test runs (call example(doc, name) in one): {not_run}"
    phantom = sorted(named - examples)
    assert not phantom, f"tests name examples the pages do not have: {phantom}"


# A command named in running text, `opsjobs remote jobs list --object ID`: a reference rather
# than an example (its placeholders are for the reader), but its commands and options exist.
INLINE_COMMAND = re.compile(r"`(?:\.venv/bin/)?opsjobs ([a-z][^`]*)`", re.S)


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for doc in documents():
        text = (ROOT / doc).read_text(encoding="utf-8")
        found += [(doc, " ".join(span.split())) for span in INLINE_COMMAND.findall(text)]
    return found


def test_commands_named_in_running_text_exist_with_their_options() -> None:
    import typer.main

    from opsjobs.cli.commands import app

    root = typer.main.get_command(app)
    wrong = []
    for doc, span in _inline_commands():
        command, words = root, span.split()
        while words and hasattr(command, "commands") and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        if hasattr(command, "commands") and words and re.fullmatch(r"[a-z]+", words[0]):
            wrong.append((doc, span, f"no command {words[0]!r}"))
            continue
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        unknown = [o for o in re.findall(r"--[a-z][a-z-]*", span) if o not in options]
        wrong += [(doc, span, f"no option {o}") for o in unknown]
    assert len(_inline_commands()) > 40  # the pattern finds them
    assert not wrong, wrong
