"""What a revision file declares about itself, each with a reason, in one documented form:

    # mks-db: irreversible: <reason>      the downgrade cannot restore the schema on purpose
    # mks-db: data-loss: <reason>         the upgrade drops or deletes data on purpose
    # mks-db: allow <rule>: <reason>      a lint rule acknowledged for this revision only

They are comments, so they can be read without importing the file (pre-commit, ``heads``).
A declaration without a reason is reported by the check it would silence.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

_PATTERN = re.compile(
    r"^\s*#\s*mks-db:\s*(?P<kind>irreversible|data-loss|allow\s+(?P<rule>[\w.-]+))"
    r"\s*(?::\s*(?P<reason>.*?))?\s*$"
)


@dataclass(frozen=True)
class Declaration:
    kind: str  # "irreversible", "data-loss" or "allow"
    reason: str
    line: int
    rule: str | None = None


@dataclass(frozen=True)
class Declarations:
    items: tuple[Declaration, ...] = field(default_factory=tuple)

    def get(self, kind: str, rule: str | None = None) -> Declaration | None:
        for item in self.items:
            if item.kind == kind and (rule is None or item.rule == rule):
                return item
        return None

    def accepted(self, kind: str) -> Declaration | None:
        """The declaration of ``kind`` if it gives a reason (one without a reason counts for nothing)."""
        item = self.get(kind)
        return item if item and item.reason else None

    def hint(self, kind: str) -> str:
        """A note for a finding when ``kind`` was declared without a reason, else ""."""
        item = self.get(kind)
        if item and not item.reason:
            return (
                f" (the '# mks-db: {kind}' declaration on line {item.line} is ignored: "
                f"write the reason after a colon, '# mks-db: {kind}: <reason>')"
            )
        return ""

    def allowed_rules(self) -> dict[str, Declaration]:
        return {item.rule: item for item in self.items if item.kind == "allow" and item.rule}


def _comments(text: str) -> list[tuple[int, str]]:
    """(line, comment) for every real comment: text inside strings and docstrings is not one."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):  # unfinished file: fall back to plain lines
        return list(enumerate(text.splitlines(), start=1))
    return [(tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.COMMENT]


def parse(text: str) -> Declarations:
    """Every ``# mks-db:`` declaration in ``text``; the reason is "" when none was given."""
    found = []
    for number, line in _comments(text):
        match = _PATTERN.match(line)
        if not match:
            continue
        kind = "allow" if match["rule"] else match["kind"]
        found.append(Declaration(kind, (match["reason"] or "").strip(), number, match["rule"]))
    return Declarations(tuple(found))


@lru_cache(maxsize=4096)
def _read(path: str, mtime_ns: int) -> Declarations:
    return parse(Path(path).read_text(encoding="utf-8"))


def of_file(path: str | Path) -> Declarations:
    """The declarations of the revision file at ``path`` (cached until the file changes)."""
    resolved = Path(path)
    return _read(str(resolved), resolved.stat().st_mtime_ns)
