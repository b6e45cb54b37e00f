"""``mks-db``: the command line. Parses flags, runs one command, renders its report.

Exit status: 0 clean, 1 error findings, 2 usage or configuration, 3 infrastructure.

Standard output carries the report and nothing else: while the command runs, whatever the
project's env.py, revisions, logging or subprocesses print goes to standard error. Every
ending is a report: an error that stops the command is one line on standard error, and with
``--format json`` or ``github`` it is in the report too, with the exit status it stands for.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TextIO

from mks_db import commands
from mks_db.config import LockLimits, Settings, SettingsError, load_settings
from mks_db.database import interrupt
from mks_db.errors import EXIT_INFRASTRUCTURE, ConfigurationError, MksDbError, Stop
from mks_db.limits import MIN_PART
from mks_db.production import deploy_settings
from mks_db.report import FORMATS, render
from mks_db.report.model import Report, error_line


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {value!r}")
    return int(value)


def _add_target_revision(parser: argparse.ArgumentParser) -> None:
    """``--to`` and ``--allow-downgrade``, for ``plan`` and ``deploy``."""
    parser.add_argument("--to", default="heads", metavar="REV", help="target revision (default: head)")
    parser.add_argument(
        "--allow-downgrade",
        nargs="?",
        const=True,
        default=False,
        type=_yes_no,
        metavar="true|false",
        help="when --to is behind the database, run the downgrades of the revisions it does not "
        "contain (refused otherwise; a value, for a workflow's boolean input)",
    )


def _yes_no(value: str) -> bool:
    """``true`` or ``false`` (a workflow's boolean input as text), any case."""
    if value.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"must be true or false, not {value!r}")
    return value.lower() == "true"


def _common() -> argparse.ArgumentParser:
    """The flags every command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="ALEMBIC_INI",
        help="the project's alembic.ini (default: ./alembic.ini)",
    )
    common.add_argument(
        "--app",
        metavar="IMPORT",
        help="a Flask-Migrate project's application, as flask --app names it (default: "
        "[tool.mks-db] flask-app, else FLASK_APP, else wsgi.py or app.py, when no alembic.ini is here)",
    )
    common.add_argument("--format", choices=FORMATS, help="report format (default: human)")
    common.add_argument(
        "-v", "--verbose", action="store_true", help="the human format lists every migration step"
    )
    common.add_argument(
        "--json-report",
        metavar="FILE",
        type=Path,
        help="also write the report as JSON to FILE (one run for annotations and an artifact)",
    )
    return common


def _scratch_server() -> argparse.ArgumentParser:
    """The server the checks make scratch databases on, and their time bounds."""
    database = argparse.ArgumentParser(add_help=False)
    _database_url(
        database,
        "a PostgreSQL server to create scratch databases on "
        "(default: $DATABASE_URL, else an embedded server); checks never touch its databases",
    )
    database.add_argument(
        "--statement-timeout",
        metavar="DURATION",
        help="the longest any statement may run in a scratch database, e.g. 90s or 5min "
        "(default: [tool.mks-db] statement-timeout, else 60s)",
    )
    database.add_argument(
        "--lock-timeout",
        metavar="DURATION",
        help="the longest any statement may wait for a lock there (default: [tool.mks-db] "
        "lock-timeout, else 10s)",
    )
    database.add_argument(
        "--postgres",
        metavar="MAJOR",
        help="production's PostgreSQL major: the embedded server runs it where installed, and a "
        "server of another major is named (default: [tool.mks-db] postgres)",
    )
    return database


def _walk() -> argparse.ArgumentParser:
    """How the roundtrip walk is split."""
    walk = argparse.ArgumentParser(add_help=False)
    walk.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        metavar="N",
        help="walk a long chain in at most N parts at once, one process each "
        f"(default: one per CPU, each of at least {MIN_PART} revisions)",
    )
    return walk


def _revision_choice(
    parser: argparse.ArgumentParser, since: str, every: str, revision: str | None = None
) -> None:
    """``--since``, ``--revision`` (with its ``revision`` help only) and ``--all``, one at most,
    with their help for what ``parser``'s commands do with the revisions."""
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--since", metavar="GIT_REF", help=since)
    if revision:
        chosen.add_argument("--revision", metavar="REV", help=revision)
    chosen.add_argument("--all", action="store_true", help=every)


def _selection() -> argparse.ArgumentParser:
    """Which revisions a command renders, lints or measures, and where the SQL goes."""
    selection = argparse.ArgumentParser(add_help=False)
    _revision_choice(
        selection,
        since="the revisions added or changed against this ref (a pull request's base branch); "
        "also checks that revisions on the ref did not change",
        every="every revision (the default)",
        revision="this revision only",
    )
    selection.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=f"where the rendered SQL goes (default: {commands.SQL_DIR} beside alembic.ini)",
    )
    return selection


