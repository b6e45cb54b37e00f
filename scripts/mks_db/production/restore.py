"""``mks-db restore``: a verified backup back in place of the database a URL names.

``pg_restore --clean`` into the live database drops only the objects the dump holds, so
anything a later deploy added (a table, a foreign key onto a table the dump recreates) stops
it halfway. Instead the backup is restored into a new database on the same server, with the
target's encoding, locale, owner, settings and privileges; it is verified there (the revision
and every table's row count as recorded at backup time); only then, in one short step, the
target is renamed away (its other sessions terminated, new connections refused meanwhile) and
the new database takes its name. The previous database is kept, under
``TARGET_before_restore_STAMP``, until the operator drops it. When anything fails before the
swap, the new database is dropped and the target was not touched.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database.libpq import run_tool, tool
from mks_db.database.server import Server, admin_engine, describe_db_error, own_engine, scratch_database
from mks_db.database.urls import mask_url
from mks_db.errors import ConfigurationError, InfrastructureError, MksDbError
from mks_db.production import history, identity, service
from mks_db.production.backup import Backup, row_counts, verify
from mks_db.production.deploy_settings import VERIFY_MODES, DeploySettings

MAINTENANCE_DATABASES = ("postgres", "template1")  # where the renames are run from
MAX_NAME = 63  # PostgreSQL's identifier length
SWAP_ATTEMPTS = 5


@dataclass(frozen=True)
class Restored:
    backup: Backup
    database: str  # the target's name, now the restored database
    kept: str  # the target as it was, renamed


def restore(
    path: Path,
    url: URL,
    other_database: bool = False,
    settings: DeploySettings | None = None,
    source: str = "--database-url",
) -> Restored:
    """Put the verified backup ``path`` in place of the database ``url`` names.

    Refuses (ConfigurationError, nothing changed) a file that fails verification, a URL that
    names no database, and a backup of another database than the URL's unless
    ``other_database``. Holds the deploy lock throughout (DeployRefused when a deploy or
    another restore holds it for ``settings.lock_wait_seconds``). With a stop command in the
    deploy ``settings``, the application is stopped just before the swap and started after it,
    whatever happened. InfrastructureError,
    with the server's or pg_restore's whole message, when the restore, its verification or the
    swap fails: the target then keeps its name and contents, and the restored copy is dropped.
    """
    record = verify(path)
    found, major = identity.prove(url, source)  # both routes reach one database, before anything
    target = found.database
    if record.database != target and not other_database:
        raise ConfigurationError(
            f"{path} is a backup of database {record.database}, and {mask_url(url)} names "
            f"{target}: restoring it would replace {target}'s data with {record.database}'s; "
            "nothing was restored (name the backup's database, or pass --other-database)"
        )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    fresh = _name(target, f"_restore_{stamp}")
    kept = _name(target, f"_before_restore_{stamp}")
    wait = settings.lock_wait_seconds if settings else DeploySettings.lock_wait_seconds
    with _deploy_lock(url, wait), _maintenance(url) as admin:
        _create_like(admin, target, fresh)
        try:
            _pg_restore(path, url, fresh, max(major, record.dumped_by))
            _check(url.set(database=fresh), record)
            _copy_database_properties(admin, target, fresh)
            with _stopped(settings):
                _require_endable_sessions(admin, target)
                _swap(admin, target, fresh, kept)
        except BaseException:
            if _exists(admin, fresh):
                _drop(admin, fresh)
            raise
    return Restored(record, target, kept)


@contextlib.contextmanager
def _stopped(settings: DeploySettings | None) -> Iterator[None]:
    """The application stopped for the block (when ``settings`` have a stop command), started
    again after it, whatever happened; a start that fails says the application is down and how
    to start it."""
    if settings is None or not settings.stop_command:
        yield
        return
    timeout = settings.command_timeout_seconds
    try:  # a stop that fails may have stopped it all the same: it is started again below
        service.run_command(settings.stop_command, "stop command", timeout)
        yield
    finally:
        try:
            service.run_command(settings.start_command, "start command", timeout)
        except MksDbError as exc:
            raise InfrastructureError(
                f"{exc}\nthe application is DOWN: start it with `{settings.start_command}`"
            ) from None


@contextlib.contextmanager
def _deploy_lock(url: URL, wait_seconds: float) -> Iterator[None]:
    """The deploy lock of the target database, held while the block runs (released by the
    swap at the latest, which ends every session on the target)."""
    engine = own_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            history.take_lock(connection, wait_seconds, "a deploy or another restore")
            yield
    finally:
        engine.dispose()


def _require_endable_sessions(admin: Connection, target: str) -> None:
    """InfrastructureError, before anything is renamed, when sessions on ``target`` belong to
    roles this one may not end (the swap would fail half-way): named, with the two ways out."""
    rows = admin.execute(
        text(
            "SELECT usename, pid FROM pg_stat_activity WHERE datname = :t AND pid <> pg_backend_pid()"
            " AND NOT pg_has_role(usesysid, 'MEMBER')"
            " AND NOT pg_has_role('pg_signal_backend', 'MEMBER')"
            " AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        ),
        {"t": target},
    ).all()
    if rows:
        sessions = ", ".join(f"{user} (pid {pid})" for user, pid in rows)
        role = admin.execute(text("SELECT current_user")).scalar()
        raise InfrastructureError(
            f"sessions of other roles are connected to {target} ({sessions}) and {role} may not "
            f"end them; nothing was restored: stop the application first (stop-command and "
            f"start-command in [tool.mks-db.deploy] make restore do it), or GRANT "
            f"pg_signal_backend TO {role}"
        )


# Up to this size a backup is proven by restoring it (``--verify restore``); above, by reading
# its table of contents (``list``). Restoring runs at roughly the speed pg_dump wrote the file:
# about a minute per GiB on a small server, which a deploy can afford before it changes
# anything; a larger dump would hold the deploy's lock for many minutes.
RESTORE_VERIFY_LIMIT = 1 << 30


def verify_restorable(record: Backup, scratch: Server, mode: str = "auto") -> str:
    """Prove the backup ``record`` restorable: ``restore`` it into a scratch database on
    ``scratch`` and compare the revision and each table's rows with those read in the snapshot
    pg_dump used; ``list`` trusts ``pg_restore --list`` (done when it was taken); ``auto``
    restores up to ``RESTORE_VERIFY_LIMIT``. Returns how it was verified; raises
    InfrastructureError, with pg_restore's whole message, when it does not restore."""
    if mode not in VERIFY_MODES:
        raise ConfigurationError(f"--verify must be one of {', '.join(VERIFY_MODES)}, not {mode!r}")
    if mode == "list" or (mode == "auto" and record.bytes > RESTORE_VERIFY_LIMIT):
        return "read back with pg_restore --list"
    if record.dumped_by > scratch.major:
        raise InfrastructureError(
            f"the backup was written by pg_dump {record.dumped_by} and the scratch server runs "
            f"PostgreSQL {scratch.major}: pg_restore {record.dumped_by} restores only into "
            f"PostgreSQL {record.dumped_by} or newer; give a scratch server of that major "
            "(--scratch-url, or its binaries by MKS_DB_PG_BIN)"
        )
    with scratch_database(scratch, "verify") as url:
        _pg_restore(
            Path(record.path), url, url.database, max(scratch.major, record.dumped_by), privileges=False
        )
        _check(url, record)
    return "restored into a scratch database: revision and row counts match"


