"""``mks-db restore FILE``: put a verified backup in place of the target database, after asking
(``--yes`` answers); the database as it was is kept beside it (``mks_db.production.restore``)."""

from __future__ import annotations

import argparse
import sys

from mks_db.commands.target import deploy_settings, target_source, target_url
from mks_db.config import Settings
from mks_db.database.urls import mask_url
from mks_db.errors import ConfigurationError
from mks_db.production.backup import verify
from mks_db.production.restore import restore
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    url = target_url(args)
    verify(args.file)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigurationError(f"restoring replaces {mask_url(url)}: pass --yes to confirm")
        answer = input(f"Replace the contents of {mask_url(url)} with {args.file}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ConfigurationError("restore cancelled; nothing changed")
    restored = restore(args.file, url, args.other_database, deploy_settings(settings), target_source(args))
    record = restored.backup
    report.lines += [
        f"restored {record.path} (SHA-256 {record.sha256}) into {mask_url(url)}: database "
        f"{restored.database} is now at revision {', '.join(record.revision) or '(none)'} with "
        f"the row counts of the backup ({len(record.rows)} tables checked)",
        f"the database as it was before is kept as {restored.kept}; drop it once it is no longer "
        f'needed: DROP DATABASE "{restored.kept}"',
    ]
