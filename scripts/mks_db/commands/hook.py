"""``mks-db hook FILE...``: for pre-commit, on the revision files among the changed files:
their syntax and ids (``mks_db.checks.static``), the revision graph, the immutability of
merged revisions against ``--base`` (else ``[tool.mks-db] base-ref``, else the remote's
default branch, ``origin/HEAD``; when the ref exists), then their SQL rendered and linted into
a directory git ignores. No database."""

from __future__ import annotations

import argparse
from pathlib import Path

from mks_db.checks import judge
from mks_db.checks.static import check_commit, check_files, revision_paths
from mks_db.commands.common import checked_project, sql_dir
from mks_db.commands.lint import render_and_lint
from mks_db.config import Settings
from mks_db.engine import git
from mks_db.engine.evidence import Graph
from mks_db.engine.project import load_project
from mks_db.engine.revision_files import revision_files
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
    # Merged revisions must not change: against base-ref, else the remote's default branch.
    base = settings.base_ref or git.default_branch(files_only.root)
    known = base if base and git.ref_exists(files_only.root, base) else None
    report.findings += judge(files_only, Graph(files, settings.linear_history, known))
    report.findings += check_files(files_only, paths)
    report.findings += check_commit(files_only)  # a new revision with unrelated changes: a warning
    if not paths or any(f.is_error and f.check != "immutability" for f in report.findings):
        return  # nothing to render, or files that would not load
    project = checked_project(settings, report)
    by_path = {Path(r.path).resolve(): r for r in project.revisions_in_order()}
    revisions = [by_path[p] for p in paths if p in by_path]
    report.findings += render_and_lint(project, revisions, sql_dir(None, project), settings)[1]
