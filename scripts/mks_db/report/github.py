"""The GitHub format: one workflow command per finding (``::error file=...,line=...::``), the
verdict line, and, when ``$GITHUB_STEP_SUMMARY`` is set, the report as Markdown appended to
the step summary. The ``markdown`` format writes that Markdown to standard output instead.
"""

from __future__ import annotations

import os
from typing import TextIO

from mks_db.errors import ConfigurationError, MksDbError
from mks_db.findings import Finding
from mks_db.report.model import Report, error_line, summary_line


def write(report: Report, out: TextIO) -> None:
    for finding in report.findings:
        out.write(annotation(finding) + "\n")
    if report.error is not None:
        out.write(error_annotation(report.error) + "\n")
    out.write(summary_line(report) + "\n")
    append_step_summary(markdown(report))


def append_step_summary(text: str) -> None:
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


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
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
