"""PostgreSQL's client tools (pg_dump, pg_restore, psql), pointed at exactly the URL's server.

libpq takes every connection parameter the command line leaves out from the environment
(``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGSERVICE``, ...), so a tool started with
the caller's environment can reach another server than the URL names. ``client_environment``
therefore starts from the caller's environment without any ``PG*`` variable, then sets each
connection parameter psycopg2 receives for the same URL (SQLAlchemy's own translation: host,
socket directories from ``?host=``, several hosts, port, user, database, ``sslmode``,
``sslrootcert``, any other libpq keyword in the query) as the variable libpq reads it from.
The password travels in ``PGPASSWORD``: never on a command line, where ``ps`` shows it.
"""

from __future__ import annotations

import os
import subprocess

from sqlalchemy.engine import URL

from mks_db.database import installs, process
from mks_db.database.urls import mask_text, mask_url
from mks_db.errors import ConfigurationError
from mks_db.findings import at_most

# libpq's connection keywords and the environment variables it reads them from
# (PostgreSQL 17 documentation, "Environment Variables").
KEYWORD_VARIABLES = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "require_auth": "PGREQUIREAUTH",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "requiressl": "PGREQUIRESSL",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
# Keywords libpq reads from no variable that only keep a connection alive or name it: they
# change neither where a tool connects nor how it authenticates, so the tools go without them.
LIVENESS_ONLY = frozenset(
    {
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "fallback_application_name",
    }
)
MAX_ERROR_LINES = 200
# The caller's variables that say how to authenticate, not where to connect: the password
# (PGPASSWORD, used by libpq only when the URL has none), the password file and the service
# file (read only for the server, user and service the URL names), the directory of the
# latter. The tools get them as SQLAlchemy's route does.
CREDENTIALS = frozenset({"PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE", "PGSYSCONFDIR"})


def connection_keywords(url: URL) -> dict[str, str]:
    """The libpq keywords psycopg2 connects with for ``url`` (password included)."""
    _, keywords = url.get_dialect()().create_connect_args(url)
    return {name: str(value) for name, value in keywords.items() if value is not None}


def client_environment(url: URL, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a client tool runs in to reach exactly the server ``url`` names.

    Every ``PG*`` variable of ``base`` (default: this process's environment) is dropped but
    those that only say where the password (or a named service) is found, ``CREDENTIALS``: the
    password libpq would use for the URL's server, wherever it comes from, reaches the tools
    for that server; then each connection keyword of the URL is set as libpq's variable for
    it (the URL's own password first). Raises
    ConfigurationError, naming the parameter, when the URL holds a keyword libpq cannot take
    from the environment and that could change where or how a tool connects.
    """
    source = os.environ if base is None else base
    env = {name: value for name, value in source.items() if not name.startswith("PG") or name in CREDENTIALS}
    for keyword, value in connection_keywords(url).items():
        variable = KEYWORD_VARIABLES.get(keyword)
        if variable:
            env[variable] = value
        elif keyword not in LIVENESS_ONLY:
            raise ConfigurationError(
                f"the database URL's parameter {keyword!r} is not a libpq connection parameter "
                "that pg_dump, pg_restore and psql can be given; remove it from the URL"
            )
    return env


def tool(name: str, server_major: int) -> str:
    """A PostgreSQL client tool (pg_dump, pg_restore, psql) for a server of ``server_major``: of
    that major where installed, else the newest above it (``installs.client_install``, which
    raises InfrastructureError naming the package to install when none fits)."""
    return installs.client_install(server_major).program(name)


def run_tool(command: list[str], url: URL | None, what: str) -> subprocess.CompletedProcess:
    """Run a client tool against ``url`` (None: no connection, and no ``PG*`` variable either).

    Files it creates are readable by their owner only (umask 077). On failure, raises
    InfrastructureError holding the tool's whole error output (passwords masked).
    """
    env = client_environment(url) if url is not None else client_environment_without_server()
    target = f" of {mask_url(url)}" if url is not None else ""
    return process.run(
        command, f"{what}{target}", detail=lambda result: "\n" + error_text(result, url), env=env, umask=0o077
    )


def client_environment_without_server() -> dict[str, str]:
    """This process's environment without any ``PG*`` variable (for pg_restore --list)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


def error_text(result: subprocess.CompletedProcess, url: URL | None = None) -> str:
    """A failed tool's error output, every line (up to MAX_ERROR_LINES), indented, with any
    ``user:password@`` and the URL's own password masked."""
    secret = url.password if url is not None else None
    lines = (result.stderr or result.stdout or "").strip().splitlines() or ["(no message)"]
    lines = at_most(lines, MAX_ERROR_LINES)
    if secret:
        lines = [line.replace(str(secret), "***") for line in lines]
    return "\n".join(f"  {mask_text(line)}" for line in lines)
