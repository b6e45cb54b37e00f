"""``mks-db backup``: pg_dump in custom format, of exactly the URL's database, verified before it
counts.

The backup is read in one snapshot: a read-only repeatable-read transaction opened through
SQLAlchemy exports its snapshot, and ``pg_dump --snapshot`` dumps exactly that (PostgreSQL
refuses to import a snapshot into a session of another database, so the dump cannot come from
another one). In that same transaction the identity of the database (see ``mks_db.production.identity``),
its revision and each table's row count are read; the client tools' own route to the URL must
reach the same identity. A backup is only a backup once ``pg_restore --list`` has read it
back: the file's size, SHA-256, identity, revision and row counts are then recorded beside it
(``FILE.json``), with the database server's time of the snapshot (``server_time``: the
runner's clock, which names the file, may be wrong; retention orders backups by the server's).

Files: the directory is made private (0700), the dump and its record are the owner's only
(0600), a name is never reused (``DB-STAMP.dump``, then ``DB-STAMP-2.dump``, ...), the dump is
written as ``.partial`` and renamed once verified, and the record is written to a temporary
file and renamed, so a failure at any point leaves neither a partial dump nor a partial record.

A run killed outright (``kill -9``, a lost runner) cannot clean up: its pg_dump dies with it
(``mks_db.database.process.die_with_parent``, Linux) but its ``.partial`` stays. So the run that
writes a ``.partial`` holds an exclusive ``flock`` on it until the file is renamed or removed,
and each backup first removes the ``.partial`` files of the directory that nobody holds (their
run has gone: the kernel releases a dead process's locks) and names them; one whose run still
works is left alone. A lock needs no pid file (a pid outlives its process and is reused) and
no clock. On a system where pg_dump outlives a killed mks-db, it may still be writing a
``.partial`` removed that way: it writes on into a file without a name, whose space is freed
when it ends.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database import installs
from mks_db.database.libpq import run_tool, tool
from mks_db.database.server import describe_db_error, own_engine
from mks_db.database.urls import mask_url
from mks_db.engine.catalog import user_tables
from mks_db.errors import ConfigurationError, InfrastructureError
from mks_db.production import identity

# The tables whose rows pg_dump writes: the user's ordinary tables (mks-db's own schema too),
# not temporary ones.
TABLES_SQL = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {user_tables()} AND c.relkind = 'r' AND c.relpersistence <> 't'
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Backup:
    """A verified backup and what was true of the database in the snapshot it was read in."""

    path: str
    bytes: int
    sha256: str
    database: str
    created: str
    system_identifier: str = ""
    database_oid: int = 0
    revision: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # "schema.table": row count
    server_major: int = 0  # the database's PostgreSQL major (0: a record older than the field)
    dumped_by: int = 0  # pg_dump's major: a restore needs pg_restore and a server of at least it
    tools: str = ""  # the client tools that wrote and read it back: "PostgreSQL 18.6 (PATH)"
    # The database server's clock in the snapshot (ISO 8601, UTC; "": a record older than the
    # field, whose only time is ``created``, the runner's clock).
    server_time: str = ""
    leftovers: list[str] = field(default_factory=list)  # .partial files of gone runs, removed first

    @property
    def identity(self) -> identity.Identity:
        return identity.Identity(self.system_identifier, self.database, self.database_oid)

    def leftover_lines(self) -> list[str]:
        """The report's line for each ``.partial`` this backup removed first."""
        return [
            f"backup: removed {path}, the partial dump of a backup that did not finish (no running "
            "mks-db holds it)"
            for path in self.leftovers
        ]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(url: URL, directory: Path) -> Backup:
    """Dump the database ``url`` names into ``directory``, verify the file, record it.

    Raises InfrastructureError when the database cannot be read, pg_dump fails or pg_restore
    cannot read the file back, or the directory cannot be written (full, read-only, not a
    directory); ConfigurationError when the client tools and SQLAlchemy reach different
    databases for ``url``. Whatever fails, neither a partial dump nor a record is left. The
    ``.partial`` files earlier runs left are removed first (``remove_leftovers``), and named in
    the record's ``leftovers``.
    """
    directory = private_directory(directory)
    leftovers = remove_leftovers(directory)
    engine = own_engine(url)
    try:
        with engine.connect() as connection:
            return _backup_in_snapshot(connection, url, directory, leftovers)
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot connect to {mask_url(url)}: {describe_db_error(exc)}; no backup was taken"
        ) from None
    finally:
        engine.dispose()


