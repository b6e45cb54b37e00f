"""``mks-db hook FILE...``: for pre-commit, on the revision files among the changed files:
their syntax and ids (``mks_db.checks.static``), the revision graph, the immutability of
merged revisions against ``--base`` (else ``[tool.mks-db] base-ref``, when the ref exists),
then their SQL rendered and linted. No database."""

from __future__ import annotations

import argparse
from pathlib import Path

from mks_db.checks.heads import check_heads, revision_files
from mks_db.checks.immutability import check_behind_base, check_immutability
from mks_db.checks.static import check_files, revision_paths
from mks_db.commands import SQL_DIR
from mks_db.commands.common import checked_project
from mks_db.commands.lint import render_and_lint
from mks_db.config import Settings
from mks_db.engine import git
from mks_db.engine.project import load_project
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    files_only = load_project(  # revisions not imported
        settings.alembic_config,
        load_revisions=False,
        url_variables=settings.url_variables,
        flask_app=settings.flask_app,
    )
    paths = revision_paths(files_only, args.files)
    files = revision_files(files_only)
    report.revisions = len(paths)
    report.findings += check_heads(files_only, files) + check_files(files_only, paths)
    base = settings.base_ref
    if base and git.ref_exists(files_only.root, base):
        report.findings += check_immutability(files_only, base) + check_behind_base(files_only, base, files)
    if not paths or any(f.is_error and f.check != "immutability" for f in report.findings):
        return  # nothing to render, or files that would not load
    project = checked_project(settings, report)
    by_path = {Path(r.path).resolve(): r for r in project.revisions_in_order()}
    revisions = [by_path[p] for p in paths if p in by_path]
    report.findings += render_and_lint(project, revisions, project.root / SQL_DIR, settings)[1]