def _name(target: str, suffix: str) -> str:
    """``target + suffix`` within PostgreSQL's 63 bytes (the target's part shortened)."""
    room = MAX_NAME - len(suffix.encode())
    return target.encode()[:room].decode(errors="ignore") + suffix


@contextlib.contextmanager
def _maintenance(url: URL) -> Iterator[Connection]:
    """An autocommit connection to a maintenance database of the URL's server."""
    errors = []
    for name in MAINTENANCE_DATABASES:
        engine = admin_engine(url.set(database=name))
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            engine.dispose()
            errors.append(f"{name}: {describe_db_error(exc)}")
            continue
        try:
            yield connection
        finally:
            connection.close()
            engine.dispose()
        return
    raise InfrastructureError(
        f"cannot connect to a maintenance database of {mask_url(url)} to create and rename "
        f"databases ({'; '.join(errors)}); nothing was restored"
    )


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def _execute(connection: Connection, statement: str, what: str, **params: object):
    try:
        return connection.execute(text(statement), params)
    except DBAPIError as exc:
        raise InfrastructureError(f"{what} failed: {_full_error(exc)}") from None


def _full_error(exc: DBAPIError) -> str:
    """The server's whole message (every line: error, detail, hint), passwords masked."""
    lines = [line.strip() for line in str(exc.orig).strip().splitlines() if line.strip()]
    return " | ".join(lines) or describe_db_error(exc)


