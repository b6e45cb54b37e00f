"""The subcommands of ``mks-db``, one module each, imported only when that subcommand runs.

Each module ``mks_db.commands.<name>`` has ``run(args, settings, report)``: ``args`` are the
parsed flags (read, never written), ``settings`` the loaded ``[tool.mks-db]`` with its flags
(``mks_db.config``), ``report`` what the command fills for the renderer. What several commands
share (the project loaded with its graph checked, the checks' server, the revisions chosen)
is in ``common``; what the commands that act on a named database share, in ``target``.

A subcommand's module is imported when it runs, not before: ``mks-db heads`` does not load the
lock analysis, nor ``mks-db check`` the production modules (start-up time is every hook's and
every CI step's).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mks_db.config import Settings
    from mks_db.report.model import Report

NAMES = (
    "check",
    "sql",
    "locks",
    "hook",
    "lint",
    "heads",
    "roundtrip",
    "drift",
    "plan",
    "deploy",
    "backup",
    "restore",
)

# Where sql, lint and hook write each revision's rendered SQL, beside alembic.ini (--out).
SQL_DIR = Path("build") / "migration-sql"


def run(name: str, args: argparse.Namespace, settings: Settings, report: Report) -> None:
    """Run subcommand ``name`` (one of NAMES): import its module, then call its ``run``."""
    if name not in NAMES:
        raise ValueError(f"no mks-db command {name!r}")
    importlib.import_module(f"{__name__}.{name}").run(args, settings, report)
