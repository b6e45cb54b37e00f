"""The human format, plain text: the locks measured, failed steps (every step with ``-v``), one
line per finding, how many revisions passed, the verdict last."""

from __future__ import annotations

from mks_db.findings import ERROR, Finding
from mks_db.report.model import Report, summary_line


def text(report: Report, colour: bool = False) -> str:
    """The report as lines for a terminal; ``colour`` marks verdicts and severities in ANSI colour."""
    lines = []
    if report.extra_text:
        lines.append(report.extra_text.rstrip())
    failed = {step.revision for step in report.steps if not step.ok}
    lines += _step_lines(report, failed, colour)
    lines += [_finding_line(finding, colour) for finding in report.findings]
    passed = len({step.revision for step in report.steps} - failed)
    if passed and not report.verbose:  # just above the verdict, never above an error
        lines.append(f"  {passed} revisions passed every step (-v lists the steps)")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _paint(words: str, code: str, colour: bool) -> str:
    """``words`` in the ANSI colour ``code`` when ``colour``, else as they are."""
    return f"\033[{code}m{words}\033[0m" if colour else words


def _step_lines(report: Report, failed: set[str], colour: bool) -> list[str]:
    """One line per step, its time and whether it passed: every step with --verbose, else
    those of the revisions that ``failed`` one."""
    lines = []
    for step in report.steps:
        if report.verbose or step.revision in failed:
            mark = _paint("ok", "32", colour) if step.ok else _paint("FAILED", "31", colour)
            lines.append(f"  {step.action:<10} {step.revision:<14} {step.seconds * 1000:7.0f} ms  {mark}")
    return lines


def _finding_line(finding: Finding, colour: bool) -> str:
    """One line for ``finding``: where (path and line, when it has a path), its severity, the
    check, the revision and the rule when it names them, and its message."""
    label = _paint(finding.severity, "31" if finding.severity == ERROR else "33", colour)
    where = f"{finding.path}:{finding.line or 1}: " if finding.path else ""
    rule = f" [{finding.rule}]" if finding.rule else ""
    revision = f" {finding.revision}" if finding.revision else ""
    return f"{where}{label} {finding.check}{revision}{rule}: {finding.message}"
