"""``mks-db``: the command line. Parses flags, runs one command, renders its report.

Exit status: 0 clean, 1 error findings, 2 usage or configuration, 3 infrastructure.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from mks_db.chain import walk_chain
from mks_db.errors import MksDbError
from mks_db.project import load_project
from mks_db.report import FORMATS, Report, render
from mks_db.server import open_server
from mks_db.urls import mask_text


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", metavar="ALEMBIC_INI",
        help="the project's alembic.ini (default: ./alembic.ini)",
    )
    common.add_argument(
        "--database-url", metavar="URL",
        help="a PostgreSQL server to create scratch databases on "
        "(default: $DATABASE_URL, else an embedded server)",
    )
    common.add_argument("--format", choices=FORMATS, default="human", help="report format")

    parser = argparse.ArgumentParser(
        prog="mks-db", description="Prove Alembic migrations safe before they merge."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "check", parents=[common],
        help="run the whole chain from an empty database to head and back to base",
    )
    return parser


def run_check(args: argparse.Namespace, report: Report) -> None:
    project = load_project(args.config)
    with open_server(args.database_url or os.environ.get("DATABASE_URL")) as server:
        walk_chain(project, server, report)


COMMANDS = {"check": run_check}


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds every `with`, so scratch databases are dropped


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    report = Report(command=args.command)
    started = time.perf_counter()
    try:
        COMMANDS[args.command](args, report)
    except MksDbError as exc:
        print(f"mks-db: error: {mask_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mks-db: interrupted; scratch databases were dropped", file=sys.stderr)
        return 130
    report.seconds = time.perf_counter() - started
    render(report, args.format)
    return report.exit_code


