"""``mks-db check``: every check in one pass. The revision graph (as ``heads``); unless it is
broken, the roundtrip walk with rows, the models compared at head (drift), then on the same
server the rendered SQL linted (as ``lint``, with ``--since`` the immutability of merged
revisions too), with ``--since`` the base's models run on the new revisions (``compat``), and,
for the revisions chosen by ``--since`` or ``--revision``, their locks."""

from __future__ import annotations

import argparse

from mks_db.checks import judge, safety
from mks_db.checks.heads import BROKEN_GRAPH
from mks_db.commands import compat, heads, lint, locks, roundtrip
from mks_db.commands.common import Selection
from mks_db.config import Settings
from mks_db.database.server import Server
from mks_db.engine.evidence import AtHead
from mks_db.engine.project import Project
from mks_db.engine.release import Reading
from mks_db.report.model import Report
from mks_db.report.progress import Progress


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    heads.check_graph(settings, report)  # behind the base: in lint, with --since
    if any(f.rule in BROKEN_GRAPH for f in report.findings):
        return  # the graph itself is broken: nothing can be migrated
    selection = Selection.from_flags(args)

    def lint_and_locks(
        project: Project, server: Server, progress: Progress, session_timeouts: set[str] | None
    ) -> None:
        progress.say("linting the rendered SQL")
        walked = report.revisions
        before = len(report.findings)
        lint.lint_chosen(project, selection, args.out, settings, report, session_timeouts)
        # What the walk measured decides squawk's NOT NULL rule (the walk ran every upgrade on
        # rows; a revision with a table it could not fill is not measured).
        unfilled = {
            f.revision
            for f in report.findings[:before]
            if f.check == "data-loss" and not f.is_error and not f.message.startswith("upgrade of ")
        }
        report.findings[before:] = safety.judge_by_the_walk(report.findings[before:], report.steps, unfilled)
        if selection.since:  # the base's models (the running release's) on the new revisions
            progress.say("running the base's models on the new revisions")
            compat.against_base(project, selection, server, report, started.get("reading"))
        if selection.since or selection.revision:  # the new revisions' locks (all would take long)
            progress.say("measuring the new revisions' locks")
            revisions = selection.revisions(project)
            if revisions:
                locks.measure(project, revisions, settings.locks, server, report)  # takes it over
        report.revisions = walked

    started: dict = {}  # the base's models, read while the walk goes on

    def read_base_models(project: Project) -> None:
        started["reading"] = compat.base_models(project, selection)

    try:
        roundtrip.walk(
            args,
            settings,
            report,
            before=read_base_models,
            after=lint_and_locks,
            at_head=lambda migrator: judge(migrator.project, AtHead(migrator)),
        )
    finally:
        if isinstance(started.get("reading"), Reading):
            started["reading"].close()
