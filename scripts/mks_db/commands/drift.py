"""``mks-db drift``: the models match the schema the migrations build, compared at head
(``mks_db.checks.drift``)."""

from __future__ import annotations

import argparse

from mks_db.checks import judge
from mks_db.commands.common import checked_project, checks_server
from mks_db.config import Settings
from mks_db.database.server import scratch_database
from mks_db.engine.evidence import AtHead
from mks_db.engine.migrate import Migrator
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    order = project.revisions_in_order()
    report.revisions = len(order)
    with (
        checks_server(args.database_url, settings) as server,
        scratch_database(server, "drift") as url,
        Migrator(project, url, server.timeouts) as migrator,
    ):
        migrator.create_base()
        migrator.upgrade(*order, one_run=True)
        report.findings += judge(project, AtHead(migrator))
