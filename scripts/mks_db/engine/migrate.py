"""Apply revisions one step at a time, up or down, through the project's own env.py.

``alembic upgrade R`` and ``downgrade P`` move whole sets of revisions (downgrading to a parent
also removes that parent's other active children); the checks need single steps on branched
graphs too, so env.py gets a migration function that yields exactly the ``Step``s wanted, read
one at a time as each has committed (``Migrator.run``). env.py gets the database every way
env.py files take it: the URL in ``sqlalchemy.url`` and ``DATABASE_URL`` (with the project's
driver: asyncpg stays asyncpg), and an open Connection in ``config.attributes["connection"]``
(reused across steps, never inside a transaction when env.py receives it, so env.py's own
``begin_transaction`` and autocommit blocks work). That Connection also serves env.py files
that expect an Engine there: see ``SharedConnection``.

Whatever connection env.py migrates on, it must be the scratch database's: a run on any other
database is refused before its first step. A failure of env.py itself (at import, or before it
reaches the migrations) is a ``ProjectCodeError`` naming env.py, not a revision's failure.
Every step runs under the scratch server's time bound (``server.Timeouts``) unless env.py set
a stricter one. What this needs of Alembic's internals is in ``alembic_compat``.
"""

from __future__ import annotations

import contextlib
import logging.config
import os
import re
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt
from mks_db.database.server import (
    Server,
    Timeouts,
    admin_engine,
    create_database,
    drop_database,
    own_engine,
    scratch_database,
)
from mks_db.database.urls import mask_text
from mks_db.engine import alembic_compat, flask_app, revision_source
from mks_db.engine.catalog import VERSION_TABLE, Snapshot, snapshot
from mks_db.engine.project import Project
from mks_db.errors import MksDbError, ProjectCodeError

_WRITTEN_SQL = """
SELECT relid FROM pg_stat_xact_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
"""
# Statements that write no rows of the user's tables: DDL (not CREATE ... AS a query), session
# and savepoint commands, and Alembic's own version-table updates. A step made of these alone
# needs no look at the row statistics above, which cost a scan of every table's counters.
# (Expressions inside DDL, a volatile column default say, are taken not to write elsewhere.)
_READS = re.compile(r"\s*(?:SELECT|WITH)\b(?!.*\b(?:INSERT|UPDATE|DELETE)\b)", re.IGNORECASE | re.DOTALL)
_WRITES_NO_ROWS = re.compile(
    r"\s*(?:(?:CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE)\b(?!.*\bAS\s*\(?\s*(?:SELECT|WITH|VALUES|TABLE)\b)"
    rf"|(?:SET|RESET|SHOW|SAVEPOINT|RELEASE)\b|(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+{VERSION_TABLE}\b)",
    re.IGNORECASE | re.DOTALL,
)


_IN_FAILED_TRANSACTION = "25P02"  # "current transaction is aborted, commands ignored until ..."


class SharedConnection(Connection):
    """mks-db's connection as env.py finds it in ``config.attributes["connection"]``.

    env.py files read that attribute in one of two ways: as a Connection to configure Alembic
    with (Alembic's cookbook), or as an Engine to open one from (pytest-alembic's documented
    env.py: ``with connectable.connect() as connection:``, or ``connection =
    connectable.connect()`` and ``connection.close()`` in a ``finally``). This Connection is
    both: its ``connect()`` returns itself, a real Connection, and closing it (``close()``, the
    end of a ``with`` block) leaves it open: it is mks-db's to close (``close_for_good``).
    """

    def connect(self) -> SharedConnection:
        return self

    def close(self) -> None:
        """Lent to env.py: env.py closing it ends nothing (its transaction is env.py's own to
        end, as the stock env.py files do)."""

    def close_for_good(self) -> None:
        Connection.close(self)

    def dispose(self, close: bool = True) -> None:
        """An Engine's ``dispose()``: nothing to do, the connection stays mks-db's to close."""

    @property
    def url(self) -> URL:
        """An Engine's ``url``."""
        return self.engine.url


@dataclass(frozen=True)
class Step:
    """One migration step: ``action`` of ``revision``. ``action`` is "upgrade", "downgrade", or
    "re-upgrade" (an upgrade again, right after the revision's own downgrade; applied as an
    upgrade, named apart in the report)."""

    action: str
    revision: Script


class RevisionExit(Exception):
    """A migration's own code called ``sys.exit()``: under plain Alembic the process would end."""


