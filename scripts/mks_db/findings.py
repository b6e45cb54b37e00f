"""Findings (and the steps a walk ran): what every check yields, and the registry of checks,
the one place their names are defined.

A check never prints: it returns findings, and a format of ``mks_db.report`` shows them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The registry of checks: each name, and the evidence it judges (``mks_db.engine.evidence``:
# a kind's ``KIND``). The check itself is ``mks_db.checks.<name>`` (``-`` as ``_``), with
# ``judge(project, evidence) -> list[Finding]``; ``mks_db.checks.judge`` runs every check of a
# kind. The order is the report's: the checks of one kind report in this order.
CHECKS = {
    "heads": "graph",
    "upgrade": "walk",
    "downgrade": "walk",
    "roundtrip": "walk",
    "data-loss": "walk",
    "drift": "head",
    "sql-parse": "sql",
    "sql-style": "sql",
    "safety": "sql",
    "locks": "locks",
    "immutability": "graph",
    "compat": "base-release",
}
ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One thing a check found. ``path``/``line`` point at the revision file when known."""

    check: str
    severity: str
    revision: str | None
    message: str
    path: str | None = None
    line: int | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"unknown check {self.check!r}")
        if self.severity not in (ERROR, WARNING):
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_dict(self) -> dict:
        return asdict(self)


def at_most(lines: list[str], limit: int) -> list[str]:
    """``lines`` cut to ``limit``, with a last line saying how many more there were: how every
    message that lists things (schema differences, a tool's error output) stays readable."""
    if len(lines) <= limit:
        return list(lines)
    return [*lines[:limit], f"... and {len(lines) - limit} more"]


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (every run of whitespace one space), cut to ``limit`` characters
    with ``...`` after: how a message quotes a statement."""
    shown = " ".join(text.split())
    return shown[:limit] + ("..." if len(shown) > limit else "")


@dataclass(frozen=True)
class ReportedStep:
    """One migration step the command ran, as the report lists it: ``action`` is upgrade,
    downgrade or re-upgrade."""

    revision: str
    action: str
    seconds: float
    ok: bool = True
