"""The layout of tests/ (docs/architecture.md, "Tests"): its directories mirror the packages
of src/opsjobs, plus the whole-system ones; each is a package, so that two layers may hold
test files of the same name; and no test imports another test file."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src" / "opsjobs"
# Directories that mirror no package: the whole system, the fault drills, shared helpers.
BESIDE_THE_PACKAGE = {"e2e", "faults", "helpers"}


def _directories() -> list[Path]:
    return sorted(p for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def test_every_directory_names_a_package_of_the_source_or_the_whole_system():
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    strays = [d.name for d in _directories() if d.name not in packages | BESIDE_THE_PACKAGE]
    assert not strays, f"tests/ directories that mirror no package of src/opsjobs: {strays}"
    assert {"domain", "store", "api", "execution", "cli"} <= {d.name for d in _directories()}


def test_every_directory_of_tests_is_a_package():
    for directory in _directories():
        for sub in [directory, *(p for p in directory.rglob("*") if p.is_dir())]:
            if sub.name != "__pycache__" and any(sub.glob("*.py")):
                assert (sub / "__init__.py").is_file(), f"{sub} needs an __init__.py"
    assert not (TESTS / "__init__.py").exists(), "tests/ itself is not a package"


def _imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_test_imports_another_test_file():
    offenders = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imported(ast.parse(path.read_text(encoding="utf-8")))
        if any(part.startswith("test_") for part in name.split("."))
    ]
    assert not offenders, f"what tests share belongs in tests/helpers/: {offenders}"
