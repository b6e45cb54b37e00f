"""``mks-db backup``: pg_dump (custom format) of the target database into ``--backup-dir``
(else ``[tool.mks-db.deploy] backup-dir``, where deploy puts its backups too), verified and
recorded (``mks_db.production.backup``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mks_db.commands.target import deploy_settings, scratch_server, target_url
from mks_db.config import Settings
from mks_db.production.backup import backup
from mks_db.production.restore import verify_restorable
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    deploying = deploy_settings(settings)
    record = backup(target_url(args), Path(deploying.backup_dir))
    with scratch_server(args, record.dumped_by or record.server_major) as scratch:
        how = verify_restorable(record, scratch, deploying.verify)
    report.lines.append(
        f"backup {record.path}: {record.bytes} bytes, SHA-256 {record.sha256} ({how}; "
        f"written by the client tools of {record.tools})"
    )
    report.lines += record.leftover_lines()
