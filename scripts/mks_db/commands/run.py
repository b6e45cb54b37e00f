"""The commands ``mks-db`` runs: each takes the parsed flags and fills the report.

``COMMANDS`` maps each subcommand's name to its runner; ``mks_db.cli`` parses and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from mks_db.checks.drift import drift_findings
from mks_db.checks.heads import BROKEN_GRAPH, check_heads, revision_files
from mks_db.checks.immutability import check_behind_base, check_immutability
from mks_db.checks.locks import findings as lock_findings
from mks_db.checks.locks import table as lock_table
from mks_db.checks.roundtrip import roundtrip
from mks_db.checks.sql import lint
from mks_db.checks.static import check_files, revision_paths
from mks_db.database.server import Server, Timeouts, open_server, scratch_database
from mks_db.database.urls import mask_url, parse_url
from mks_db.engine import git
from mks_db.engine.lock_probe import Settings as LockSettings
from mks_db.engine.lock_probe import analyse
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import Project, load_project
from mks_db.engine.render import BUILD_DIR, Rendered, choose_revisions, write_sql
from mks_db.errors import ConfigurationError, ProjectCodeError, Stop
from mks_db.findings import ERROR, WARNING, Finding
from mks_db.production.backup import backup, verify
from mks_db.production.deploy import Settings as DeploySettings
from mks_db.production.deploy import deploy
from mks_db.production.plan import make_plan
from mks_db.production.restore import restore, verify_restorable
from mks_db.report.model import Report
from mks_db.report.progress import Progress


def _project(args: argparse.Namespace, report: Report) -> Project:
    """The project with its revisions, loaded once per command (``check`` runs several runners).

    The revision graph is read first, from the files' syntax (as ``heads`` does): duplicate
    ids, missing parents and cycles stop every command with their findings, before Alembic
    would silently keep one of two revisions of the same id.
    """
    if getattr(args, "project", None) is None:
        graph = check_heads(load_project(args.config, load_revisions=False))
        broken = [f for f in graph if f.rule in BROKEN_GRAPH]
        if broken:
            report.findings += [f for f in broken if f not in report.findings]
            raise Stop
        args.project = load_project(args.config)
    return args.project


def _server(args: argparse.Namespace, progress: Progress | None = None):
    """The server the checks make scratch databases on, with their time bounds."""
    url = args.database_url or os.environ.get("DATABASE_URL")
    if progress:
        progress.say("connecting to PostgreSQL" if url else "starting the embedded PostgreSQL")
    options = args.options
    timeouts = Timeouts.parse(
        args.statement_timeout or options.get("statement-timeout"),
        args.lock_timeout or options.get("lock-timeout"),
        "--" if args.statement_timeout or args.lock_timeout else "[tool.mks-db] ",
    )
    return open_server(url, timeouts)


def _scratch_server(args: argparse.Namespace):
    """The server plan and deploy rebuild the expected schema on (never the target's, unless named)."""
    return open_server(args.scratch_url or os.environ.get("MKS_DB_SCRATCH_URL"))


def _target_url(args: argparse.Namespace) -> URL:
    raw = args.database_url or os.environ.get("DATABASE_URL")
    if not raw:
        raise ConfigurationError(
            "no database to act on: pass --database-url or set DATABASE_URL (this command, "
            "unlike the checks, works on the database itself)"
        )
    return parse_url(raw, source=_target_source(args))


def _target_source(args: argparse.Namespace) -> str:
    """Where the target's URL came from, as messages name it."""
    return "--database-url" if args.database_url else "DATABASE_URL"


def run_plan(args: argparse.Namespace, report: Report) -> None:
    project = _project(args, report)
    url = _target_url(args)
    source = _target_source(args)
    with _scratch_server(args) as scratch:
        plan = make_plan(project, url, scratch, args.to, source=source, notice=_warn)
    report.plan = plan
    report.revisions = len(plan.pending)
    report.failed = not plan.ok


def _warn(line: str) -> None:
    """A warning on standard error, at once (the report comes at the end, on standard output)."""
    print(f"mks-db: warning: {line}", file=sys.stderr, flush=True)


def deploy_settings(args: argparse.Namespace) -> DeploySettings:
    """[tool.mks-db.deploy] (keys with dashes), then flags."""
    configured = args.options.get("deploy", {})
    fields = {f.name for f in dataclasses.fields(DeploySettings)}
    values = {}
    for key, value in configured.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise ConfigurationError(
                f"unknown [tool.mks-db.deploy] setting {key}; known: "
                + ", ".join(sorted(f.replace("_", "-") for f in fields))
            )
        values[name] = value
    settings = DeploySettings(**values)
    for flag, name in (
        ("on_failure", "on_failure"),
        ("backup_dir", "backup_dir"),
        ("lock_wait", "lock_wait_seconds"),
        ("verify", "verify"),
    ):
        if getattr(args, flag, None) is not None:
            setattr(settings, name, getattr(args, flag))
    return settings


def run_deploy(args: argparse.Namespace, report: Report) -> None:
    project = _project(args, report)
    url = _target_url(args)
    source = _target_source(args)
    try:
        with _scratch_server(args) as scratch:
            settings = deploy_settings(args)
            outcome = deploy(project, url, scratch, settings, args.to, args.dry_run, source, _warn)
    except KeyboardInterrupt as exc:  # production's state, before the CLI's "interrupted" line
        for line in getattr(exc, "deploy_state", []):
            print(line, file=sys.stderr)
        raise
    if outcome.plan is not None and (args.dry_run or not outcome.ok and not outcome.applied):
        report.plan = outcome.plan  # shown without its own verdict: the deploy line is the verdict
    report.lines += [
        f"{step['revision']}: applied in {step['seconds']}s "
        f"({step['attempts']} attempt{'s' if step['attempts'] > 1 else ''})"
        for step in outcome.applied
    ]
    if outcome.backup:
        report.lines.insert(
            0,
            f"backup {outcome.backup.path} (SHA-256 {outcome.backup.sha256}; "
            f"{outcome.verified or 'not yet verified'})",
        )
    report.lines.append(("deploy: " if outcome.ok else "deploy FAILED: ") + outcome.message)
    report.lines += outcome.retention
    report.lines += outcome.state()
    report.lines[:0] = outcome.previous
    report.revisions = len(outcome.applied)
    report.failed = not outcome.ok


def run_backup(args: argparse.Namespace, report: Report) -> None:
    # --backup-dir, else [tool.mks-db.deploy] backup-dir (where deploy puts its backups too)
    settings = deploy_settings(args)
    record = backup(_target_url(args), Path(settings.backup_dir))
    with _scratch_server(args) as scratch:
        how = verify_restorable(record, scratch, settings.verify)
    report.lines.append(f"backup {record.path}: {record.bytes} bytes, SHA-256 {record.sha256} ({how})")


def run_restore(args: argparse.Namespace, report: Report) -> None:
    url = _target_url(args)
    verify(args.file)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigurationError(f"restoring replaces {mask_url(url)}: pass --yes to confirm")
        answer = input(f"Replace the contents of {mask_url(url)} with {args.file}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ConfigurationError("restore cancelled; nothing changed")
    restored = restore(args.file, url)
    record = restored.backup
    report.lines += [
        f"restored {record.path} (SHA-256 {record.sha256}) into {mask_url(url)}: database "
        f"{restored.database} is now at revision {', '.join(record.revision) or '(none)'} with "
        f"the row counts of the backup ({len(record.rows)} tables checked)",
        f"the database as it was before is kept as {restored.kept}; drop it once it is no longer "
        f'needed: DROP DATABASE "{restored.kept}"',
    ]


def run_heads(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config, load_revisions=False)
    files = revision_files(project)
    report.revisions = len(files)
    report.findings += check_heads(project, files)
    if args.command == "heads" and args.since:
        report.findings += check_behind_base(project, args.since, files)


def _new_revisions(args: argparse.Namespace, project: Project) -> set[str] | None:
    """The revisions the walk starts from: with ``--since``, those added or changed against it
    (None: every revision). A push or scheduled run in GitHub Actions walks every revision
    anyway: merged revisions are walked there once more, against the chain as it now is."""
    since = getattr(args, "since", None)
    if not since or getattr(args, "all", False) or os.environ.get("GITHUB_EVENT_NAME") in WALK_ALL_EVENTS:
        return None
    return {r.revision for r in choose_revisions(project, since)}


WALK_ALL_EVENTS = ("push", "schedule", "workflow_dispatch")


def _progress(args: argparse.Namespace) -> Progress:
    """The live line on a terminal, for the human format (other formats are read by tools)."""
    progress = Progress(enabled=None if args.format == "human" else False)
    progress.say(f"mks-db {args.command}: reading {args.config or 'alembic.ini'}")
    return progress


def _walk(args: argparse.Namespace, report: Report, after=None, **options) -> None:
    """The roundtrip walk of ``check`` and ``roundtrip`` (``options``: at_head, with_data),
    with its progress line; then ``after(server, progress, timeouts)`` on the same server (the
    walk hands the base of ``--since`` back: the lock analysis takes it over; ``timeouts``:
    the time bounds env.py set on its migrating session, see ``roundtrip``)."""
    progress = _progress(args)
    try:
        project = _project(args, report)
        with _server(args, progress) as server:
            new = _new_revisions(args, project)
            timeouts = roundtrip(
                project, server, report, jobs=args.jobs, new=new, progress=progress, **options
            )
            if after:
                after(server, progress, timeouts)
    finally:
        progress.clear()  # the report, or an error's line, starts on a clean line


def run_roundtrip(args: argparse.Namespace, report: Report) -> None:
    _walk(args, report, with_data=not args.no_data)


def run_drift(args: argparse.Namespace, report: Report) -> None:
    project = _project(args, report)
    order = project.revisions_in_order()
    report.revisions = len(order)
    with (
        _server(args) as server,
        scratch_database(server, "drift") as url,
        Migrator(project, url, server.timeouts) as migrator,
    ):
        migrator.upgrade(*order, one_run=True)
        report.findings += drift_findings(migrator)


def offline(args: argparse.Namespace) -> bool:
    """``[tool.mks-db] offline``: whether production runs the rendered SQL (``alembic --sql``)."""
    value = str(args.options.get("offline", "false")).lower()
    if value not in ("true", "false"):
        raise ConfigurationError(f"[tool.mks-db] offline must be true or false, not {value!r}")
    return value == "true"


def _render_chosen(args: argparse.Namespace, project: Project) -> list[Rendered]:
    revisions = choose_revisions(project, args.since, args.revision, args.all)
    args.out = (args.out or project.root / BUILD_DIR).resolve()
    return write_sql(project, revisions, args.out)


def run_sql(args: argparse.Namespace, report: Report) -> None:
    project = _project(args, report)
    rendered = _render_chosen(args, project)
    report.revisions = len({r.revision.revision for r in rendered})
    for r in rendered:
        print(r.path, file=sys.stderr)


def _not_rendered(args: argparse.Namespace, error: ProjectCodeError) -> Finding:
    """One finding for an env.py that does not run offline at all: no SQL to lint."""
    return Finding(
        "sql-parse",
        ERROR if offline(args) else WARNING,
        None,
        f"no revision's SQL could be rendered offline, so none was linted: {error}",
        error.path,
        error.line,
    )


def run_lint(args: argparse.Namespace, report: Report, session_timeouts: set[str] | None = None) -> None:
    project = _project(args, report)
    try:
        rendered = _render_chosen(args, project)
    except ProjectCodeError as exc:  # env.py itself does not run offline
        report.findings.append(_not_rendered(args, exc))
        rendered = []
    report.revisions = len({r.revision.revision for r in rendered})
    report.findings += lint(project, rendered, args.out, offline(args), session_timeouts)
    if args.since:
        report.findings += check_immutability(project, args.since)
        report.findings += check_behind_base(project, args.since)


def run_check(args: argparse.Namespace, report: Report) -> None:
    run_heads(args, report)
    if any(f.rule in BROKEN_GRAPH for f in report.findings):
        return  # the graph itself is broken: nothing can be migrated

    def lint_and_locks(server: Server, progress: Progress, session_timeouts: set[str] | None) -> None:
        progress.say("linting the rendered SQL")
        walked = report.revisions
        run_lint(args, report, session_timeouts)
        if args.since or args.revision:  # the new revisions' locks (all of them would take long)
            progress.say("measuring the new revisions' locks")
            run_locks(args, report, server)
        report.revisions = walked

    _walk(args, report, after=lint_and_locks, at_head=drift_findings)


def lock_settings(args: argparse.Namespace) -> LockSettings:
    """[tool.mks-db.locks] (rows, budget-seconds, rewrite-rows, production-rows), then flags."""
    configured = dict(args.options.get("locks", {}))
    settings = LockSettings(
        rows=int(configured.pop("rows", 100_000)),
        budget_seconds=float(configured.pop("budget-seconds", 2.0)),
        rewrite_rows=int(configured.pop("rewrite-rows", 1_000_000)),
        production_rows={k: int(v) for k, v in configured.pop("production-rows", {}).items()},
    )
    if configured:
        raise ConfigurationError(f"unknown [tool.mks-db.locks] setting {', '.join(configured)}")
    if getattr(args, "rows", None):
        settings.rows = args.rows
    return settings


def run_locks(args: argparse.Namespace, report: Report, server: Server | None = None) -> None:
    project = _project(args, report)
    revisions = choose_revisions(project, args.since, args.revision, args.all)
    settings = lock_settings(args)
    report.revisions = report.revisions or len(revisions)
    if not revisions:
        return
    with contextlib.nullcontext(server) if server else _server(args) as live:
        measured = analyse(project, live, revisions, settings)
    report.findings += lock_findings(project, measured, settings)
    report.extra_markdown = lock_table(measured, settings)


def run_hook(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config, load_revisions=False)
    paths = revision_paths(project, args.files)
    files = revision_files(project)
    report.revisions = len(paths)
    report.findings += check_heads(project, files) + check_files(project, paths)
    base = args.base or args.options.get("base-ref")
    if base and git.ref_exists(project.root, base):
        report.findings += check_immutability(project, base) + check_behind_base(project, base, files)
    if not paths or any(f.is_error and f.check != "immutability" for f in report.findings):
        return  # nothing to render, or files that would not load
    project = _project(args, report)
    by_path = {Path(r.path).resolve(): r for r in project.revisions_in_order()}
    revisions = [by_path[p] for p in paths if p in by_path]
    out = project.root / BUILD_DIR
    try:
        rendered = write_sql(project, revisions, out)
    except ProjectCodeError as exc:  # env.py itself does not run offline
        report.findings.append(_not_rendered(args, exc))
        return
    report.findings += lint(project, rendered, out, offline(args))


COMMANDS = {
    "check": run_check,
    "heads": run_heads,
    "roundtrip": run_roundtrip,
    "drift": run_drift,
    "sql": run_sql,
    "lint": run_lint,
    "hook": run_hook,
    "locks": run_locks,
    "plan": run_plan,
    "deploy": run_deploy,
    "backup": run_backup,
    "restore": run_restore,
}
