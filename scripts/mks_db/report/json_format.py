"""The JSON format (named so as not to shadow the standard library's ``json``).

Contract: ``{"ok", "findings": [{"check", "severity", "revision", "message", "path", "line",
"rule"}], "revisions", "seconds"}``, with ``"error"`` when something stopped the command. The
commands that act on a database (deploy, backup, restore) write ``{"ok", "messages"}``, with
``"plan"`` when a plan was shown.
"""

from __future__ import annotations

import json
from typing import TextIO

from mks_db.report.model import Report, error_line


def document(report: Report) -> dict:
    """The report as the JSON contract's document."""
    document = {
        "ok": report.ok,
        "findings": [f.as_dict() for f in report.findings],
        "revisions": report.revisions,
        "seconds": round(report.seconds, 3),
    }
    if report.error is not None:
        document["error"] = error_line(report.error)
    return document


def messages_document(report: Report) -> dict:
    """What deploy, backup or restore did: its verdict, its lines, and the plan if one was shown."""
    document: dict = {"ok": report.ok, "messages": report.lines}
    if report.plan is not None:
        document["plan"] = report.plan.as_dict()
    return document


def write(data: dict, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2) + "\n")
