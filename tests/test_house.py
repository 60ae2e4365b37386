"""Rules of the house that hold for every module of src/opsjobs: no function longer than
MAX_LINES lines (the Alembic migrations, a schema written out once, excepted), and ruff's
complexity rule (C901, ``max-complexity`` in pyproject.toml) passes on all of src/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "opsjobs"
MAX_LINES = 60
# A migration is a schema written out once, and never changed after it is released.
EXEMPT = SRC / "store" / "migrations" / "versions"


def long_functions(root: Path) -> list[str]:
    """``path:line name (n lines)``, the path under ``root``, for each function of more
    than MAX_LINES lines, counted from its ``def`` to its last line."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if EXEMPT in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    where = path.relative_to(root)
                    found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_the_length_is_counted_from_def_to_the_last_line(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path) == [f"m.py:5 long ({MAX_LINES + 1} lines)"]


def test_no_function_in_src_is_longer_than_the_limit():
    assert long_functions(SRC) == []


def test_ruff_complexity_passes_on_src():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--select", "C901", "--output-format", "concise", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
