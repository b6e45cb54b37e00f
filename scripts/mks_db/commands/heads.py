"""``mks-db heads``: exactly one head, no duplicate ids, missing parents or cycles, read from
the revision files' syntax (no database, no import of the revisions); with ``--since``, also
the new revisions that revise something older than that ref's head."""

from __future__ import annotations

import argparse

from mks_db.checks import judge
from mks_db.commands.common import Selection
from mks_db.config import Settings
from mks_db.engine.evidence import Graph
from mks_db.engine.project import load_project
from mks_db.engine.revision_files import revision_files
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    check_graph(settings, report, behind=Selection.from_flags(args).since)


def check_graph(settings: Settings, report: Report, behind: str | None = None) -> None:
    """The revision graph's findings into ``report``; with ``behind`` (a git ref), also the
    new revisions that do not build on that ref's head."""
    project = load_project(settings.alembic_config, load_revisions=False, flask_app=settings.flask_app)
    files = revision_files(project)
    report.revisions = len(files)
    report.findings += judge(project, Graph(files, settings.linear_history, behind), only={"heads"})