def _since() -> argparse.ArgumentParser:
    """Which revisions a walk starts from."""
    since = argparse.ArgumentParser(add_help=False)
    _revision_choice(
        since,
        since="walk only the revisions added or changed against this ref, from a plain upgrade "
        "to those before them (a pull request's base branch)",
        every="walk every revision (the default)",
    )
    return since


def _target() -> argparse.ArgumentParser:
    """The database a production command acts on."""
    target = argparse.ArgumentParser(add_help=False)
    _database_url(target, "the database to act on (default: $DATABASE_URL); in production, production's")
    return target


def _database_url(parser: argparse.ArgumentParser, role: str) -> None:
    """``--database-url``, as ``$DATABASE_URL``: the PostgreSQL the command connects to. What it
    does there is the command's: the checks create scratch databases on that server and touch
    no other, while plan, deploy, backup and restore act on the database it names."""
    parser.add_argument("--database-url", metavar="URL", help=role)


def _locks_flags(locks_parser: argparse.ArgumentParser) -> None:
    locks_parser.add_argument(
        "--rows", type=int, metavar="N", help=f"rows per touched table (default {LockLimits.rows})"
    )


def _hook_flags(hook: argparse.ArgumentParser) -> None:
    hook.add_argument("files", nargs="*", metavar="FILE", help="changed files (revision files are checked)")
    hook.add_argument(
        "--base",
        metavar="GIT_REF",
        help="the branch merged revisions live on (default: [tool.mks-db] base-ref, if it exists)",
    )


def _heads_flags(heads: argparse.ArgumentParser) -> None:
    heads.add_argument(
        "--since",
        metavar="GIT_REF",
        help="also report new revisions that revise something older than this ref's head",
    )


def _roundtrip_flags(roundtrip_parser: argparse.ArgumentParser) -> None:
    roundtrip_parser.add_argument(
        "--no-data",
        action="store_true",
        help="skip filling tables with generated rows",
    )


def _plan_flags(plan: argparse.ArgumentParser) -> None:
    _add_target_revision(plan)
    plan.add_argument(
        "--scratch-url",
        metavar="URL",
        help="a server for the scratch database the expected schema is rebuilt in "
        "(default: $MKS_DB_SCRATCH_URL, else the embedded server; never the target's server "
        "unless named here)",
    )


VERIFY_HELP = (
    "how the backup is proven before anything changes: restore it into a scratch database "
    "and compare its revision and row counts (restore), read it back (list), or restore up "
    "to 1 GiB (auto, the default; [tool.mks-db.deploy] verify)"
)


def _deploy_flags(deploy_parser: argparse.ArgumentParser) -> None:
    _add_target_revision(deploy_parser)
    deploy_parser.add_argument(
        "--dry-run",
        nargs="?",
        const=True,
        default=False,
        type=_yes_no,
        metavar="true|false",
        help="lock and plan only; change nothing (a value, for a workflow's boolean input)",
    )
    deploy_parser.add_argument("--on-failure", choices=("stop", "rollback"), help="default: stop")
    deploy_parser.add_argument(
        "--service",
        choices=("stop", "auto"),
        help="stop the application for the migration (stop, the default), or leave it running "
        "when every pending revision is online: compatible with the running release, its locks "
        "within the budget at production's size (auto; mks-db plan shows which)",
    )
    deploy_parser.add_argument(
        "--backup-dir",
        metavar="DIR",
        help="where the backup taken before any change is written "
        "(default: [tool.mks-db.deploy] backup-dir, else ./backups)",
    )
    deploy_parser.add_argument(
        "--lock-wait", type=float, metavar="SECONDS", help="how long to wait for another deploy's lock"
    )
    deploy_parser.add_argument("--scratch-url", metavar="URL", help="as for plan")
    deploy_parser.add_argument("--verify", choices=("restore", "list", "auto"), help=VERIFY_HELP)


def _backup_flags(backup_parser: argparse.ArgumentParser) -> None:
    backup_parser.add_argument(
        "--backup-dir",
        metavar="DIR",
        type=Path,
        help="default: [tool.mks-db.deploy] backup-dir, else ./backups",
    )
    backup_parser.add_argument("--verify", choices=("restore", "list", "auto"), help=VERIFY_HELP)
    backup_parser.add_argument(
        "--scratch-url", metavar="URL", help="the server the backup is restored on to verify it (as for plan)"
    )


