"""The report of one command: its findings and steps, rendered as human text, JSON or GitHub.

JSON contract: ``{"ok", "findings": [{"check", "severity", "revision", "message", "path",
"line", "rule"}], "revisions", "seconds"}``. GitHub: one workflow command per finding
(``::error file=...,line=...::``) and, when ``$GITHUB_STEP_SUMMARY`` is set, a Markdown report
appended to it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from mks_db.database.urls import mask_text
from mks_db.errors import ConfigurationError, MksDbError
from mks_db.findings import ERROR, Finding

FORMATS = ("human", "json", "github", "markdown")


@dataclass(frozen=True)
class Step:
    """One migration step the command ran: ``action`` is upgrade, downgrade or re-upgrade."""

    revision: str
    action: str
    seconds: float
    ok: bool = True


@dataclass
class Report:
    command: str
    findings: list[Finding] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    revisions: int = 0
    seconds: float = 0.0
    plan: Any = None  # mks_db.production.plan.Plan, for `mks-db plan`
    lines: list[str] = field(default_factory=list)  # what backup/restore did
    failed: bool = False  # set by commands whose verdict is not a finding
    extra_markdown: str = ""  # more for the step summary (the locks table)
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

    def as_dict(self) -> dict:
        document = {
            "ok": self.ok,
            "findings": [f.as_dict() for f in self.findings],
            "revisions": self.revisions,
            "seconds": round(self.seconds, 3),
        }
        if self.error is not None:
            document["error"] = error_line(self.error)
        return document


def error_line(error: MksDbError) -> str:
    """The one line that says what stopped the command (never a password)."""
    return mask_text(str(error))


def render(report: Report, fmt: str, out: TextIO | None = None) -> None:
    """Write ``report`` to ``out`` (default: standard output) in ``fmt`` (one of FORMATS)."""
    out = out or sys.stdout
    if report.error is not None and fmt == "human":
        return  # the error line on stderr is the whole report
    if fmt == "json" and report.lines:  # deploy, backup, restore
        document: dict = {"ok": report.ok, "messages": report.lines}
        if report.plan is not None:
            document["plan"] = report.plan.as_dict()
        out.write(json.dumps(document, indent=2) + "\n")
        return
    if report.plan is not None:
        _render_plan(report.plan, fmt, out, verdict=not report.lines)
        if not report.lines:
            return
    if report.lines:
        out.write("\n".join(report.lines) + "\n")
        return
    if fmt == "markdown":
        out.write(markdown(report))
    elif fmt == "json":
        out.write(json.dumps(report.as_dict(), indent=2) + "\n")
    elif fmt == "github":
        for finding in report.findings:
            out.write(github_annotation(finding) + "\n")
        if report.error is not None:
            out.write(error_annotation(report.error) + "\n")
        out.write(summary_line(report) + "\n")
        _append_step_summary(markdown(report))
    else:
        out.write(human(report, colour=out.isatty() and "NO_COLOR" not in os.environ))


def _append_step_summary(text: str) -> None:
    """Add ``text`` to the workflow's step summary, when running in GitHub Actions."""
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            with open(summary_path, "a", encoding="utf-8") as summary:
                summary.write(text)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot append the report to GITHUB_STEP_SUMMARY={summary_path} "
                f"({exc.strerror or exc}); point it at a writable file or unset it"
            ) from None


def summary_line(report: Report) -> str:
    errors = sum(f.is_error for f in report.findings)
    warnings = len(report.findings) - errors
    verdict = "ok" if report.ok else "FAILED"
    return (
        f"mks-db {report.command}: {verdict}: {report.revisions} revisions, "
        f"{errors} errors, {warnings} warnings in {report.seconds:.1f}s"
    )


