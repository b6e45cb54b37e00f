"""Where in a revision file a finding belongs: the line of the call that names the object it
concerns, so that an annotation lands on ``op.create_index(...)``, not on the docstring.

A finding about objects (a schema difference, a table locked) names them as the catalogue does
(``index public.ix_account_email``, ``column public.account.age``); the revision's source is
searched for the calls (``op.create_index``, ``batch_op.drop_column``, ``op.execute``) whose
string arguments name one of them, the most specific name first (an index before its table),
in the order the file has them.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from mks_db.findings import one_line

# "+ index public.ix_a: ...", "- column public.account.age: ...", "~ table public.account"
_OBJECT = re.compile(r"^\s*[-+~]?\s*(?P<kind>[a-z ]+?) (?P<key>[\w$]+(?:\.[\w$]+)*)(?::|$)", re.MULTILINE)


def names_in(message: str) -> list[str]:
    """The objects a finding's message names, the most specific first: for ``column
    public.account.age``, ``age`` then ``account``; for ``index public.ix_a``, ``ix_a``."""
    specific, tables = [], []
    for match in _OBJECT.finditer(message):
        parts = match["key"].split(".")[1:] or match["key"].split(".")
        specific.append(parts[-1])
        tables += parts[:-1]
    return list(dict.fromkeys(specific + tables))


# The objects a SQL statement names, by what precedes them: the specific kinds first.
_SPECIFIC = r"INDEX(?:\s+CONCURRENTLY)?|CONSTRAINT|COLUMN|TYPE|SEQUENCE|VIEW|TRIGGER|FUNCTION"
_GENERAL = r"TABLE(?:\s+ONLY)?|ON|INTO|FROM|UPDATE|REFERENCES"
_EXISTS = r"(?:\s+IF\s+(?:NOT\s+)?EXISTS)?"


def names_in_sql(sql: str, line: int) -> list[str]:
    """The objects the statement at ``line`` (1-based) of ``sql`` names, the most specific first
    (an index before its table): what ``line_naming`` looks for in the revision."""
    lines = sql.splitlines()
    if not 0 < line <= len(lines):
        return []
    start = line - 1
    while start > 0 and not lines[start - 1].rstrip().endswith(";") and lines[start - 1].strip():
        start -= 1
    statement = "\n".join(lines[start:]).split(";", 1)[0]
    found = []
    for kinds in (_SPECIFIC, _GENERAL):
        for match in re.finditer(rf"\b(?:{kinds}){_EXISTS}\s+(\"?[\w$.\"]+)", statement, re.IGNORECASE):
            name = match[1].replace('"', "").rpartition(".")[2]
            if name.upper() not in _KEYWORDS:
                found.append(name)
    return list(dict.fromkeys(found))


_KEYWORDS = {"ONLY", "TABLE", "SELECT", "NOT", "NULL", "DEFAULT", "CONCURRENTLY", "IF", "EXISTS", "SET"}


def line_naming(path: str | Path, names: list[str]) -> int | None:
    """The line in ``path`` of the first call whose string arguments name one of ``names``, or
    of the name inside a module-level SQL string (tried in order: an argument equal to the name,
    then SQL text containing it as a word); None when none does or the file does not parse."""
    texts = _texts(str(path))
    for name in names:
        word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")
        for line, text, block in texts:  # an argument that is the name itself
            if not block and text == name:
                return line
        for line, text, block in texts:  # SQL text that names it
            found = word.search(text)
            if found:
                return line + (text.count("\n", 0, found.start()) if block else 0)
    return None


@functools.lru_cache(maxsize=256)
def _texts(path: str) -> tuple[tuple[int, str, bool], ...]:
    """The strings of the file that may name an object, in the order of the source: each string
    argument of a method call (``op.x(...)``, ``batch_op.x(...)``), at the call's line, and each
    module-level string constant (SQL kept in a constant, passed to ``op.execute``), a block
    whose lines count from where it starts."""
    tree = _module(path)
    if tree is None:
        return ()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found += [
                (node.lineno, n.value, False)
                for n in ast.walk(node)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            found.append((value.lineno, value.value, True))
    return tuple(sorted(found, key=lambda entry: entry[0]))


@functools.lru_cache(maxsize=256)
def _module(path: str) -> ast.Module | None:
    """The revision file's syntax tree (None when it cannot be read or parsed)."""
    try:
        return ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def rebuilt_in_downgrade(path: str | Path, table: str, column: str) -> tuple[int, str] | None:
    """The line and start of an SQL string in the revision's ``downgrade`` that writes
    ``column`` of ``table`` again (``UPDATE table ... SET column = ...``): the values an upgrade
    dropped, rebuilt from other data (a lookup by label, say); None when it has none."""
    name = r'(?:"?[\w$]+"?\.)?"?' + re.escape(table) + r'"?'
    update = re.compile(
        rf'\bUPDATE\s+(?:ONLY\s+)?{name}\s[^;]*?\bSET\b[^;]*?(?<![\w$."]){re.escape(column)}"?\s*=(?!=)',
        re.IGNORECASE,
    )
    downgrade = _function(path, "downgrade")
    for inner in ast.walk(downgrade) if downgrade else ():
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            found = update.search(inner.value)
            if found:
                line = inner.lineno + inner.value.count("\n", 0, found.start())
                return line, one_line(inner.value[found.start() :], 100)
    return None


def _function(path: str | Path, name: str) -> ast.FunctionDef | None:
    """The revision file's module-level function ``name`` (``upgrade``, ``downgrade``), or None."""
    module = _module(str(path))
    return (
        next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
        if module
        else None
    )


def does_nothing(path: str | Path) -> bool:
    """Whether the revision file's ``upgrade`` does nothing (``pass``, a docstring, ``...``):
    a placeholder revision, such as a chain's base that stands for a schema made elsewhere."""
    upgrade = _function(path, "upgrade")
    return upgrade is not None and all(
        isinstance(statement, ast.Pass)
        or isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        for statement in upgrade.body
    )


@functools.lru_cache(maxsize=256)
def migrates_at_import(path: str) -> bool:
    """Whether the revision file calls ``op`` or its bind at import time (module level, outside
    its functions): Alembic imports revision files inside the migration context, so such code
    (creating an enum type with ``op.get_bind()``, say) runs there."""
    module = _module(str(path))
    if module is None:
        return False
    outside = [node for node in module.body if not isinstance(node, ast.FunctionDef | ast.ClassDef)]
    for node in outside:
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and isinstance(inner.func.value, ast.Name)
                and inner.func.value.id == "op"
            ):
                return True
    return False
