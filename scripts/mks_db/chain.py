"""The chain walk: every revision upgraded from an empty database to head, then downgraded to
base, one revision at a time, each step timed and any failure named with the database's error.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from alembic.script import Script
from sqlalchemy.exc import DBAPIError

from mks_db.findings import ERROR, Finding
from mks_db.migrate import Migrator
from mks_db.project import Project
from mks_db.report import Report, Step
from mks_db.server import Server, describe_db_error, scratch_database


def walk_chain(project: Project, server: Server, report: Report) -> None:
    """Upgrade base→heads then downgrade heads→base in a scratch database; stop at a failure."""
    order = project.revisions_in_order()
    report.revisions = len(order)
    with scratch_database(server, "chain") as url, Migrator(project, url) as migrator:
        for action, revisions, apply in (
            ("upgrade", order, migrator.upgrade),
            ("downgrade", list(reversed(order)), migrator.downgrade),
        ):
            for revision in revisions:
                if not run_step(report, action, revision, apply, project):
                    return


def run_step(report: Report, action: str, revision: Script, apply, project: Project) -> bool:
    """Run ``apply(revision)``, record the step, and turn a failure into a finding."""
    started = time.perf_counter()
    try:
        apply(revision)
    except Exception as exc:  # any error of a revision's code is the revision's finding
        report.steps.append(Step(revision.revision, action, time.perf_counter() - started, False))
        report.findings.append(failure_finding(action, revision, exc, project))
        return False
    report.steps.append(Step(revision.revision, action, time.perf_counter() - started))
    return True


def failure_finding(check: str, revision: Script, exc: BaseException, project: Project) -> Finding:
    """A finding naming the revision, the step and the database's (or Python's) error."""
    if isinstance(exc, DBAPIError):
        error = describe_db_error(exc)
    else:
        error = f"{type(exc).__name__}: {exc}".strip()
    return Finding(
        check=check,
        severity=ERROR,
        revision=revision.revision,
        message=f"{check} of {revision.revision} failed: {error}",
        path=project.relpath(revision.path),
        line=_line_in(revision.path, exc),
    )


def _line_in(path: str, exc: BaseException) -> int | None:
    """The line of ``path`` where ``exc`` passed through, if it did."""
    target = Path(path).resolve()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == target:
            return frame.lineno
    return None