def _backup_in_snapshot(connection: Connection, url: URL, directory: Path, leftovers: list[str]) -> Backup:
    connection = connection.execution_options(isolation_level="REPEATABLE READ")
    connection.execute(text("SET TRANSACTION READ ONLY"))
    snapshot, server_time = connection.execute(text("SELECT pg_export_snapshot(), now()")).one()
    found = identity.read(connection)
    major = server_major(connection)
    by_tools = identity.read_with_psql(url, major)
    if by_tools != found:
        raise ConfigurationError(
            f"for {mask_url(url)} the client tools reach {by_tools} but SQLAlchemy reaches "
            f"{found}; no backup was taken. Put host, port, user and database in the URL itself "
            "(libpq fills what it leaves out from PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE)"
        )
    stamp = now().strftime("%Y%m%dT%H%M%SZ")
    with _partial_file(directory, f"{_safe(found.database)}-{stamp}") as (partial, final):
        run_tool(
            [tool("pg_dump", major), "--format=custom", f"--snapshot={snapshot}", "--file", str(partial)],
            url,
            "pg_dump",
        )
        listing = run_tool([tool("pg_restore", major), "--list", str(partial)], None, "verifying the backup")
        dumped, dumped_by = _listed_database(listing.stdout), _dumped_by(listing.stdout)
        if dumped != found.database:
            raise InfrastructureError(f"the dump is of database {dumped!r}, not {found.database!r}")
        revision = sorted(MigrationContext.configure(connection).get_current_heads())
        rows = row_counts(connection)
        _fsync(partial)
        _replace(partial, final)
    try:
        record = Backup(
            str(final),
            final.stat().st_size,
            sha256(final),
            found.database,
            stamp,
            found.system_identifier,
            found.oid,
            revision,
            rows,
            major,
            dumped_by,
            str(installs.client_install(major)),
            server_time.astimezone(datetime.UTC).isoformat(),
            leftovers,
        )
        write_atomically(record_path(final), json.dumps(asdict(record), indent=2) + "\n")
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return record


def now() -> datetime.datetime:
    """The time a backup is named after (UTC, to the second)."""
    return datetime.datetime.now(datetime.UTC)


def row_counts(connection: Connection) -> dict[str, int]:
    """Each table's row count, as ``"schema.table"``, read in the connection's transaction."""
    quote = connection.dialect.identifier_preparer.quote
    counts = {}
    for schema, table in connection.execute(text(TABLES_SQL)).all():
        counted = connection.execute(text(f"SELECT count(*) FROM {quote(schema)}.{quote(table)}"))
        counts[f"{schema}.{table}"] = int(counted.scalar_one())
    return counts


