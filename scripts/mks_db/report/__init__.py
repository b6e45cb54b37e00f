"""The report of a command and its formats, one module each.

``model``: the ``Report`` a command fills (findings, steps, a plan, lines). ``render(report,
fmt, out)`` writes it in one of ``FORMATS``: ``human`` (``human``), ``json`` (``json_format``),
``github`` and ``markdown`` (``github``: workflow annotations and the step summary's Markdown);
a plan in any of them (``plan``). ``progress``: the live line on a terminal while a command runs.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from mks_db.report import github, human, json_format, plan
from mks_db.report.model import Report

FORMATS = ("human", "json", "github", "markdown")


def render(report: Report, fmt: str, out: TextIO | None = None) -> None:
    """Write ``report`` to ``out`` (default: standard output) in ``fmt`` (one of FORMATS).

    With ``human``, a command that stopped on an error writes nothing: the error's line on
    standard error is its whole report. A plan, or what deploy, backup or restore did (the
    report's lines), is written instead of the findings.
    """
    out = out or sys.stdout
    if report.error is not None and fmt == "human":
        return
    if fmt == "json" and report.lines:  # deploy, backup, restore
        json_format.write(json_format.messages_document(report), out)
    elif report.plan is not None or report.lines:
        if report.plan is not None:  # a deploy's lines carry its verdict: the plan's is left out
            plan.write(report.plan, fmt, out, verdict=not report.lines)
        if report.lines:
            out.write("\n".join(report.lines) + "\n")
    elif fmt == "markdown":
        out.write(github.markdown(report))
    elif fmt == "json":
        json_format.write(json_format.document(report), out)
    elif fmt == "github":
        github.write(report, out)
    else:
        out.write(human.text(report, colour=out.isatty() and "NO_COLOR" not in os.environ))