class Migrator:
    """One scratch database, one connection, single-revision steps.

    Use as a context manager; the connection is closed on exit. ``timeouts`` bound every step
    (checks pass their server's; the deploy, which sets its own, passes None).
    """

    def __init__(self, project: Project, url: URL, timeouts: Timeouts | None = None) -> None:
        self.project = project
        self.url = url
        self.timeouts = timeouts
        self.engine = own_engine(url)
        self.connection = SharedConnection(self.engine)
        self.written: set[int] = set()  # tables the last step inserted, updated or deleted rows in
        self.current: Step | None = None  # the step running, or the one that failed, in the last run
        self.shares_connection = False  # env.py runs migrations on self.connection
        self.target_metadata = None  # the models env.py gave Alembic, at its last run
        # The time bounds env.py gave its migrating session itself (measured at its first run,
        # before mks-db bounds it): lock_timeout, statement_timeout, or neither.
        self.project_timeouts: set[str] | None = None
        self.extra_callbacks: tuple = ()  # more on_version_apply callbacks (the lock analysis)
        # Session settings applied after env.py's own, so they win (the deploy's timeouts).
        self.session_settings: dict[str, str] = {}
        # env.py gets the URL with the project's driver; mks-db's own connections use psycopg2.
        self._env_url = url.set(drivername=project.driver(url.drivername))
        self._plain_url = self._env_url.render_as_string(hide_password=False)
        self._config = project.config()  # read alembic.ini once, not at every step
        self._config.set_main_option("sqlalchemy.url", self._plain_url.replace("%", "%%"))
        self._config.attributes["connection"] = self.connection
        self._rows_may_change = True  # whether the running step sent a statement that can write rows
        self._first_error: DBAPIError | None = None  # the running step's first database error
        # The statements the last step sent through this connection, in order (its migration's
        # own: recording ends when its version is applied; steps that record writes only).
        self.step_statements: list[str] = []
        # The last query of the running step that read rows, with its parameters: what the
        # revision's own code was handed when it fails on a value (``Walk.rows_read_last``).
        self.last_read: tuple[str, object] | None = None
        self._recording = False
        event.listen(self.connection, "before_cursor_execute", self._note_statement)
        # A project of several databases: the others' scratch databases (``_other_databases``).
        self._others: dict[str, URL] = {}
        self._other_engines: list = []
        if project.engine is not None:
            self._other_databases()

    def __enter__(self) -> Migrator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.rollback()
        self.connection.close_for_good()
        for engine in self._other_engines:
            engine.dispose()
        if self._others:
            with admin_engine(self.url).connect() as admin:
                for url in self._others.values():
                    admin.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        self.engine.dispose()

    def _other_databases(self) -> None:
        """For a project of several databases (``Project.engines``), checking one: an empty
        scratch database for each other one, beside this one, where env.py connects for them
        and migrates nothing (their runs get no step): Alembic's ``multidb`` template takes
        each from its section's ``sqlalchemy.url``, Flask-Migrate's from the bind's engine."""
        project = self.project
        with admin_engine(self.url).connect() as admin:
            for number, name in enumerate(project.engines):
                if name == project.engine:
                    continue
                database = f"{self.url.database}_e{number}"
                admin.execute(text(f'CREATE DATABASE "{database}"'))
                self._others[name] = self.url.set(database=database)
        for name in project.engines:
            url = (
                self._env_url
                if name == project.engine
                else self._others[name].set(drivername=self._env_url.drivername)
            )
            if project.flask_app is None:
                plain = url.render_as_string(hide_password=False).replace("%", "%%")
                self._config.set_section_option(name, "sqlalchemy.url", plain)

    def _flask_engines(self) -> dict[str | None, object]:
        """The engines a Flask-Migrate env.py gets, by bind key: this database's connection for
        the one checked, an engine of its own scratch database for each other."""
        if not self._others:
            return {None: self.connection}
        if not self._other_engines:
            self._other_engines = [own_engine(url) for url in self._others.values()]
        engines = dict(zip(self._others, self._other_engines, strict=True))
        engines[self.project.engine] = self.connection
        return {name or None: engine for name, engine in engines.items()}

    def _note_statement(self, connection, cursor, statement: str, parameters: object, *args: object) -> None:
        if self._recording:
            self.step_statements.append(statement)
            if _READS.match(statement):
                self.last_read = (statement, parameters)
        several = ";" in statement.strip().rstrip(";")  # op.execute("ALTER ...; DELETE ...")
        if several or not _WRITES_NO_ROWS.match(statement):
            self._rows_may_change = True

    def create_base(self) -> None:
        """On a new scratch database: the schema the application creates before its chain
        (``Project.create_base``; nothing without ``base-metadata``), committed."""
        if self.project.base_metadata:
            self.project.create_base(self.connection)
            self.connection.commit()

    def upgrade(self, *revisions: Script, one_run: bool = False) -> None:
        """Apply the upgrade() of ``revisions`` in order (in one env.py run when env.py allows);
        the parents of each must be applied already or come before it.

        ``one_run``: always in one env.py run, as ``alembic upgrade head`` does (one
        transaction unless env.py asks for one per migration; what Alembic remembers within a
        run, enum types it created say, is kept across the revisions).
        """
        steps = [Step("upgrade", r) for r in revisions]
        if one_run:  # env.py runs even for no revision, as ``alembic upgrade head`` does
            self.run(steps, one_run=True)
            return
        pending = deque(steps)
        while pending:  # each run takes as many as env.py lets follow one another
            self.run(_taken(pending))

    def downgrade(self, revision: Script) -> None:
        """Apply ``revision``'s downgrade(); it must be a current head."""
        self.run([Step("downgrade", revision)])

    def run(self, steps: Iterable[Step], one_run: bool = False) -> None:
        """One env.py run that applies ``steps`` in order, each in a transaction of its own when
        env.py allows it.

        ``steps`` is read lazily: Alembic asks for the next step only once the one before has
        committed, so whatever yields them may look at the database in between (the walk
        does). Steps follow one another in this run only when each migration is committed on
        its own (as this repository's env.py does, and as an ``alembic init`` env.py, on this
        connection or on an asyncio one of its own, is made to: ``alembic_compat.lending``),
        which saves Alembic's per-run set-up at every step; otherwise the run applies the first
        step only and does not read ``steps`` further, and the caller runs again for the rest.

        ``one_run``: apply every step in this run whatever env.py does, as ``alembic upgrade``
        does (nothing looks at the steps: none records what it wrote, and what Alembic
        remembers within the run is kept across them).

        On failure the exception propagates and ``self.current`` is the step that failed; when
        the failure is "current transaction is aborted" (the revision caught a statement's error
        and went on), the step's first database error propagates instead, the cause.
        """
        steps = iter(steps)
        event.listen(Engine, "handle_error", self._note_error)
        try:
            self._run_steps(steps, one_run)
        except DBAPIError as exc:
            first = self._first_error
            if (
                getattr(exc.orig, "pgcode", None) == _IN_FAILED_TRANSACTION
                and first is not None
                and first is not exc
            ):
                # "current transaction is aborted": the revision caught the statement that
                # failed and went on; that statement, where the revision ran it, is the cause.
                raise first from exc
            raise
        finally:
            event.remove(Engine, "handle_error", self._note_error)
            self._recording = False

    def _note_error(self, context) -> None:
        """A ``handle_error`` listener: the step's first database error, kept for ``run``."""
        if self._first_error is None and isinstance(context.sqlalchemy_exception, DBAPIError):
            self._first_error = context.sqlalchemy_exception

    def _run_steps(self, steps: Iterator[Step], one_run: bool) -> None:
        def migrations(heads: tuple[str, ...], context: MigrationContext) -> Iterator[MigrationStep]:
            self._prepare(context, record_writes=not one_run)
            # Steps follow one another in this run when each commits on its own on this
            # connection (a transaction env.py began itself would hold them all until the end).
            # (env.py's own connection, when it is not ours, is on this database: observed.)
            follow = one_run or alembic_compat.commits_each_migration(context)
            for step in steps:  # Alembic asks for the next step only once this one has committed
                self.current, self.written, self._rows_may_change = step, set(), False
                self.step_statements, self._recording, self.last_read = [], not one_run, None
                self._first_error = None
                if revision_source.migrates_at_import(step.revision.path):
                    # Its module-level code calls op: run it in this context, as Alembic does.
                    alembic_compat.import_again(step.revision)
                yield migration_step(self.project, step.action, step.revision)
                if not follow:
                    return
                if not one_run:  # what Alembic remembers must not outlive the step, as between runs
                    alembic_compat.forget_between_steps(context)

        self.run_env(migrations)

    def _prepare(self, context: MigrationContext, record_writes: bool) -> None:
        """Set up the migrating session of one env.py run: the step callbacks, the time bounds,
        the session settings."""
        callbacks = (self._record_writes,) if record_writes else ()
        alembic_compat.add_version_apply_callbacks(context, *callbacks, *self.extra_callbacks)
        if self.project_timeouts is None and context.connection is not None:
            self.project_timeouts = _project_timeouts(context.connection)
        if self.timeouts:
            _bound_time(context.connection, self.timeouts)
        _apply_settings(context.connection, self.session_settings)

    def _record_writes(self, ctx: MigrationContext, **kwargs: object) -> None:
        """An on_version_apply callback: note the tables the step wrote rows in. It runs inside
        the step's transaction, where the step's own row counts are still visible."""
        self._recording = False  # the step's own statements end here
        if ctx.connection is self.connection and not self._rows_may_change:
            return  # every statement of the step went through this connection, none wrote rows
        rows = ctx.connection.execute(text(_WRITTEN_SQL))
        self.written |= {int(oid) for (oid,) in rows}

    def probe(self) -> bool:
        """Run env.py once without migrating; whether it migrates on this connection."""
        self.run_env(lambda heads, context: [])
        return self.shares_connection

    def heads(self) -> set[str]:
        """The revisions stamped in the database's version table (empty when none)."""
        with self.idle():
            return set(MigrationContext.configure(self.connection).get_current_heads())

    @contextlib.contextmanager
    def idle(self) -> Iterator[Connection]:
        """The shared connection for the caller's own queries, left outside any transaction."""
        try:
            yield self.connection
        finally:
            self.connection.rollback()

    def run_env(self, fn: Callable[[tuple[str, ...], MigrationContext], Iterable]) -> None:
        """Run the project's env.py online against this database with migration function ``fn``."""
        script = self.project.script
        reached = []
        engines: list[str | None] = []  # the database of each migration run env.py starts

        def observed(heads: tuple[str, ...], context: MigrationContext) -> Iterable:
            reached.append(True)
            if engines and engines[-1] != self.project.engine:  # another database: left empty
                self._refuse_other_database(context.connection, {u.database for u in self._others.values()})
                return []
            self.shares_connection = context.connection is self.connection
            if not self.shares_connection:
                self._refuse_other_database(context.connection)
            self.target_metadata = context.opts.get("target_metadata")
            return fn(heads, context)

        self.connection.rollback()  # env.py must find the connection outside a transaction
        with (
            self.environment(),
            alembic_compat.engine_calls(engines) if self._others else contextlib.nullcontext(),
            EnvironmentContext(self._config, script, fn=observed, as_sql=False),
            env_failures(self.project, reached, plain=None if self.project.flask_app else self._plain),
        ):
            script.run_env()

    def _plain(self) -> str | None:
        """``plain_alembic`` on an empty scratch database beside this one."""
        database = f"{self.url.database}_plain"
        with admin_engine(self.url).connect() as admin:
            admin.execute(text(f'CREATE DATABASE "{database}"'))
        try:
            return plain_alembic(self.project, self._env_url.set(database=database))
        finally:
            with admin_engine(self.url).connect() as admin:
                admin.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    @contextlib.contextmanager
    def environment(self) -> Iterator[Config]:
        """What env.py finds while it runs on this database, every way it may look for it (the
        module's docstring), for an Alembic command run in the block on the Config yielded."""
        with (
            environment_variables(("DATABASE_URL", *self.project.url_variables), self._plain_url),
            quiet_env_logging(),
            alembic_compat.lending(self.connection, self._env_url),
            flask_app.lent_engine(self.project.flask_app, self._flask_engines())
            if self.project.flask_app is not None
            else contextlib.nullcontext(),
        ):
            yield self._config

    def _refuse_other_database(self, connection: Connection | None, allowed: set[str] | None = None) -> None:
        """Raise ProjectCodeError unless env.py's own connection is on this scratch database
        (or one of ``allowed``)."""
        if connection is None:
            return
        name = connection.execute(text("SELECT current_database()")).scalar_one()
        if name not in (allowed or {self.url.database}):
            raise ProjectCodeError(
                f"{self.project.relpath(self.project.env_py)} migrates database {name!r}, not the "
                "scratch database mks-db gave it, so mks-db stopped before any step; let env.py "
                "take its URL from sqlalchemy.url, DATABASE_URL or config.attributes['connection'], "
                "or name the environment variable it reads it from in [tool.mks-db] url-variables",
                self.project.relpath(self.project.env_py),
            )


