"""What the commands that act on a named database share (plan, deploy, backup, restore): its
URL, the server the expected schema is rebuilt on, the deploy settings, warnings as they happen.
"""

from __future__ import annotations

import argparse
import os
from contextlib import AbstractContextManager

from sqlalchemy.engine import URL

from mks_db.commands.common import warn
from mks_db.config import Settings
from mks_db.database import installs
from mks_db.database.server import Server, open_server
from mks_db.database.urls import parse_url
from mks_db.errors import ConfigurationError, InfrastructureError
from mks_db.production import identity
from mks_db.production.deploy_settings import DeploySettings, from_table


def target_url(args: argparse.Namespace) -> URL:
    """The database to act on: ``--database-url``, else ``$DATABASE_URL`` (no default)."""
    raw = args.database_url or os.environ.get("DATABASE_URL")
    if not raw:
        raise ConfigurationError(
            "no database to act on: pass --database-url or set DATABASE_URL (this command, "
            "unlike the checks, works on the database itself)"
        )
    return parse_url(raw, source=target_source(args))


def target_source(args: argparse.Namespace) -> str:
    """Where the target's URL came from, as messages name it."""
    return "--database-url" if args.database_url else "DATABASE_URL"


def scratch_server(
    args: argparse.Namespace, major: int, extensions: tuple[str, ...] = ()
) -> AbstractContextManager[Server]:
    """The server the expected schema is rebuilt on, or a backup restored on to verify it:
    ``--scratch-url``, else ``$MKS_DB_SCRATCH_URL``, else the embedded server of PostgreSQL
    ``major`` where the machine has it (never the target's server unless named); a warning
    line when its major is another."""
    url = args.scratch_url or os.environ.get("MKS_DB_SCRATCH_URL")
    source = "--scratch-url" if args.scratch_url else "MKS_DB_SCRATCH_URL"
    return open_server(url, major=major, note=warn, source=source, extensions=extensions)


def proven_major(url: URL, source: str) -> int:
    """The PostgreSQL major of the target's server, once both routes to ``url`` are proven to
    reach one database (``identity.prove``): before anything is read for a plan or written."""
    return identity.prove(url, source)[1]


def restore_major(production_major: int) -> int:
    """The major a deploy's backup is proven on: at least that of the pg_dump that writes it
    (pg_restore 17 and newer cannot restore into an older server). Production's, when its
    client tools are installed, as they should be; when none are, production's, and the
    backup says what to install."""
    try:
        return installs.client_install(production_major).major
    except InfrastructureError:
        return production_major


def deploy_settings(settings: Settings) -> DeploySettings:
    """``[tool.mks-db.deploy]`` with the flags over it (the CLI has checked it already)."""
    return from_table(settings.deploy)
