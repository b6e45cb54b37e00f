"""``mks-db``: the command line. Parses flags, runs one command, renders its report.

Exit status: 0 clean, 1 error findings, 2 usage or configuration, 3 infrastructure.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from sqlalchemy.engine import URL

from mks_db import git, interrupt
from mks_db.backup import backup, restore, verify
from mks_db.deploy import Settings as DeploySettings
from mks_db.deploy import deploy
from mks_db.drift import drift_findings
from mks_db.errors import ConfigurationError, MksDbError
from mks_db.heads import BROKEN_GRAPH, check_heads, revision_files
from mks_db.immutability import check_behind_base, check_immutability
from mks_db.lint import lint
from mks_db.locks import Settings as LockSettings
from mks_db.locks import analyse
from mks_db.locks import findings as lock_findings
from mks_db.locks import table as lock_table
from mks_db.migrate import Migrator
from mks_db.options import load_options
from mks_db.plan import make_plan
from mks_db.project import Project, load_project
from mks_db.render import BUILD_DIR, Rendered, choose_revisions, write_sql
from mks_db.report import FORMATS, Report, render
from mks_db.roundtrip import roundtrip
from mks_db.server import open_server, scratch_database
from mks_db.static import check_files, revision_paths
from mks_db.urls import mask_text, mask_url, parse_url


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="ALEMBIC_INI",
        help="the project's alembic.ini (default: ./alembic.ini)",
    )
    common.add_argument("--format", choices=FORMATS, help="report format (default: human)")
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL server to create scratch databases on "
        "(default: $DATABASE_URL, else an embedded server); checks never touch its databases",
    )

    selection = argparse.ArgumentParser(add_help=False)
    chosen = selection.add_mutually_exclusive_group()
    chosen.add_argument(
        "--since",
        metavar="GIT_REF",
        help="the revisions added or changed against this ref (a pull request's base branch); "
        "also checks that revisions on the ref did not change",
    )
    chosen.add_argument("--revision", metavar="REV", help="this revision only")
    chosen.add_argument("--all", action="store_true", help="every revision (the default)")
    selection.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=f"where the rendered SQL goes (default: {BUILD_DIR} beside alembic.ini)",
    )

    parser = argparse.ArgumentParser(
        prog="mks-db",
        description="Prove Alembic migrations safe before they merge; apply them to production safely.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "check",
        parents=[common, database, selection],
        help="every check in one pass: heads, roundtrip with rows, drift, SQL lint, and with "
        "--since the immutability of merged revisions and the new revisions' locks",
    )
    commands.add_parser(
        "sql",
        parents=[common, selection],
        help="render each revision's upgrade and downgrade SQL (offline) into files",
    )
    locks_parser = commands.add_parser(
        "locks",
        parents=[common, database, selection],
        help="measure each revision's locks, rewrites and time on tables holding N rows",
    )
    locks_parser.add_argument("--rows", type=int, metavar="N", help="rows per touched table (default 100000)")
    hook = commands.add_parser(
        "hook",
        parents=[common],
        help="for pre-commit: static checks, heads, immutability, render and lint of FILES",
    )
    hook.add_argument("files", nargs="*", metavar="FILE", help="changed files (revision files are checked)")
    hook.add_argument(
        "--base",
        metavar="GIT_REF",
        help="the branch merged revisions live on (default: [tool.mks-db] base-ref, if it exists)",
    )
    commands.add_parser(
        "lint",
        parents=[common, selection],
        help="render and lint the SQL: PostgreSQL parser, sqlfluff, squawk (no database)",
    )
    heads = commands.add_parser(
        "heads",
        parents=[common],
        help="exactly one head, no duplicate ids, missing parents or cycles (no database)",
    )
    heads.add_argument(
        "--since",
        metavar="GIT_REF",
        help="also report new revisions that revise something older than this ref's head",
    )
    roundtrip_parser = commands.add_parser(
        "roundtrip",
        parents=[common, database],
        help="every revision upgrades, downgrades exactly, upgrades again; rows survive",
    )
    roundtrip_parser.add_argument(
        "--no-data",
        action="store_true",
        help="skip filling tables with generated rows",
    )
    commands.add_parser(
        "drift",
        parents=[common, database],
        help="the models match the schema the migrations build",
    )
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--database-url",
        metavar="URL",
        help="the database to act on (default: $DATABASE_URL); in production, production's",
    )
    plan = commands.add_parser(
        "plan",
        parents=[common, target],
        help="read only: the target database's revision, what a deploy would apply, schema drift",
    )
    plan.add_argument("--to", default="heads", metavar="REV", help="target revision (default: head)")
    plan.add_argument(
        "--scratch-url",
        metavar="URL",
        help="a server for the scratch database the expected schema is rebuilt in "
        "(default: $MKS_DB_SCRATCH_URL, else the embedded server; never the target's server "
        "unless named here)",
    )
    deploy_parser = commands.add_parser(
        "deploy",
        parents=[common, target],
        help="lock, back up, apply the plan revision by revision, verify, check health, record",
    )
    deploy_parser.add_argument("--to", default="heads", metavar="REV", help="target revision (default: head)")
    deploy_parser.add_argument("--dry-run", action="store_true", help="lock and plan only; change nothing")
    deploy_parser.add_argument("--on-failure", choices=("stop", "rollback"), help="default: stop")
    deploy_parser.add_argument("--backup-dir", metavar="DIR")
    deploy_parser.add_argument(
        "--lock-wait", type=float, metavar="SECONDS", help="how long to wait for another deploy's lock"
    )
    deploy_parser.add_argument("--scratch-url", metavar="URL", help="as for plan")
    backup_parser = commands.add_parser(
        "backup", parents=[common, target], help="pg_dump (custom format), verified, recorded"
    )
    backup_parser.add_argument("--backup-dir", metavar="DIR", type=Path, help="default: ./backups")
    restore_parser = commands.add_parser(
        "restore", parents=[common, target], help="restore a verified backup (asks first)"
    )
    restore_parser.add_argument("file", type=Path, metavar="FILE", help="a .dump made by mks-db backup")
    restore_parser.add_argument("--yes", action="store_true", help="do not ask before replacing")
    return parser


def _target_url(args: argparse.Namespace) -> URL:
    raw = args.database_url or os.environ.get("DATABASE_URL")
    if not raw:
        raise ConfigurationError(
            "no database to act on: pass --database-url or set DATABASE_URL (this command, "
            "unlike the checks, works on the database itself)"
        )
    return parse_url(raw, source="--database-url" if args.database_url else "DATABASE_URL")


def run_plan(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    url = _target_url(args)
    with open_server(args.scratch_url or os.environ.get("MKS_DB_SCRATCH_URL")) as scratch:
        plan = make_plan(project, url, scratch, args.to)
    report.plan = plan
    report.revisions = len(plan.pending)
    report.failed = not plan.ok


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
    ):
        if getattr(args, flag, None) is not None:
            setattr(settings, name, getattr(args, flag))
    return settings


def run_deploy(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    url = _target_url(args)
    with open_server(args.scratch_url or os.environ.get("MKS_DB_SCRATCH_URL")) as scratch:
        outcome = deploy(project, url, scratch, deploy_settings(args), args.to, args.dry_run)
    if outcome.plan is not None and (args.dry_run or not outcome.ok and not outcome.applied):
        report.plan = outcome.plan
    report.lines += [
        f"{step['revision']}: applied in {step['seconds']}s "
        f"({step['attempts']} attempt{'s' if step['attempts'] > 1 else ''})"
        for step in outcome.applied
    ]
    if outcome.backup:
        report.lines.insert(0, f"backup {outcome.backup.path} (SHA-256 {outcome.backup.sha256}, verified)")
    report.lines.append(("deploy: " if outcome.ok else "deploy FAILED: ") + outcome.message)
    report.revisions = len(outcome.applied)
    report.failed = not outcome.ok


def run_backup(args: argparse.Namespace, report: Report) -> None:
    record = backup(_target_url(args), args.backup_dir or Path("backups"))
    report.lines.append(
        f"backup {record.path}: {record.bytes} bytes, SHA-256 {record.sha256} "
        "(verified with pg_restore --list)"
    )


def run_restore(args: argparse.Namespace, report: Report) -> None:
    url = _target_url(args)
    verify(args.file)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigurationError(f"restoring replaces {mask_url(url)}: pass --yes to confirm")
        answer = input(f"Replace the contents of {mask_url(url)} with {args.file}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ConfigurationError("restore cancelled; nothing changed")
    record = restore(args.file, url)
    report.lines.append(f"restored {record.path} (SHA-256 {record.sha256}) into {mask_url(url)}")


def _server(args: argparse.Namespace):
    return open_server(args.database_url or os.environ.get("DATABASE_URL"))


def run_heads(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config, load_revisions=False)
    files = revision_files(project)
    report.revisions = len(files)
    report.findings += check_heads(project, files)
    if args.command == "heads" and args.since:
        report.findings += check_behind_base(project, args.since)


def run_roundtrip(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    with _server(args) as server:
        roundtrip(project, server, report, with_data=not args.no_data)


def run_drift(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    order = project.revisions_in_order()
    report.revisions = len(order)
    with (
        _server(args) as server,
        scratch_database(server, "drift") as url,
        Migrator(project, url) as migrator,
    ):
        for revision in order:
            migrator.upgrade(revision)
        report.findings += drift_findings(migrator)


def _render_chosen(args: argparse.Namespace, project: Project) -> list[Rendered]:
    revisions = choose_revisions(project, args.since, args.revision, args.all)
    args.out = (args.out or project.root / BUILD_DIR).resolve()
    return write_sql(project, revisions, args.out)


def run_sql(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    rendered = _render_chosen(args, project)
    report.revisions = len({r.revision.revision for r in rendered})
    for r in rendered:
        print(r.path, file=sys.stderr)


def run_lint(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    rendered = _render_chosen(args, project)
    report.revisions = len({r.revision.revision for r in rendered})
    report.findings += lint(project, rendered, args.out)
    if args.since:
        report.findings += check_immutability(project, args.since)
        report.findings += check_behind_base(project, args.since)


def run_check(args: argparse.Namespace, report: Report) -> None:
    run_heads(args, report)
    if any(f.rule in BROKEN_GRAPH for f in report.findings):
        return  # the graph itself is broken: nothing can be migrated
    project = load_project(args.config)

    def at_head(migrator: Migrator) -> None:
        report.findings.extend(drift_findings(migrator))

    with _server(args) as server:
        roundtrip(project, server, report, at_head=at_head)
    walked = report.revisions
    run_lint(args, report)
    if args.since or args.revision:  # the new revisions' locks (all of them would take long)
        run_locks(args, report)
    report.revisions = walked


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


def run_locks(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    revisions = choose_revisions(project, args.since, args.revision, args.all)
    settings = lock_settings(args)
    report.revisions = report.revisions or len(revisions)
    if not revisions:
        return
    with _server(args) as live:
        measured = analyse(project, live, revisions, settings)
    report.findings += lock_findings(project, measured, settings)
    report.extra_markdown = lock_table(measured, settings)


def run_hook(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config, load_revisions=False)
    paths = revision_paths(project, args.files)
    report.revisions = len(paths)
    report.findings += check_heads(project) + check_files(project, paths)
    base = args.base or args.options.get("base-ref")
    if base and git.ref_exists(project.root, base):
        report.findings += check_immutability(project, base) + check_behind_base(project, base)
    if not paths or any(f.is_error and f.check != "immutability" for f in report.findings):
        return  # nothing to render, or files that would not load
    project = load_project(args.config)
    by_path = {Path(r.path).resolve(): r for r in project.revisions_in_order()}
    revisions = [by_path[p] for p in paths if p in by_path]
    out = project.root / BUILD_DIR
    report.findings += lint(project, write_sql(project, revisions, out), out)


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt.install()
    report = Report(command=args.command)
    started = time.perf_counter()
    try:
        options = load_options()
        args.options = options
        chosen = (
            getattr(args, "since", None) or getattr(args, "revision", None) or getattr(args, "all", False)
        )
        if hasattr(args, "since") and not chosen and os.environ.get("GITHUB_BASE_REF"):
            # In a pull request, the revisions new against the target branch by default.
            args.since = f"origin/{os.environ['GITHUB_BASE_REF']}"
        args.config = args.config or options.get("alembic-config")
        args.format = args.format or options.get("format", "human")
        if args.format not in FORMATS:
            raise ConfigurationError(f"[tool.mks-db] format must be one of {', '.join(FORMATS)}")
        COMMANDS[args.command](args, report)
    except MksDbError as exc:
        print(f"mks-db: error: {mask_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mks-db: interrupted; scratch databases were dropped", file=sys.stderr)
        return 128 + int(interrupt.signal_number)  # 130 for Ctrl-C, 143 for SIGTERM
    report.seconds = time.perf_counter() - started
    render(report, args.format)
    return report.exit_code