@contextlib.contextmanager
def env_failures(
    project: Project, reached: list, offline: bool = False, plain: Callable[[], str | None] | None = None
) -> Iterator[None]:
    """Turn a failure of env.py itself (before it asked for the first step: at import, while
    connecting or configuring) into a ProjectCodeError naming env.py; a failure once steps
    run is the steps' own, and propagates unchanged.

    What plain Alembic does with the same env.py is said only once seen: ``plain`` runs it
    (``plain_alembic``) and returns its error, or None when env.py ran there; then the failure
    is mks-db's own and propagates unchanged (the CLI asks for a report). Without ``plain``
    (a Flask-Migrate project, whose own command would migrate the application's database),
    nothing is said of it."""
    try:
        yield
    except MksDbError:
        raise
    except (Exception, SystemExit) as exc:
        if isinstance(exc, SystemExit) and reached and not interrupt.was_requested():
            # A revision's own code ended the process (sys.exit): that migration failed, and
            # the check goes on to say so, with the line of the revision that called it.
            raise RevisionExit(f"the migration called sys.exit({exc.code!r})").with_traceback(
                exc.__traceback__
            ) from None
        if reached or interrupt.was_requested():
            raise
        seen = plain() if plain is not None else None
        if plain is not None and seen is None:
            raise  # plain Alembic runs this env.py: the failure is mks-db's, not the project's
        raise _env_py_failure(project, exc, offline, seen) from None


