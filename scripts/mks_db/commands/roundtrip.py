"""``mks-db roundtrip``: every revision upgrades, downgrades to exactly the schema it started
from and upgrades again; rows in existing tables survive. The walk over the chain
(``mks_db.engine.chain_walk``), judged by the checks of kind ``walk``: ``upgrade``,
``downgrade``, ``roundtrip`` and ``data-loss``.

``walk`` is the walk itself, with its progress line: ``check`` runs it too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mks_db.checks import data_loss, judge
from mks_db.commands.common import Selection, checked_project, checks_server, progress_line
from mks_db.config import Settings
from mks_db.database.server import Server
from mks_db.engine.chain_walk import walk_chain
from mks_db.engine.project import Project
from mks_db.findings import WARNING, Finding
from mks_db.report.model import Report
from mks_db.report.progress import Progress

# What runs on the walk's server after it: (project, server, progress, the time bounds env.py
# set on its migrating session, see mks_db.engine.chain_walk.walk_chain).
After = Callable[[Project, Server, Progress, set[str] | None], None]


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    walk(args, settings, report, with_data=not args.no_data)


def walk(
    args: argparse.Namespace,
    settings: Settings,
    report: Report,
    after: After | None = None,
    before: Callable[[Project], None] | None = None,
    **options: Any,
) -> None:
    """The roundtrip walk over the revisions ``args`` choose (``options``: at_head,
    with_data), with its progress line, ``before`` called with the project first; then
    ``after`` on the same server (the walk hands the
    base of ``--since`` back: the lock analysis takes it over)."""
    progress = progress_line(report.command, settings)
    try:
        project = checked_project(settings, report)
        if before:  # what may run while the walk does
            before(project)
        with checks_server(args.database_url, settings, progress) as server:
            new = Selection.from_flags(args).new(project)
            walked = walk_chain(
                project,
                server,
                lambda moment: judge(project, moment),
                jobs=args.jobs,
                new=new,
                progress=progress,
                **options,
            )
            report.revisions = walked.revisions
            found = walked.findings
            if (
                settings.release_tags
            ):  # production runs releases: what one release added and dropped is no loss
                found = data_loss.judge_by_releases(project, server, found, settings.release_tags)
            report.findings += forward_only(found) if settings.forward_only else found
            report.steps += walked.steps
            if after:
                after(project, server, progress, walked.project_timeouts)
    finally:
        progress.clear()  # the report, or an error's line, starts on a clean line


def forward_only(findings: list[Finding]) -> list[Finding]:
    """``findings`` of a project that never runs its downgrades ([tool.mks-db] forward-only):
    what the walk found of them is said, as warnings."""
    return [
        replace(
            f,
            severity=WARNING,
            message=f"{f.message} (a warning: [tool.mks-db] forward-only says the project never runs "
            "its downgrades)",
        )
        if f.is_error and f.check in ("downgrade", "roundtrip")
        else f
        for f in findings
    ]