def _create_like(admin: Connection, target: str, fresh: str) -> None:
    """Create ``fresh``, empty, with the target's encoding and locale."""
    row = _execute(
        admin,
        "SELECT to_jsonb(d) || jsonb_build_object('encoding_name', pg_encoding_to_char(d.encoding))"
        " FROM pg_database d WHERE datname = :name",
        "reading the target database's settings",
        name=target,
    ).scalar_one()
    options = [
        f"ENCODING '{row['encoding_name']}'",
        f"LC_COLLATE '{row['datcollate']}'",
        f"LC_CTYPE '{row['datctype']}'",
    ]
    provider = row.get("datlocprovider")
    locale = row.get("datlocale") or row.get("daticulocale")
    if provider == "i":
        options.append(f"LOCALE_PROVIDER icu ICU_LOCALE '{locale}'")
    elif provider == "b":
        options.append(f"LOCALE_PROVIDER builtin BUILTIN_LOCALE '{locale}'")
    _execute(
        admin,
        f"CREATE DATABASE {_quote(admin, fresh)} TEMPLATE template0 {' '.join(options)}",
        f"creating the database {fresh} to restore into (the user needs CREATEDB)",
    )


def _pg_restore(path: Path, url: URL, fresh: str, major: int, privileges: bool = True) -> None:
    """``pg_restore`` (of PostgreSQL ``major`` or newer) into the database ``fresh`` of ``url``'s
    server (``privileges``: also the GRANTs, which name roles that a scratch server does not have)."""
    quoted = fresh.replace("\\", "\\\\").replace("'", "\\'")
    run_tool(
        [
            tool("pg_restore", major),
            "--no-owner",
            *(() if privileges else ("--no-privileges",)),
            "--single-transaction",
            "--exit-on-error",
            f"--dbname=dbname='{quoted}'",  # the other parameters come from the URL, by env
            str(path),
        ],
        url,
        f"pg_restore into {fresh}",
    )


def _check(url: URL, record: Backup) -> None:
    """The restored database holds the recorded revision and each table's recorded rows."""
    with admin_engine(url).connect() as connection:
        revision = sorted(MigrationContext.configure(connection).get_current_heads())
        counts = row_counts(connection)
    differences = [
        f"{table}: {counts.get(table, 'missing')} rows, {rows} at backup"
        for table, rows in sorted(record.rows.items())
        if counts.get(table) != rows
    ]
    if record.rows and revision != record.revision:
        differences.insert(0, f"revision {revision or 'none'}, {record.revision or 'none'} at backup")
    if differences:
        raise InfrastructureError(
            f"the restored database does not match the backup's record: {'; '.join(differences[:20])}"
        )


