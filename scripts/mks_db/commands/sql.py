"""``mks-db sql``: each chosen revision's upgrade and downgrade SQL, rendered offline by the
project's env.py (``alembic --sql``), one file each under ``--out``; the paths on standard error."""

from __future__ import annotations

import argparse
import sys

from mks_db.commands.common import Selection, checked_project, sql_dir
from mks_db.config import Settings
from mks_db.engine.render import write_sql
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    revisions = Selection.from_flags(args).revisions(project)
    rendered = write_sql(project, revisions, sql_dir(args.out, project))
    report.revisions = len({r.revision.revision for r in rendered})
    for r in rendered:
        print(r.path, file=sys.stderr)
