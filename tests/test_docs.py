"""docs/api.md keeps up with the server: every route of the served OpenAPI document is named
there (method and path, as the document spells it), it names no route the app does not
serve, and every ``docs/api.md §N`` cited in the code is a section that exists."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from conftest import settings_for_test
from helpers import documented_operations, route_table
from opsjobs.api.app import create_app

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
# A route as the page writes it: a method, then a path under /node/api.
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/node/api[\w/{}.-]*[\w}])")
SECTION = re.compile(r"^## (\d+)\. ", re.M)
CITATION = re.compile(r"docs/api\.md §(\d+)((?:[,–-] ?§?\d+)*)")


def _page() -> str:
    return API_DOC.read_text(encoding="utf-8")


def _named_routes() -> set[tuple[str, str]]:
    return set(ROUTE.findall(_page()))


@pytest.mark.parametrize(("method", "path"), documented_operations())
def test_every_documented_route_is_in_the_contract(method: str, path: str) -> None:
    assert (method, path) in _named_routes(), f"docs/api.md does not describe {method} {path}"


def test_the_contract_names_only_served_routes() -> None:
    never_opened = Path(tempfile.gettempdir()) / "opsjobs-docs-listing.db"
    served = route_table(create_app(settings_for_test(f"sqlite:///{never_opened}")))
    phantom = sorted(_named_routes() - served)
    assert not phantom, f"docs/api.md names routes the server does not serve: {phantom}"


def test_the_route_pattern_sees_what_the_page_writes() -> None:
    # The check above is only as good as the pattern: it must find the hot path, a route
    # with two parameters, and nothing that is not a route.
    named = _named_routes()
    assert ("GET", "/node/api/jobs/{job_id}") in named
    assert ("POST", "/node/api/links/{link_id}/operations/{operation_id}/execute") in named
    assert all(path.startswith("/node/api") and "`" not in path for _, path in named)


def test_sections_are_numbered_in_order() -> None:
    numbers = [int(n) for n in SECTION.findall(_page())]
    assert numbers == list(range(1, len(numbers) + 1))


def _cited_sections() -> list[tuple[str, int]]:
    cited = []
    for folder in ("src", "tests", "docs", "bench"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".md") or not path.is_file():
                continue
            for first, more in CITATION.findall(path.read_text(encoding="utf-8")):
                numbers = [first, *re.findall(r"\d+", more)]
                cited += [(str(path.relative_to(ROOT)), int(n)) for n in numbers]
    return cited


def test_every_citation_names_a_section() -> None:
    sections = {int(n) for n in SECTION.findall(_page())}
    cited = _cited_sections()
    assert cited, "the code cites docs/api.md somewhere"
    dangling = [(where, n) for where, n in cited if n not in sections]
    assert not dangling, f"citations of sections docs/api.md does not have: {dangling}"


def test_nothing_cites_the_old_contract_any_more() -> None:
    # The contract lives in the repository now; the bare name meant a file outside it.
    stale = [
        str(path.relative_to(ROOT))
        for folder in ("src", "tests", "docs", "bench")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".md")
        and path.is_file()
        and re.search(r"(?<![/\w])API\.md", path.read_text(encoding="utf-8"))
    ]
    assert not stale, f"still citing the old contract instead of docs/api.md: {stale}"


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _modules() -> list[Path]:
    package = ROOT / "src" / "opsjobs"
    return [
        path.relative_to(package)
        for path in sorted(package.rglob("*.py"))
        if path.name != "__init__.py" and "migrations" not in path.parts
    ]


def test_architecture_names_every_modules_room() -> None:
    # Each module is named as `name.py` or `dir/name.py` where its room is described, so a
    # newcomer finds what every file is for; a new module cannot land undescribed.
    page = ARCHITECTURE.read_text(encoding="utf-8")
    unnamed = [
        str(module)
        for module in _modules()
        if not re.search(r"[`/]" + re.escape(module.name) + r"[`:]", page)
    ]
    assert len(_modules()) > 50  # the walk found the package
    assert not unnamed, f"modules docs/architecture.md does not describe: {unnamed}"


def test_the_layer_diagram_names_each_layer_once() -> None:
    """The diagram at the top of docs/architecture.md: one paragraph per layer, none twice
    (a merge once left two layers' lines doubled)."""
    diagram = ARCHITECTURE.read_text(encoding="utf-8").split("```\n", 2)[1]
    layers = re.findall(r"^(\w+) ", diagram, flags=re.M)
    assert layers == ["cli", "compose", "api", "execution", "service", "store", "domain",
                      "config", "client"]  # fmt: skip
    lines = [line.strip() for line in diagram.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), [line for line in lines if lines.count(line) > 1]
