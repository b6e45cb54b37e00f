"""``mks-db locks``: each chosen revision's locks, table rewrites and time, measured on tables
holding rows (``mks_db.engine.lock_probe``) and judged (``mks_db.checks.locks``: an error over
``[tool.mks-db.locks]``'s budget).

``measure`` is the measurement itself: ``check --since`` runs it on its walk's server."""

from __future__ import annotations

import argparse

from alembic.script import Script

from mks_db.checks import judge, locks
from mks_db.commands.common import Selection, checked_project, checks_server
from mks_db.config import LockLimits, Settings
from mks_db.database.server import Server
from mks_db.engine import lock_probe
from mks_db.engine.evidence import Measured
from mks_db.engine.project import Project
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    revisions = Selection.from_flags(args).revisions(project)
    report.revisions = len(revisions)
    if revisions:
        with checks_server(args.database_url, settings) as server:
            measure(project, revisions, settings.locks, server, report)


def measure(
    project: Project, revisions: list[Script], limits: LockLimits, server: Server, report: Report
) -> None:
    """Measure ``revisions`` on ``server``: their findings, and the table of measurements for
    the step summary, into ``report``."""
    measured = lock_probe.analyse(project, server, revisions, limits)
    report.findings += judge(project, Measured(measured, limits))
    report.extra_markdown = locks.table(measured, limits)
    report.extra_text = locks.text_table(measured, limits)
