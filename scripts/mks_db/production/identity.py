"""Which server and which database a connection really reached.

A URL names a server, but libpq fills what it leaves out from the environment, and the client
tools and SQLAlchemy are two routes to it. Before a deploy changes anything, the database its
backup was taken from and the database it migrates must be proven the same: the server's
system identifier (set once by initdb, the same on no two clusters), the database's name and
its oid (a database dropped and re-created under the same name gets a new oid).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database.libpq import run_tool, tool
from mks_db.database.server import describe_db_error, own_engine
from mks_db.database.urls import mask_url
from mks_db.errors import ConfigurationError, InfrastructureError

IDENTITY_SQL = (
    "SELECT (SELECT system_identifier FROM pg_control_system())::text, current_database(), "
    "(SELECT oid FROM pg_database WHERE datname = current_database())::bigint"
)


@dataclass(frozen=True)
class Identity:
    """A database on a server: the server's system identifier, the database's name and oid."""

    system_identifier: str
    database: str
    oid: int

    def __str__(self) -> str:
        return f"database {self.database} (oid {self.oid}) on server {self.system_identifier}"


def read(connection: Connection) -> Identity:
    """The identity of the database ``connection`` is connected to (SQLAlchemy's route)."""
    system_identifier, database, oid = connection.execute(text(IDENTITY_SQL)).one()
    return Identity(str(system_identifier), str(database), int(oid))


def read_with_psql(url: URL, server_major: int) -> Identity:
    """The identity of the database the client tools reach for ``url`` (psql for a server of
    ``server_major``, same environment as pg_dump and pg_restore get)."""
    result = run_tool(
        [
            tool("psql", server_major),
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "|",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            IDENTITY_SQL,
        ],
        url,
        "psql (which server the client tools reach)",
    )
    system_identifier, database, oid = result.stdout.strip().split("|")
    return Identity(system_identifier, database, int(oid))


def prove(url: URL, source: str) -> tuple[Identity, int]:
    """Prove, before anything is read for a plan or written anywhere, that the two routes to
    ``url`` (SQLAlchemy's, which libpq completes from ``PGHOST``, ``PGPORT``, ``PGDATABASE``,
    ``PGUSER``, ``PGSERVICE``; and the client tools', which get the URL's parameters only)
    reach one database; return its identity and the server's PostgreSQL major.

    InfrastructureError (one line, naming ``source``) when it cannot be reached;
    ConfigurationError when the routes reach two databases: the URL leaves something out."""
    engine = own_engine(url)
    try:
        with engine.connect() as connection:
            found = read(connection)
            major = int(connection.dialect.server_version_info[0])
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot connect to {mask_url(url)} (given by {source}): {describe_db_error(exc)}; "
            f"nothing was read or changed: check {source}"
        ) from None
    finally:
        engine.dispose()
    try:
        by_tools = read_with_psql(url, major)
    except InfrastructureError as exc:
        raise InfrastructureError(
            f"{exc}\nnothing was read or changed: the client tools get only the URL's own "
            f"parameters, and SQLAlchemy reached {found} with it; put host, port, user and "
            f"database in {source} itself"
        ) from None
    if by_tools != found:
        raise ConfigurationError(
            f"{source} {mask_url(url)} reaches {found} through SQLAlchemy but {by_tools} through "
            "the client tools: it leaves out what libpq then takes from PGHOST, PGPORT, "
            "PGDATABASE, PGUSER or PGSERVICE; nothing was read or changed. Put host, port, user "
            "and database in the URL itself"
        )
    return found, major


def require_same(backed_up: Identity, migrated: Identity) -> None:
    """Raise ConfigurationError (one line, what to do) unless the database about to be migrated
    is the one the backup was taken of."""
    if backed_up != migrated:
        raise ConfigurationError(
            f"the backup is of {backed_up} but the deploy would migrate {migrated}; refusing: "
            "nothing was migrated. Put host, port, user and database in the URL itself (libpq "
            "fills what it leaves out from PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE) and "
            "unset those variables"
        )