def _env_py_failure(
    project: Project, exc: BaseException, offline: bool, seen: str | None
) -> ProjectCodeError:
    """The ProjectCodeError saying env.py failed before any migration (``exc``, at env.py's line
    it raised through), with plain Alembic's error ``seen`` when it fails there too."""
    env = project.env_py.resolve()
    line = _traceback_line(exc, env)
    where = project.relpath(env) + (f":{line}" if line else "")
    error = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    command = (
        "python -m alembic upgrade head --sql"
        if offline
        else "python -m alembic current, on an empty database"
    )
    same = f"; plain Alembic fails too ({command}: {seen})"
    return ProjectCodeError(
        f"{where} failed before running any migration ({type(exc).__name__}"
        + (f": {error}" if error else "")
        + ")"
        + (same if seen else "")
        + ": fix env.py, then run again",
        project.relpath(env),
        line,
    )


def _traceback_line(exc: BaseException, file: Path) -> int | None:
    """The line of ``file`` the traceback of ``exc`` passed through last, or None when it did not."""
    return next(
        (f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__)) if Path(f.filename) == file),
        None,
    )


_PLAIN = """
import sys
from alembic import command
from mks_db.engine.project import load_project

config = load_project(sys.argv[1], load_revisions=False).config()
if sys.argv[2]:
    config.set_main_option("sqlalchemy.url", sys.argv[2].replace("%", "%%"))
    command.current(config)
else:
    config.set_main_option("sqlalchemy.url", config.get_main_option("sqlalchemy.url") or "postgresql://")
    command.upgrade(config, "head", sql=True)
"""


