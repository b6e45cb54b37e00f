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


def line_naming(path: str | Path, names: list[str]) -> int | None:
    """The line of the first call in ``path`` whose string arguments name one of ``names``
    (tried in order: an argument equal to the name, then SQL text containing it as a word);
    None when none does or the file does not parse."""
    calls = _calls(str(path))
    for name in names:
        word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")
        for exact in (True, False):
            for line, strings in calls:
                if any(s == name if exact else word.search(s) for s in strings):
                    return line
    return None


@functools.lru_cache(maxsize=256)
def _calls(path: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Each method call of the file (``op.x(...)``, ``batch_op.x(...)``) with the string
    constants among its arguments, in the order of the source."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            strings = tuple(
                n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            )
            if strings:
                found.append((node.lineno, strings))
    return tuple(sorted(found))