def private_directory(directory: Path) -> Path:
    """``directory``, created if needed, readable by its owner only (0700, tightened if wider).

    Raises InfrastructureError (one line) when it cannot be created or made private.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(directory.stat().st_mode) & 0o077:
            directory.chmod(0o700)
    except OSError as exc:
        raise InfrastructureError(
            f"cannot create the backup directory {directory}: {exc.strerror}; "
            "choose a writable directory with --backup-dir"
        ) from None
    return directory


@contextlib.contextmanager
def _partial_file(directory: Path, base: str) -> Iterator[tuple[Path, Path]]:
    """Reserve ``BASE[-N].dump.partial`` (created exclusively, 0600, locked: see the module's
    docstring) whose ``.dump`` and record do not exist yet; yield (partial, final); remove the
    partial file if the block fails."""
    for number in range(1, 1000):
        final = directory / (f"{base}.dump" if number == 1 else f"{base}-{number}.dump")
        partial = final.with_name(final.name + ".partial")
        try:
            handle = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise InfrastructureError(
                f"cannot write in the backup directory {directory}: {exc.strerror}; "
                "choose a writable directory with --backup-dir"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, or mks-db dies
            if not _names(partial, handle):  # another run's remove_leftovers took it before the lock
                continue
            if final.exists() or record_path(final).exists():  # checked after reserving: no race
                partial.unlink()
                continue
            try:
                yield partial, final
            finally:
                if _names(partial, handle):
                    partial.unlink()
            return
        finally:
            os.close(handle)
    raise InfrastructureError(f"no free backup name {base}-N.dump in {directory}")


def remove_leftovers(directory: Path) -> list[str]:
    """Remove each ``*.dump.partial`` of ``directory`` that no running mks-db holds (its
    ``flock``, see the module's docstring); the paths removed. One that is locked (its backup
    is still being written) or that cannot be opened or removed is left as it is."""
    removed = []
    for partial in sorted(directory.glob("*.dump.partial")):
        try:
            handle = os.open(partial, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:  # renamed by its run meanwhile, not ours, or not a file
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _names(partial, handle):
                partial.unlink()
                removed.append(str(partial))
        except OSError:  # BlockingIOError: its run still writes it
            pass
        finally:
            os.close(handle)
    return removed


def _names(path: Path, handle: int) -> bool:
    """Whether ``path`` still names the file open as ``handle``."""
    try:
        return os.path.samestat(path.stat(), os.fstat(handle))
    except OSError:
        return False


def _fsync(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    except OSError as exc:
        raise InfrastructureError(f"cannot write the backup {path}: {exc.strerror}") from None


def _replace(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as exc:
        raise InfrastructureError(f"cannot write the backup {target}: {exc.strerror}") from None


def write_atomically(path: Path, content: str) -> None:
    """Write ``path`` (0600) so that it holds either its new content in full or nothing new:
    a temporary file beside it, flushed to disk, then renamed over it. InfrastructureError
    (one line) when it cannot, with the temporary file removed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InfrastructureError(f"cannot write {path}: {exc.strerror}") from None


def record_path(dump: Path) -> Path:
    return Path(f"{dump}.json")


def _safe(name: str) -> str:
    """A database name as a file name: anything but letters, digits, ``._-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "database"


def server_major(connection: Connection) -> int:
    """The PostgreSQL major of the server ``connection`` is connected to."""
    return int(connection.dialect.server_version_info[0])


def _dumped_by(listing: str) -> int:
    """pg_dump's major in ``pg_restore --list``'s header (``; Dumped by pg_dump version: 18.6``)."""
    match = re.search(r"^;\s+Dumped by pg_dump version:\s*(\d+)", listing, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _listed_database(listing: str) -> str | None:
    """The database name in ``pg_restore --list``'s header (``;     dbname: NAME``)."""
    match = re.search(r"^;\s+dbname:\s(.*)$", listing, re.MULTILINE)
    return match.group(1).strip() if match else None


def verify(path: Path) -> Backup:
    """The record of ``path`` if the file still matches it; ConfigurationError (one line) if
    the file or its record is missing, unreadable or no longer matches."""
    record_file = record_path(path)
    if not path.is_file():
        raise ConfigurationError(f"no backup file {path}; name a .dump written by mks-db backup")
    if not record_file.is_file():
        raise ConfigurationError(f"{path} has no record ({record_file.name}): only verified backups restore")
    try:
        record = Backup(**json.loads(record_file.read_text(encoding="utf-8")))
        matches = sha256(path) == record.sha256 and path.stat().st_size == record.bytes
    except OSError as exc:
        raise ConfigurationError(f"cannot read the backup {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise ConfigurationError(f"{record_file} is not a backup record written by mks-db backup") from None
    if not matches:
        raise ConfigurationError(
            f"{path} does not match its record (SHA-256 or size differ): the file changed since "
            "the backup was verified; refusing to restore it"
        )
    return record