def plain_alembic(project: Project, url: URL | None) -> str | None:
    """Run the project's env.py with plain Alembic, in a process of its own with nothing of
    mks-db's in the way: online (``url``, an empty scratch database, as ``sqlalchemy.url`` and
    ``DATABASE_URL``) ``alembic current``, which runs env.py as ``upgrade`` does up to the
    migrations; offline (None) ``alembic upgrade head --sql``. Its error in one line, or None
    when env.py ran."""
    plain = url.render_as_string(hide_password=False) if url is not None else ""
    variables = dict.fromkeys(("DATABASE_URL", *project.url_variables), plain or "postgresql://")
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PLAIN, str(project.ini), plain],
            cwd=Path.cwd(),
            env={**os.environ, **variables},
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return None  # still running after two minutes: env.py got past its start
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return mask_text(lines[-1].strip()) if lines else f"exit status {done.returncode}"


def migration_step(project: Project, action: str, revision: Script) -> MigrationStep:
    """The migration step of ``action`` (downgrade, or any kind of upgrade) for ``revision``."""
    return alembic_compat.migration_step(project.script.revision_map, action, revision)


def _taken(pending: deque[Step]) -> Iterator[Step]:
    """The steps of ``pending``, each removed as it is read: what a run leaves stays there."""
    while pending:
        yield pending.popleft()


