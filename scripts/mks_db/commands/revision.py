"""``mks-db revision -m MESSAGE [--autogenerate]``: a new revision, as ``alembic revision``
writes it, without a database of one's own.

With ``--autogenerate`` the models are compared, as Alembic compares them, with a scratch
database that the chain has been upgraded to head in, on the embedded server (the "dev
database" the comparison needs, made and dropped for this command); the project's env.py runs
as for every check, and one that would reach another database is stopped before it reads
anything. With ``DATABASE_URL`` set, the command is ``alembic revision`` itself: env.py reads
the database that variable names, as it does for Alembic.
"""

from __future__ import annotations

import argparse
import os

from alembic import command
from alembic.config import Config
from alembic.script import Script
from alembic.util import CommandError

from mks_db.commands.common import checked_project, checks_server
from mks_db.config import Settings
from mks_db.database.server import scratch_database
from mks_db.engine.migrate import Migrator
from mks_db.errors import ConfigurationError, MksDbError, ProjectCodeError
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    if not args.autogenerate or os.environ.get("DATABASE_URL"):  # as alembic does it
        written = _revision(project.config(), args)
    else:
        with (
            checks_server(None, settings) as server,
            scratch_database(server, "revision") as url,
            Migrator(project, url, server.timeouts) as migrator,
        ):
            migrator.create_base()
            migrator.upgrade(*project.revisions_in_order(), one_run=True)
            migrator.probe()  # env.py on another database: stopped here, before it compares
            with migrator.environment() as config:
                written = _revision(config, args)
    report.lines += [f"wrote {project.relpath(script.path)}" for script in written]


def _revision(config: Config, args: argparse.Namespace) -> list[Script]:
    """Alembic's own ``revision`` command on ``config``; the revisions it wrote. What stops
    Alembic (a database behind head, a missing template) is one line, as alembic prints it."""
    try:
        found = command.revision(
            config,
            message=args.message,
            autogenerate=args.autogenerate,
            head=args.head,
            rev_id=args.rev_id,
        )
    except CommandError as exc:
        fix = (
            " upgrade it first (python3 -m alembic upgrade head), or unset DATABASE_URL: mks-db "
            "revision then compares with a scratch database at head"
            if "not up to date" in str(exc)
            else ""
        )
        raise ConfigurationError(f"alembic revision: {exc}{fix}") from None
    except OSError as exc:  # script.py.mako missing, the versions directory not writable
        raise ConfigurationError(
            f"alembic revision cannot write the revision ({exc.strerror}: {exc.filename}); "
            "alembic init writes the script.py.mako it needs"
        ) from None
    except MksDbError:
        raise
    except Exception as exc:  # env.py's or the models' own code
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ProjectCodeError(
            f"alembic revision failed ({type(exc).__name__}{': ' + first if first else ''}); "
            f"`python -m alembic revision{' --autogenerate' if args.autogenerate else ''} -m ...` "
            "fails the same way: fix it, then run again"
        ) from None
    return [s for s in (found if isinstance(found, list) else [found]) if s is not None]
