"""The human format, plain text: the locks measured, failed steps (every step with ``-v``), one
line per finding, how many revisions passed, the verdict last."""

from __future__ import annotations

from mks_db.findings import ERROR
from mks_db.report.model import Report, summary_line


def text(report: Report, colour: bool = False) -> str:
    """The report as lines for a terminal; ``colour`` marks verdicts and severities in ANSI colour."""

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    lines = []
    if report.extra_text:
        lines.append(report.extra_text.rstrip())
    failed = {step.revision for step in report.steps if not step.ok}
    for step in report.steps:  # every step with --verbose, else those of the revisions that failed one
        if report.verbose or step.revision in failed:
            mark = paint("ok", "32") if step.ok else paint("FAILED", "31")
            lines.append(f"  {step.action:<10} {step.revision:<14} {step.seconds * 1000:7.0f} ms  {mark}")
    for finding in report.findings:
        label = paint(finding.severity, "31" if finding.severity == ERROR else "33")
        where = f"{finding.path}:{finding.line or 1}: " if finding.path else ""
        rule = f" [{finding.rule}]" if finding.rule else ""
        revision = f" {finding.revision}" if finding.revision else ""
        lines.append(f"{where}{label} {finding.check}{revision}{rule}: {finding.message}")
    passed = len({step.revision for step in report.steps} - failed)
    if passed and not report.verbose:  # just above the verdict, never above an error
        lines.append(f"  {passed} revisions passed every step (-v lists the steps)")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
