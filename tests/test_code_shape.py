"""The code's shape: no function longer than ``MAX_LINES`` lines or of cyclomatic complexity
above ``MAX_COMPLEXITY`` (radon's measure), unless its docstring says why in a line of its own
that starts with ``Kept whole:``. A newcomer reads small functions; the few that stay large
say so where they are read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Class

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "scripts" / "mks_db").rglob("*.py")) + sorted(
    (ROOT / "backend" / "mks").rglob("*.py")
)
MAX_LINES = 60
MAX_COMPLEXITY = 15
REASON = "Kept whole:"


def _functions(path: Path):
    """(name, first line, lines, complexity, docstring) of every function and method."""
    source = path.read_text(encoding="utf-8")
    docstrings = {
        node.lineno: ast.get_docstring(node) or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for block in cc_visit(source):
        for function in block.methods if isinstance(block, Class) else [block]:
            lines = function.endline - function.lineno + 1
            yield (
                function.fullname,
                function.lineno,
                lines,
                function.complexity,
                docstrings.get(function.lineno, ""),
            )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_small_or_say_why_not(path):
    oversized = [
        f"{path.relative_to(ROOT)}:{line} {name}: {lines} lines, complexity {complexity}"
        for name, line, lines, complexity, doc in _functions(path)
        if (lines > MAX_LINES or complexity > MAX_COMPLEXITY)
        and not any(row.strip().startswith(REASON) for row in doc.splitlines())
    ]
    assert not oversized, (
        f"split these, or say why not in a docstring line starting {REASON!r}:\n" + "\n".join(oversized)
    )


def test_the_shape_rule_catches_a_long_function_without_a_reason(tmp_path):
    """The rule itself: a function over the bound is found, and its reason lets it pass."""
    body = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(MAX_COMPLEXITY + 1))
    path = tmp_path / "big.py"
    path.write_text(f"def big(x):\n    '''Many cases.'''\n{body}\n")
    [(_, _, _, complexity, doc)] = list(_functions(path))
    assert complexity > MAX_COMPLEXITY and REASON not in doc
    path.write_text(f"def big(x):\n    '''Many cases.\n\n    {REASON} a table would hide them.'''\n{body}\n")
    [(_, _, _, _, doc)] = list(_functions(path))
    assert any(row.strip().startswith(REASON) for row in doc.splitlines())
