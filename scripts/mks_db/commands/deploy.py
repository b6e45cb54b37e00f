"""``mks-db deploy``: lock, back up, apply the plan revision by revision, verify, check health,
record (``mks_db.production.deploy``); the report says where production stands and what next."""

from __future__ import annotations

import argparse
import sys

from mks_db.commands.common import checked_project
from mks_db.commands.target import (
    deploy_settings,
    proven_major,
    restore_major,
    scratch_server,
    target_source,
    target_url,
    warn,
)
from mks_db.config import Settings
from mks_db.production.deploy import deploy
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    url = target_url(args)
    major = proven_major(url, target_source(args))
    try:
        with scratch_server(
            args, major if args.dry_run else restore_major(major), settings.extensions
        ) as scratch:
            outcome = deploy(
                project,
                url,
                scratch,
                deploy_settings(settings),
                args.to,
                args.dry_run,
                target_source(args),
                warn,
                settings.offline,
                args.allow_downgrade,
                settings.locks,
            )
    except KeyboardInterrupt as exc:  # production's state, before the CLI's "interrupted" line
        for line in getattr(exc, "deploy_state", []):
            print(line, file=sys.stderr)
        raise
    if outcome.plan is not None and (args.dry_run or not outcome.ok and not outcome.applied):
        report.plan = outcome.plan  # shown without its own verdict: the deploy line is the verdict
    done = outcome.plan.done if outcome.plan else "applied"
    report.lines += [
        f"{step['revision']}: {done} in {step['seconds']}s "
        f"({step['attempts']} attempt{'s' if step['attempts'] > 1 else ''})"
        for step in outcome.applied
    ]
    if outcome.backup:
        report.lines.insert(
            0,
            f"backup {outcome.backup.path} (SHA-256 {outcome.backup.sha256}; "
            f"{outcome.verified or 'not yet verified'})",
        )
        report.lines[1:1] = outcome.backup.leftover_lines()
    report.lines.append(("deploy: " if outcome.ok else "deploy FAILED: ") + outcome.message)
    report.lines += outcome.retention
    report.lines += outcome.state()
    report.lines[:0] = outcome.previous
    report.revisions = len(outcome.applied)
    report.failed = not outcome.ok