_BOUND_SQL = """
SELECT set_config(s.name, v.ms || 'ms', false)
FROM pg_settings s
JOIN (VALUES ('statement_timeout', CAST(:statement AS bigint)), ('lock_timeout', CAST(:lock AS bigint)))
  AS v (name, ms) ON v.name = s.name
WHERE s.setting::bigint = 0 OR s.setting::bigint > v.ms
"""


# Set on the session itself (SET, SET LOCAL) or by the client when connecting (``options=-c
# ...``): by env.py, then, not by the scratch database's defaults that mks-db sets.
_PROJECT_TIMEOUTS_SQL = """
SELECT name FROM pg_settings
WHERE name IN ('lock_timeout', 'statement_timeout') AND source IN ('session', 'client') AND setting <> '0'
"""


def _project_timeouts(connection: Connection) -> set[str]:
    """The time bounds env.py set on its migrating session (names of the settings)."""
    outside = not connection.in_transaction()
    names = {name for (name,) in connection.execute(text(_PROJECT_TIMEOUTS_SQL))}
    if outside:  # leave the connection as env.py handed it over
        connection.rollback()
    return names


def _bound_time(connection: Connection | None, timeouts: Timeouts) -> None:
    """Bound the migrating session's statements and lock waits by ``timeouts``, unless env.py
    already set a stricter bound (0, PostgreSQL's "no limit", is never stricter)."""
    if connection is None:
        return
    outside = not connection.in_transaction()
    connection.execute(text(_BOUND_SQL), {"statement": timeouts.statement_ms, "lock": timeouts.lock_ms})
    if outside:  # a session setting: leave the connection as env.py handed it over
        connection.commit()


def _apply_settings(connection: Connection | None, settings: dict[str, str]) -> None:
    if not settings or connection is None:
        return
    outside = not connection.in_transaction()
    for name, value in settings.items():
        connection.execute(text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value})
    if outside:  # a session setting: leave the connection as env.py handed it over
        connection.commit()


def keep_template(project: Project, server: Server, revisions: list[Script]) -> None:
    """Upgrade ``revisions`` (in one env.py run) into a database that ``server`` keeps until it
    is closed: a scratch database at the same revisions is then a copy of it (``CREATE
    DATABASE ... TEMPLATE``, see ``at_revisions``) instead of another upgrade."""
    key = tuple(r.revision for r in revisions)
    if key in server.templates:
        return
    name = create_database(server, "template")
    try:
        with Migrator(project, server.database_url(name), server.timeouts) as migrator:
            migrator.create_base()
            migrator.upgrade(*revisions, one_run=True)
    except BaseException:
        drop_database(server, name)
        raise
    server.templates[key] = name


@contextlib.contextmanager
def at_revisions(project: Project, server: Server, revisions: list[Script], label: str) -> Iterator[Migrator]:
    """A Migrator on a new scratch database with ``revisions`` applied: a copy of the kept
    template for them if there is one, else upgraded in one env.py run."""
    template = server.templates.get(tuple(r.revision for r in revisions))
    with (
        scratch_database(server, label, template) as url,
        Migrator(project, url, server.timeouts) as migrator,
    ):
        if template is None:
            migrator.create_base()
            migrator.upgrade(*revisions, one_run=True)
        yield migrator


def replayed_snapshot(project: Project, server: Server, revisions: list[Script], label: str) -> Snapshot:
    """The schema ``revisions`` (in order) build from empty, in a scratch database of ``server``
    (in one env.py run, as ``alembic upgrade`` builds it)."""
    with at_revisions(project, server, revisions, label) as migrator, migrator.idle() as connection:
        return snapshot(connection)


@contextlib.contextmanager
def environment_variables(names: Iterable[str], value: str) -> Iterator[None]:
    """Each of ``names`` set to ``value`` for the block, then restored (or unset) as it was."""
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(previous, value))
    try:
        yield
    finally:
        for name, old in previous.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@contextlib.contextmanager
def quiet_env_logging() -> Iterator[None]:
    """Keep env.py's ``fileConfig`` from re-installing log handlers at every step.

    A stock env.py calls ``logging.config.fileConfig(alembic.ini)`` each time it runs, which
    would print "Running upgrade ..." lines into the report and cost time at every step.
    """
    original = logging.config.fileConfig
    logging.config.fileConfig = lambda *args, **kwargs: None
    try:
        yield
    finally:
        logging.config.fileConfig = original
