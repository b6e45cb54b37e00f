"""The report of one command: what it found and did, before any format renders it.

A command fills a ``Report``; ``mks_db.report.render`` writes it in the format asked. Checks
add findings and steps, ``plan`` a plan, ``deploy``, ``backup`` and ``restore`` lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mks_db.database.urls import mask_text
from mks_db.errors import MksDbError
from mks_db.findings import Finding, ReportedStep


@dataclass
class Report:
    command: str
    findings: list[Finding] = field(default_factory=list)
    steps: list[ReportedStep] = field(default_factory=list)
    revisions: int = 0
    seconds: float = 0.0
    plan: Any = None  # mks_db.production.plan.Plan, for `mks-db plan`
    lines: list[str] = field(default_factory=list)  # what backup/restore did
    failed: bool = False  # set by commands whose verdict is not a finding
    extra_markdown: str = ""  # more for the step summary (the locks table)
    extra_text: str = ""  # the same for the human format, as plain text
    error: MksDbError | None = None  # what stopped the command before its verdict
    verbose: bool = False  # the human format lists every step, not only failed revisions' steps

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None and not any(f.is_error for f in self.findings)

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return 0 if self.ok else 1


def error_line(error: MksDbError) -> str:
    """What stopped the command, never with a password: one line, or one per bad setting."""
    return mask_text(str(error))


def summary_line(report: Report) -> str:
    """``mks-db CMD: ok: N revisions, E errors, W warnings in S s``: the last line of every format."""
    errors = sum(f.is_error for f in report.findings)
    warnings = len(report.findings) - errors
    verdict = "ok" if report.ok else "FAILED"
    return (
        f"mks-db {report.command}: {verdict}: {report.revisions} revisions, "
        f"{errors} errors, {warnings} warnings in {report.seconds:.1f}s"
    )
