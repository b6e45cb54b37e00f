"""``mks-db plan``: read only. The target database's revision, the revisions a deploy would
apply with their SQL, and whether the database's schema is what the migrations expect
(``mks_db.production.plan``)."""

from __future__ import annotations

import argparse

from mks_db.commands.common import checked_project
from mks_db.commands.target import (
    deploy_settings,
    proven_major,
    scratch_server,
    target_source,
    target_url,
    warn,
)
from mks_db.config import Settings
from mks_db.production.plan import make_plan
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    url = target_url(args)
    with scratch_server(args, proven_major(url, target_source(args)), settings.extensions) as scratch:
        plan = make_plan(
            project,
            url,
            scratch,
            args.to,
            source=target_source(args),
            notice=warn,
            lock_timeout=deploy_settings(settings).lock_timeout,
            offline=settings.offline,
            allow_downgrade=args.allow_downgrade,
            limits=settings.locks,
        )
    report.plan = plan
    report.revisions = len(plan.pending)
    report.failed = not plan.ok