def human(report: Report, colour: bool = False) -> str:
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    lines = []
    if report.extra_markdown:
        lines.append(report.extra_markdown.rstrip())
    failed = {step.revision for step in report.steps if not step.ok}
    for step in report.steps:  # every step with --verbose, else those of the revisions that failed one
        if report.verbose or step.revision in failed:
            mark = paint("ok", "32") if step.ok else paint("FAILED", "31")
            lines.append(f"  {step.action:<10} {step.revision:<14} {step.seconds * 1000:7.0f} ms  {mark}")
    passed = len({step.revision for step in report.steps} - failed)
    if passed and not report.verbose:
        lines.append(f"  {passed} revisions passed every step (-v lists the steps)")
    for finding in report.findings:
        label = paint(finding.severity, "31" if finding.severity == ERROR else "33")
        where = f"{finding.path}:{finding.line or 1}: " if finding.path else ""
        rule = f" [{finding.rule}]" if finding.rule else ""
        revision = f" {finding.revision}" if finding.revision else ""
        lines.append(f"{where}{label} {finding.check}{revision}{rule}: {finding.message}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(finding: Finding) -> str:
    """A workflow command that annotates the revision file with ``finding``."""
    properties = []
    if finding.path:
        properties.append(f"file={_escape_property(finding.path)}")
        properties.append(f"line={finding.line or 1}")
    title = f"mks-db {finding.check}" + (f" {finding.revision}" if finding.revision else "")
    properties.append(f"title={_escape_property(title)}")
    return f"::{finding.severity} {','.join(properties)}::{_escape_data(finding.message)}"


def error_annotation(error: MksDbError) -> str:
    """A workflow error command for what stopped the command, on the file it names if any."""
    path, line = getattr(error, "path", None), getattr(error, "line", None)
    properties = [f"file={_escape_property(path)}", f"line={line or 1}"] if path else []
    properties.append("title=mks-db")
    return f"::error {','.join(properties)}::{_escape_data(error_line(error))}"


def markdown(report: Report) -> str:
    """The report as a Markdown section for the workflow's step summary."""
    icon = "✅" if report.ok else "❌"
    lines = [f"### {icon} {summary_line(report)}", ""]
    if report.error is not None:
        lines += [f"**stopped**: {error_line(report.error)}", ""]
    if report.findings:
        lines += ["| severity | check | revision | message |", "| --- | --- | --- | --- |"]
        for f in report.findings:
            message = f.message.replace("|", "\\|").replace("\n", "<br>")
            lines.append(f"| {f.severity} | {f.check} | {f.revision or ''} | {message} |")
        lines.append("")
    if report.extra_markdown:
        lines += [report.extra_markdown, ""]
    return "\n".join(lines) + "\n"


def _render_plan(plan: Any, fmt: str, out: TextIO, verdict: bool = True) -> None:
    if fmt == "json":
        out.write(json.dumps(plan.as_dict(), indent=2) + "\n")
        return
    if fmt in ("markdown", "github"):
        text = plan_markdown(plan)
        if fmt == "github":
            _append_step_summary(text)
        if fmt == "markdown":
            out.write(text)
            return
    out.write(plan_text(plan, verdict))


def plan_text(plan: Any, verdict: bool = True) -> str:
    """The plan as text; its last line, ``plan: ok`` or ``plan: must not be applied``, only
    with ``verdict`` (a deploy prints its own verdict after the plan)."""
    lines = [
        f"database: {plan.database}",
        f"current revision: {', '.join(plan.current) or '(none)'}",
        f"target revision: {', '.join(plan.target) or '(none)'}",
    ]
    if plan.pending:
        lines.append(f"to apply, in order ({len(plan.pending)}):")
        lines += [f"  {r.revision}  {r.doc}" for r in plan.pending]
    elif plan.ok:
        lines.append("nothing to apply: the database is at the target")
    lines += [f"REFUSED: {problem}" for problem in plan.problems]
    for revision in plan.pending:  # the SQL that would run, as rendered offline
        lines += ["", f"-- {revision.revision}: {revision.doc}", plan.sql.get(revision.revision, "").rstrip()]
    if verdict:
        lines.append("plan: ok" if plan.ok else "plan: must not be applied")
    return "\n".join(lines) + "\n"


def plan_markdown(plan: Any) -> str:
    icon = "✅" if plan.ok else "❌"
    lines = [
        f"### {icon} Migration plan for `{plan.database}`",
        "",
        f"- current revision: `{', '.join(plan.current) or 'none'}`",
        f"- target revision: `{', '.join(plan.target) or 'none'}`",
    ]
    lines += [f"- **refused**: {problem}" for problem in plan.problems]
    lines.append("")
    for revision in plan.pending:
        lines += [
            f"#### `{revision.revision}` {revision.doc}",
            "",
            "```sql",
            plan.sql.get(revision.revision, "").rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"