def _restore_flags(restore_parser: argparse.ArgumentParser) -> None:
    restore_parser.add_argument("file", type=Path, metavar="FILE", help="a .dump made by mks-db backup")
    restore_parser.add_argument("--yes", action="store_true", help="do not ask before replacing")
    restore_parser.add_argument(
        "--other-database",
        action="store_true",
        help="restore a backup of another database than the URL names (refused otherwise)",
    )


def _revision_flags(revision_parser: argparse.ArgumentParser) -> None:
    revision_parser.add_argument("-m", "--message", required=True, help="the revision's message")
    revision_parser.add_argument(
        "--autogenerate", action="store_true", help="fill upgrade() and downgrade() from the models"
    )
    revision_parser.add_argument("--head", default="head", help="the revision to base it on (default: head)")
    revision_parser.add_argument("--rev-id", metavar="ID", help="the revision id (default: a new random one)")


def _rebase_flags(rebase_parser: argparse.ArgumentParser) -> None:
    rebase_parser.add_argument(
        "--onto",
        metavar="HEAD",
        help="the head to build on (default: the one the base branch holds: base-ref, else origin/HEAD)",
    )


# The commands in the order ``mks-db --help`` lists them: (name, the shared flags it takes,
# its one-line help, the function adding its own flags).
COMMANDS = (
    (
        "check",
        ("common", "database", "walk", "selection"),
        "every check in one pass: heads, roundtrip with rows, drift, SQL lint, and with "
        "--since the immutability of merged revisions, the base's models on the new revisions "
        "(compat) and their locks",
        None,
    ),
    (
        "sql",
        ("common", "selection"),
        "render each revision's upgrade and downgrade SQL (offline) into files",
        None,
    ),
    (
        "locks",
        ("common", "database", "selection"),
        "measure each revision's locks, rewrites and time on tables holding N rows",
        _locks_flags,
    ),
    (
        "compat",
        ("common", "database", "selection"),
        "run the base's models (the running release's) on the revisions new since --since: "
        "a SELECT, INSERT, UPDATE and DELETE per mapped table",
        None,
    ),
    (
        "hook",
        ("common",),
        "for pre-commit: static checks, heads, immutability, render and lint of FILES",
        _hook_flags,
    ),
    (
        "lint",
        ("common", "selection"),
        "render and lint the SQL: PostgreSQL parser, sqlfluff, squawk (no database)",
        None,
    ),
    (
        "heads",
        ("common",),
        "exactly one head, no duplicate ids, missing parents or cycles (no database)",
        _heads_flags,
    ),
    (
        "roundtrip",
        ("common", "database", "walk", "since"),
        "every revision upgrades, downgrades exactly, upgrades again; rows survive",
        _roundtrip_flags,
    ),
    (
        "drift",
        ("common", "database", "since"),
        "the models match the schema the migrations build (at head, with or without --since)",
        None,
    ),
    (
        "plan",
        ("common", "target"),
        "read only: the target database's revision, what a deploy would apply, schema drift",
        _plan_flags,
    ),
    (
        "deploy",
        ("common", "target"),
        "lock, back up, apply the plan revision by revision, verify, check health, record",
        _deploy_flags,
    ),
    ("backup", ("common", "target"), "pg_dump (custom format), verified, recorded", _backup_flags),
    ("restore", ("common", "target"), "restore a verified backup (asks first)", _restore_flags),
    (
        "revision",
        ("common",),
        "write a new revision as alembic revision does; --autogenerate compares the models "
        "with a scratch database at head (no database of your own needed; with DATABASE_URL set, "
        "the database it names, as for alembic)",
        _revision_flags,
    ),
    (
        "rebase",
        ("common",),
        "join two heads into one line: re-point this branch's first revision onto the other "
        "head (for linear-history; no database)",
        _rebase_flags,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """``mks-db`` and its commands (``COMMANDS``), each with the shared flags it takes; a
    command's ``--help`` opens with the line ``mks-db --help`` lists it with."""
    shared = {
        "common": _common(),
        "database": _scratch_server(),
        "walk": _walk(),
        "selection": _selection(),
        "since": _since(),
        "target": _target(),
    }
    parser = argparse.ArgumentParser(
        prog="mks-db",
        description="Prove Alembic migrations safe before they merge; apply them to production safely.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, parents, help_line, own_flags in COMMANDS:
        command = subcommands.add_parser(
            name,
            parents=[shared[p] for p in parents],
            help=help_line,
            description=help_line[0].upper() + help_line[1:] + ".",
        )
        if own_flags:
            own_flags(command)
    return parser


# What an interrupted command leaves true of the database it acts on (a deploy prints its own
# state before the interruption reaches here).
AFTER_SIGNAL = {
    "plan": "; plan only reads: production is unchanged",
    "backup": "; backup only reads: the database is unchanged, and no partial backup is kept",
}


def main(argv: list[str] | None = None) -> int:
    """Run ``mks-db ARGV``; the report goes to the standard output found at the start."""
    args = build_parser().parse_args(argv)
    interrupt.install()
    report = Report(command=args.command, verbose=args.verbose)
    fmt = args.format or "human"  # until the settings say otherwise
    started = time.perf_counter()
    out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            settings = load_settings(vars(args))
            fmt = settings.format
            _check_deploy_settings(settings)
            if args.json_report:
                _claim_json_report(args.json_report)
            commands.run(args.command, args, settings, report)
    except Stop:
        pass  # the report holds why
    except SettingsError as exc:
        report.error = exc
        fmt = exc.report_format
    except MksDbError as exc:
        report.error = exc
    except BaseException as exc:
        # A statement cancelled by the signal fails wherever it was: that is the interruption too.
        if isinstance(exc, KeyboardInterrupt) or interrupt.was_requested():
            print(
                f"mks-db: interrupted; scratch databases were dropped{AFTER_SIGNAL.get(args.command, '')}",
                file=sys.stderr,
            )
            return 128 + int(interrupt.signal_number)  # 130 for Ctrl-C, 143 for SIGTERM
        if not isinstance(exc, Exception):
            raise
        report.error = _internal_error(exc)
    report.seconds = time.perf_counter() - started
    try:
        _write_report(report, fmt, out)
        if args.json_report and args.json_report.is_file():  # claimed at the start
            _write_json_report(report, args.json_report)
    except MksDbError as exc:
        report.error = report.error or exc
        _print_error(exc)
        return exc.exit_code
    if report.error is not None:
        _print_error(report.error)
    return report.exit_code


def _check_deploy_settings(settings: Settings) -> None:
    """``[tool.mks-db.deploy]`` checked for every command, before anything runs: a typo stops
    ``mks-db heads`` as it stops a deploy (SettingsError, one line per problem)."""
    try:
        deploy_settings.from_table(settings.deploy)
    except ConfigurationError as exc:
        raise SettingsError(str(exc).splitlines(), settings.format) from None


def _write_report(report: Report, fmt: str, out: TextIO) -> None:
    """Render the report to ``out`` and flush it. A reader that closed ``out`` early
    (``mks-db heads | head -1``) has what it wanted: the rest is dropped quietly, with ``out``'s
    file descriptor pointed at os.devnull so that no later flush (the interpreter's last one
    included) fails again, and the command keeps the exit status of its verdict."""
    try:
        render(report, fmt, out)
        out.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)


def _print_error(error: MksDbError) -> None:
    """``mks-db: error: ...`` on standard error: the error as it is (a deploy's may go on with
    where production stands), bad settings one such line each."""
    text = error_line(error)
    for line in text.splitlines() if isinstance(error, SettingsError) else [text]:
        print(f"mks-db: error: {line}", file=sys.stderr)


def _claim_json_report(path: Path) -> None:
    """Make sure ``--json-report``'s file can be written before the command runs (a deploy must
    not migrate production and then fail on its report): its directory made, the file opened
    for appending (created empty, an existing one left as it is until the report replaces it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the JSON report to {path} ({exc.strerror or exc}); choose a writable "
            "path; nothing was run"
        ) from None


def _write_json_report(report: Report, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            render(report, "json", out)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the JSON report to {path} ({exc.strerror or exc}); choose a writable path"
        ) from None


class InternalError(MksDbError):
    exit_code = EXIT_INFRASTRUCTURE


def _internal_error(exc: Exception) -> InternalError:
    """A failure mks-db did not foresee: one line (the traceback with MKS_DB_DEBUG=1)."""
    if os.environ.get("MKS_DB_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)
    first = (str(exc).strip().splitlines() or [""])[0]
    return InternalError(
        f"mks-db failed unexpectedly ({type(exc).__name__}: {first}); "
        "run again with MKS_DB_DEBUG=1 for the traceback and report it"
    )


def entry() -> int:
    """The ``mks-db`` console script: ``main`` with the report on the process's standard
    output, and file descriptor 1 pointed at standard error while the command runs, so that
    subprocesses and C code started by the project's env.py cannot write into the report."""
    sys.stdout.flush()
    report_fd = os.dup(1)
    os.dup2(2, 1)
    with os.fdopen(report_fd, "w", encoding="utf-8") as report_out:
        sys.stdout = report_out
        try:
            return main()
        finally:
            report_out.flush()
            sys.stdout = sys.__stdout__
