"""``mks-db lint``: render the chosen revisions' SQL offline, then lint it with the SQL checks
(``sql-parse``, the PostgreSQL parser; ``sql-style``, sqlfluff; ``safety``, squawk); with
``--since``, also that merged revisions did not change and that the new ones build on the
ref's head. No database."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic.script import Script

from mks_db.checks import judge
from mks_db.checks.heads import check_behind_base
from mks_db.commands.common import Selection, checked_project, sql_dir
from mks_db.config import Settings
from mks_db.engine.evidence import Graph, RenderedSql
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered, write_sql
from mks_db.errors import ProjectCodeError
from mks_db.findings import ERROR, WARNING, Finding
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    lint_chosen(project, Selection.from_flags(args), args.out, settings, report)


def lint_chosen(
    project: Project,
    selection: Selection,
    out: Path | None,
    settings: Settings,
    report: Report,
    session_timeouts: set[str] | None = None,
) -> None:
    """Render the revisions ``selection`` chooses into ``out`` (see ``sql_dir``) and lint them;
    ``session_timeouts``: the time bounds env.py set on its migrating session, when known."""
    out = sql_dir(out, project)
    rendered, found = render_and_lint(project, selection.revisions(project), out, settings, session_timeouts)
    report.revisions = len({r.revision.revision for r in rendered})
    report.findings += found
    if selection.since:
        graph = Graph(None, settings.linear_history, selection.since)
        report.findings += judge(project, graph, only={"immutability"})
        # Of heads, only its rule against the base: the graph itself is the heads command's.
        report.findings += check_behind_base(project, selection.since, linear=settings.linear_history)


def render_and_lint(
    project: Project,
    revisions: list[Script],
    out: Path,
    settings: Settings,
    session_timeouts: set[str] | None = None,
) -> tuple[list[Rendered], list[Finding]]:
    """Render ``revisions`` into ``out`` and lint them: what rendered, and the findings (one
    for an env.py that does not run offline at all, then nothing is linted)."""
    try:
        rendered = write_sql(project, revisions, out)
    except ProjectCodeError as exc:  # env.py itself does not run offline
        return [], [not_rendered(exc, settings.offline)]
    return rendered, judge(project, RenderedSql(rendered, out, settings.offline, session_timeouts))


def not_rendered(error: ProjectCodeError, offline: bool) -> Finding:
    """One finding for an env.py that does not run offline at all: no SQL to lint (an error
    when production runs the rendered SQL, ``offline``)."""
    return Finding(
        "sql-parse",
        ERROR if offline else WARNING,
        None,
        f"no revision's SQL could be rendered offline, so none was linted: {error}",
        error.path,
        error.line,
    )
