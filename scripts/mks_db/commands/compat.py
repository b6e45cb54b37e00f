"""``mks-db compat --since REF`` (and ``check --since REF``): the models at the base of the
change (the merge base with REF), which the running release has, exercised on the revisions new
since it (``mks_db.checks.compat``)."""

from __future__ import annotations

import argparse

from mks_db.checks import judge
from mks_db.commands.common import Selection, checked_project, checks_server
from mks_db.config import Settings
from mks_db.database.server import Server
from mks_db.engine import git
from mks_db.engine.evidence import BaseRelease
from mks_db.engine.project import Project
from mks_db.engine.release import Reading
from mks_db.errors import ConfigurationError
from mks_db.findings import WARNING, Finding
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    selection = Selection.from_flags(args)
    if not selection.since:
        raise ConfigurationError(
            "mks-db compat compares the revisions new since a git ref with the models there: "
            "give --since REF (the pull request's base, e.g. origin/main)"
        )
    new = selection.revisions(project)
    report.revisions = len(new)
    if new:
        with checks_server(args.database_url, settings) as server:
            against_base(project, selection, server, report)


def base_models(project: Project, selection: Selection) -> Reading | ConfigurationError | None:
    """The base's models being read (``Reading``, started now: it runs while the walk does),
    the reason they cannot be, or None when nothing is new since ``selection.since``."""
    if not selection.since or not selection.revisions(project):
        return None
    try:
        base = git.run(git.root(project.root), "merge-base", "HEAD", selection.since).strip()
        return Reading(project, base, f"{selection.since} at {base[:12]}")
    except ConfigurationError as exc:
        return exc


def against_base(
    project: Project,
    selection: Selection,
    server: Server,
    report: Report,
    reading: Reading | ConfigurationError | None = None,
) -> None:
    """Add the ``compat`` findings of the revisions ``selection`` chose (new against its
    ``since``) against the models at the merge base (``reading``, else read now); a warning
    when they cannot be read."""
    reading = reading or base_models(project, selection)
    if reading is None:
        return
    new = selection.revisions(project)
    chosen = {r.revision for r in new}
    known = [r for r in project.revisions_in_order() if r.revision not in chosen]
    try:
        if isinstance(reading, ConfigurationError):
            raise reading
        with reading:
            release = reading.result(server)
    except ConfigurationError as exc:
        report.findings.append(Finding("compat", WARNING, None, f"compat not checked: {exc}"))
        return
    # The walk proved the new revisions' downgrades restore the base exactly unless it said
    # otherwise of one of them: then the base compat borrows is read again before it goes back.
    reversible = not any(
        f.check in ("roundtrip", "downgrade") and f.revision in chosen for f in report.findings
    )
    report.findings += judge(project, BaseRelease(server, known, new, release, reversible))