def _copy_database_properties(admin: Connection, target: str, fresh: str) -> None:
    """Give ``fresh`` the target's owner, per-database settings and privileges."""
    new = _quote(admin, fresh)
    owner = _execute(
        admin,
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :name",
        "reading the target's owner",
        name=target,
    ).scalar_one()
    _execute(admin, f"ALTER DATABASE {new} OWNER TO {_quote(admin, owner)}", f"making {owner} the owner")
    settings = _execute(
        admin,
        "SELECT split_part(s, '=', 1), substr(s, strpos(s, '=') + 1) FROM pg_db_role_setting r,"
        " unnest(r.setconfig) s WHERE r.setrole = 0"
        " AND r.setdatabase = (SELECT oid FROM pg_database WHERE datname = :name)",
        "reading the target's settings",
        name=target,
    ).all()
    for name, value in settings:
        literal = value.replace("'", "''")
        _execute(admin, f"ALTER DATABASE {new} SET {_quote(admin, name)} = '{literal}'", f"setting {name}")
    acl = _execute(
        admin,
        "SELECT datacl IS NOT NULL, COALESCE(array_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
        " ELSE quote_ident(pg_get_userbyid(a.grantee)) END || ' ' || a.privilege_type"
        " || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
        " FILTER (WHERE a.grantee IS NOT NULL), '{}')"
        " FROM pg_database d LEFT JOIN LATERAL aclexplode(d.datacl) a ON true"
        " WHERE d.datname = :name GROUP BY d.datacl",
        "reading the target's privileges",
        name=target,
    ).one()
    explicit, grants = acl
    if not explicit:
        return  # the default privileges, which the new database has too
    _execute(admin, f"REVOKE ALL ON DATABASE {new} FROM PUBLIC", "resetting privileges")
    for grant in grants:
        grantee, privilege, *option = grant.split(" ", 2)
        _execute(
            admin,
            f"GRANT {privilege} ON DATABASE {new} TO {grantee} {' '.join(option)}",
            f"granting {privilege} to {grantee}",
        )


def _swap(admin: Connection, target: str, fresh: str, kept: str) -> None:
    """Rename ``target`` to ``kept`` and ``fresh`` to ``target``: connections to the target are
    refused meanwhile and its sessions are ended; on failure the target gets its name back."""
    old, new, keep = (_quote(admin, n) for n in (target, fresh, kept))
    _execute(admin, f"ALTER DATABASE {old} ALLOW_CONNECTIONS false", f"closing {target} to new sessions")
    try:
        for attempt in range(SWAP_ATTEMPTS):
            _execute(
                admin,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()",
                f"ending the sessions on {target}",
                name=target,
            )
            try:
                admin.execute(text(f"ALTER DATABASE {old} RENAME TO {keep}"))
                break
            except DBAPIError as exc:
                if getattr(exc.orig, "pgcode", None) != "55006" or attempt == SWAP_ATTEMPTS - 1:
                    detail = _full_error(exc)
                    raise InfrastructureError(f"renaming {target} to {kept} failed: {detail}") from None
                time.sleep(0.2 * (attempt + 1))  # a session still ending: object_in_use
        try:
            _execute(admin, f"ALTER DATABASE {new} RENAME TO {old}", f"renaming {fresh} to {target}")
        except InfrastructureError:
            _execute(admin, f"ALTER DATABASE {keep} RENAME TO {old}", f"renaming {kept} back to {target}")
            raise
    finally:
        name = kept if _exists(admin, kept) else target
        _execute(admin, f"ALTER DATABASE {_quote(admin, name)} ALLOW_CONNECTIONS true", f"reopening {name}")


def _exists(admin: Connection, name: str) -> bool:
    return bool(admin.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar())


def _drop(admin: Connection, name: str) -> None:
    # A failure here is not reported over the one that led here; the name says what it is.
    with contextlib.suppress(DBAPIError):
        admin.execute(text(f"DROP DATABASE IF EXISTS {_quote(admin, name)} WITH (FORCE)"))
