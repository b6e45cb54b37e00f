"""What a revision file declares about itself, each with a reason, in one documented form:

    # mks-db: irreversible: <reason>      the downgrade cannot restore the schema on purpose
    # mks-db: data-loss: <reason>         the upgrade drops or deletes data on purpose
    # mks-db: allow <rule>: <reason>      a lint rule acknowledged for this revision only

They are comments, so they can be read without importing the file (pre-commit, ``heads``).
A declaration without a reason is reported by the check it would silence.
"""

from __future__ import annotations

import re
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

    def allowed_rules(self) -> dict[str, Declaration]:
        return {item.rule: item for item in self.items if item.kind == "allow" and item.rule}


def parse(text: str) -> Declarations:
    """Every ``# mks-db:`` declaration in ``text``; the reason is "" when none was given."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
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
