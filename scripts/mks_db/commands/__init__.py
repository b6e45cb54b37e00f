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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mks_db.errors import ConfigurationError

if TYPE_CHECKING:
    from mks_db.config import Settings
    from mks_db.report.model import Report

NAMES = (
    "check",
    "sql",
    "locks",
    "compat",
    "hook",
    "lint",
    "heads",
    "roundtrip",
    "drift",
    "plan",
    "deploy",
    "backup",
    "restore",
    "revision",
    "rebase",
)

# Where sql, lint and hook write each revision's rendered SQL, beside alembic.ini (--out).
SQL_DIR = Path("build") / "migration-sql"


# The commands that check a project; of a project of several databases (Alembic's multidb
# template, Flask-Migrate's --multidb), each database is checked in turn.
PER_DATABASE = ("check", "sql", "locks", "compat", "hook", "lint", "roundtrip", "drift")
# The commands that migrate, or compare with, one database (production's, or the scratch
# database autogenerate compares with); backup and restore need no project.
ONE_DATABASE = ("plan", "deploy", "revision")


def run(name: str, args: argparse.Namespace, settings: Settings, report: Report) -> None:
    """Run subcommand ``name`` (one of NAMES): import its module, then call its ``run``; for a
    project of several databases, once per database (``each_database``)."""
    if name not in NAMES:
        raise ValueError(f"no mks-db command {name!r}")
    command = importlib.import_module(f"{__name__}.{name}").run
    engines = _engines(settings) if name in PER_DATABASE + ONE_DATABASE else ()
    if not engines:
        command(args, settings, report)
    elif name in ONE_DATABASE:
        raise ConfigurationError(
            f"mks-db {name} acts on one database, and this project migrates {len(engines)} "
            f"({', '.join(e or 'default' for e in engines)}); nothing was read or changed: use the "
            "project's own alembic for it (mks-db check checks each database)"
        )
    else:
        each_database(
            engines, lambda part, engine: command(args, replace(settings, engine=engine), part), report
        )


def _engines(settings: Settings) -> tuple[str, ...]:
    from mks_db.engine.project import load_project

    return load_project(settings.alembic_config, load_revisions=False, flask_app=settings.flask_app).engines


def each_database(engines: tuple[str, ...], run_one: Callable[[Report, str], None], report: Report) -> None:
    """``run_one(part, engine)`` for each database of a multi-database project, each into a
    report of its own, merged into ``report``: a finding every database has (the revision graph,
    a revision file) once, any other under its database's name (``[engine2] ...``)."""
    from mks_db.report.model import Report

    parts: list[tuple[str, Report]] = []
    try:
        for engine in engines:
            part = Report(command=report.command, verbose=report.verbose)
            parts.append((engine, part))
            run_one(part, engine)
    finally:
        common = [f for f in parts[0][1].findings if all(f in p.findings for _, p in parts)]
        report.findings += common
        for engine, part in parts:
            report.findings += [
                replace(f, message=f"[{engine or 'default'}] {f.message}")
                for f in part.findings
                if f not in common
            ]
            report.steps += part.steps
            report.lines += part.lines
            report.extra_markdown += part.extra_markdown
            report.extra_text += part.extra_text
            report.failed = report.failed or part.failed
            report.revisions = max(report.revisions, part.revisions)
