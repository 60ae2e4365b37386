"""The fenced blocks of README.md and docs/*.md, each claimed by an HTML comment on the line
before its fence, invisible where the page is rendered:

    <!-- example: NAME -->            a test runs it, and names it: example(doc, name)
    <!-- not an example: REASON -->   a diagram, a layout, a header value shown for reading

tests/test_doc_examples.py fails on a block with no claim, on an example no test names, and
on a name no block has; so a new example cannot land without a test that runs it."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLAIM = re.compile(r"<!-- (example|not an example): (.+?) -->")
FENCE = re.compile(r"^```(\S*)")


@dataclass(frozen=True)
class Block:
    doc: str  # relative to the repository, "README.md" or "docs/api.md"
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    claim: str | None  # "example", "not an example", or None when unclaimed
    name: str  # the example's name, or the reason it is none

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def documents() -> list[str]:
    return ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def blocks(doc: str) -> list[Block]:
    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        claim = CLAIM.fullmatch(lines[index - 1].strip()) if index else None
        found.append(
            Block(
                doc=doc,
                line=index + 1,
                language=opening.group(1),
                text="\n".join(lines[index + 1 : end]) + "\n",
                claim=claim.group(1) if claim else None,
                name=claim.group(2) if claim else "",
            )
        )
        index = end + 1
    return found


def example(doc: str, name: str) -> str:
    """The text of the block of ``doc`` claimed as example ``name``, as a reader copies it."""
    [block] = [b for b in blocks(doc) if b.claim == "example" and b.name == name] or [None]
    assert block is not None, f"{doc} has no example named {name!r}"
    return block.text


def assert_same_shape(shown, served, where: str = "") -> None:
    """A document a page shows against one the server answered: the same keys at every level
    and values of the same JSON type; the values themselves are the reader's (IDs, times)."""
    if isinstance(shown, dict):
        assert isinstance(served, dict), (where, served)
        assert set(shown) == set(served), (where, sorted(set(shown) ^ set(served)))
        for key in shown:
            assert_same_shape(shown[key], served[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(served, list), (where, served)
        for one, other in zip(shown, served, strict=False):
            assert_same_shape(one, other, f"{where}[]")
    else:
        kinds = (type(None), bool, int | float, str)
        assert next(k for k in kinds if isinstance(shown, k)) is next(
            k for k in kinds if isinstance(served, k)
        ), (where, shown, served)


def shell(script: str, cwd, env: dict[str, str], timeout: float = 120):
    """A documented script run by bash as a reader's shell runs it (stopping at the first
    failing line); fails the test with what it printed when a line fails."""
    ran = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)  # fmt: skip
    assert ran.returncode == 0, f"{script}\n{ran.stdout}\n{ran.stderr}"
    return ran
