"""Every use of Alembic's private or undocumented API, in one place.

mks-db runs single steps through a project's own env.py, which Alembic's public API (``command``,
``EnvironmentContext``, ``MigrationContext``, ``ScriptDirectory``) does not offer; the few
internals that make it possible are reached only through the functions below. Each says what
it relies on and the Alembic versions it was checked against: 1.18.5 (what production pins,
1.18) and 1.20.1 (the newest installed). When Alembic changes one of them, this module is the
one to adapt; the tests that exercise it are named in each docstring.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy
import sqlalchemy.engine.create
from alembic import util
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionMap
from sqlalchemy.engine import URL, Connection
from sqlalchemy.sql.elements import TextClause

from mks_db.database.server import OWN_DRIVER


def down_revisions(revision: Script) -> tuple[str, ...]:
    """The ids of ``revision``'s parents: its ``down_revision`` ids and its ``depends_on``
    dependencies (empty for the chain's first revision).

    ``Script._all_down_revisions`` (a property of ``alembic.script.revision.Revision``),
    checked against Alembic 1.18.5 and 1.20.1; ``down_revision`` alone would miss the
    dependencies.
    """
    return revision._all_down_revisions


def version_locations(script: ScriptDirectory) -> list[Path]:
    """The directories ``script`` loads revision files from (``version_locations``, else
    ``versions/``), absolute, as Alembic resolves them.

    ``ScriptDirectory._version_locations`` (a memoized property), checked against Alembic
    1.18.5 and 1.20.1.
    """
    return [Path(p) for p in script._version_locations]


def migration_step(revision_map: RevisionMap, action: str, revision: Script) -> MigrationStep:
    """The step that applies ``revision``'s downgrade (``action`` "downgrade") or upgrade (any
    other action), for the migration function that ``EnvironmentContext(fn=...)`` runs.

    ``MigrationStep.upgrade_from_script`` / ``downgrade_from_script`` are what Alembic's
    ``ScriptDirectory._upgrade_revs`` builds its steps with; undocumented, checked against
    Alembic 1.18.5 and 1.20.1.
    """
    if action == "downgrade":
        return MigrationStep.downgrade_from_script(revision_map, revision)
    return MigrationStep.upgrade_from_script(revision_map, revision)


def add_version_apply_callbacks(context: MigrationContext, *callbacks: Callable[..., None]) -> None:
    """Run ``callbacks`` too each time ``context`` has applied a step, inside the step's
    transaction, after the ones env.py configured (``on_version_apply``).

    ``MigrationContext.on_version_apply_callbacks``, the tuple ``configure(on_version_apply=...)``
    fills and ``run_migrations`` reads at each step; undocumented as an attribute, checked
    against Alembic 1.18.5 and 1.20.1.
    """
    context.on_version_apply_callbacks = (*context.on_version_apply_callbacks, *callbacks)


def commits_each_migration(context: MigrationContext) -> bool:
    """Whether ``context`` commits each migration on its own: env.py configured
    ``transaction_per_migration`` and had not begun a transaction of its own on the connection
    (Alembic then runs every migration inside that one, committed only when env.py's run ends).

    ``MigrationContext.opts`` (the options env.py passed to ``configure``) and
    ``MigrationContext._in_external_transaction`` (set in ``MigrationContext.__init__``),
    checked against Alembic 1.18.5 and 1.20.1. Tests: ``tests/test_env_styles.py``.
    """
    return bool(context.opts.get("transaction_per_migration")) and not getattr(
        context, "_in_external_transaction", False
    )


def forget_between_steps(context: MigrationContext) -> None:
    """Forget what Alembic remembers within one run between two steps of it, as separate runs
    would: the enum types a step created, say, which a later step would otherwise not create
    again (``DefaultImpl.memo``, read by SQLAlchemy's named types through Alembic's DDL
    runner).

    ``context.impl.memo``, a dict set in ``DefaultImpl.__init__``; undocumented, checked against
    Alembic 1.18.5 and 1.20.1. Test: ``tests/test_upgrade.py``,
    ``test_the_walk_goes_on_past_an_upgrade_that_fails_only_apart_from_its_parent``.
    """
    context.impl.memo.clear()


# create_engine's options that leave a session as mks-db's own connection has it.
_SESSION_NEUTRAL = {
    "poolclass",
    "future",
    "echo",
    "echo_pool",
    "hide_parameters",
    "logging_name",
    "pool_logging_name",
    "pool_pre_ping",
    "pool_size",
    "max_overflow",
    "pool_recycle",
    "pool_timeout",
    "pool_use_lifo",
    "_coerce_config",
}


@contextlib.contextmanager
def lending(connection: Connection, url: URL) -> Iterator[None]:
    """While env.py runs, an engine it creates for exactly ``url`` (the scratch database, with
    options that leave the session as it is) is mks-db's own ``connection`` (which lends itself:
    ``migrate.SharedConnection.connect``), and Alembic runs each migration on that connection
    in a transaction of its own.

    So an env.py that builds its own engine (``alembic init``'s) migrates as one that takes
    ``config.attributes["connection"]`` does: without a connection opened at every step,
    committed step by step, and many steps in one env.py run. An engine that cannot be lent
    (an asyncio one, ``alembic init -t async``) keeps its own connection, and Alembic still
    commits each migration on its own there when it is on the same database, so the steps
    follow one another in one run on it too. For checks that look at the
    database after each step, one transaction per migration is what separate runs give too.
    Any other engine (another database, another driver, options that change the session) is
    created as env.py asked.

    Two patches, undone on exit: ``create_engine`` where env.py may import it from
    (``sqlalchemy``, ``sqlalchemy.engine``, ``sqlalchemy.engine.create``; SQLAlchemy 2.0 and
    2.1), and ``EnvironmentContext.configure``, whose keyword arguments (``connection``,
    ``transaction_per_migration``) are Alembic's documented ones; the patch relies on env.py
    calling it through the class attribute, as ``context.configure`` (a module proxy) does in
    Alembic 1.18.5 and 1.20.1. Tests: ``tests/test_env_styles.py``.
    """
    modules = (sqlalchemy, sqlalchemy.engine, sqlalchemy.engine.create)
    originals = [module.create_engine for module in modules]
    real_create, real_configure = sqlalchemy.engine.create.create_engine, EnvironmentContext.configure
    ours = url.set(drivername=OWN_DRIVER)

    def create_engine(target, *args, **options):
        try:
            wanted = sqlalchemy.engine.make_url(target)
        except Exception:  # not a URL: create_engine says why
            wanted = None
        if (
            not args
            and wanted is not None
            and wanted.drivername in ("postgresql", OWN_DRIVER)
            and wanted.set(drivername=OWN_DRIVER) == ours
            and set(options) <= _SESSION_NEUTRAL
        ):
            return connection
        return real_create(target, *args, **options)

    def configure(self, *args, **options):
        given = options.get("connection")
        if given is connection or _same_database(given, url):
            options["transaction_per_migration"] = True
        return real_configure(self, *args, **options)

    for module in modules:
        module.create_engine = create_engine
    EnvironmentContext.configure = configure
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.create_engine = original
        EnvironmentContext.configure = real_configure


def _same_database(connection: object, url: URL) -> bool:
    """Whether ``connection`` (env.py's own: an asyncio engine's, say, which cannot be lent) is
    on the database ``url`` names: the same host, port and database, whatever the driver."""
    engine = getattr(connection, "engine", None)
    other = getattr(engine, "url", None)
    if other is None:
        return False
    return (other.host, other.port, other.database) == (url.host, url.port, url.database)


def record_op_execute(impl: DefaultImpl, buffer: io.StringIO, spans: list[tuple[int, int]]) -> None:
    """Record in ``spans`` where the text that ``op.execute`` receives lands in ``buffer`` (the
    offline output), for this migration context's ``impl`` only.

    Relies on ``op.execute`` reaching ``DefaultImpl.execute(sql, execution_options)`` (through
    ``toimpl.execute_sql``) and on nothing else calling it: the DDL Alembic generates and
    env.py's ``context.execute`` go through ``impl._exec`` directly. Checked against 1.18.5 and
    1.20.1; ``tests/test_lint.py::test_sqlfluff_lints_the_sql_people_wrote_not_the_ddl_alembic_generated``
    exercises it.
    """
    execute = impl.execute

    def recorded(sql: object, execution_options: dict | None = None) -> None:
        start = buffer.tell()
        execute(sql, execution_options)
        if isinstance(sql, str | TextClause):
            spans.append((start, buffer.tell()))

    impl.execute = recorded


@contextlib.contextmanager
def engine_calls(names: list[str | None], buffers: list[io.StringIO] | None = None) -> Iterator[None]:
    """While env.py runs, note which database each of its migration runs is for: a
    multi-database env.py (Alembic's ``multidb`` template, Flask-Migrate's ``--multidb``) calls
    ``context.configure(...)`` then ``context.run_migrations(engine_name=NAME)`` once per
    database, and each ``engine_name`` is appended to ``names`` before that run's migration
    function is called. With ``buffers`` (offline), each ``configure`` gets a new buffer of its
    own in place of the one env.py passes (a file per database, in the working directory),
    appended to ``buffers``: the run of ``names[i]`` writes into ``buffers[i]``.

    Patches ``EnvironmentContext.run_migrations`` and ``EnvironmentContext.configure``, both
    documented, called through the class as ``context.<name>`` does; undone on exit. Checked
    against Alembic 1.18.5 and 1.20.1; ``tests/test_multidb.py`` exercises it.
    """
    real_run, real_configure = EnvironmentContext.run_migrations, EnvironmentContext.configure

    def run_migrations(self, **kw):
        names.append(kw.get("engine_name"))
        return real_run(self, **kw)

    def configure(self, *args, **options):
        if buffers is not None:
            buffers.append(io.StringIO())
            options["output_buffer"] = buffers[-1]
        return real_configure(self, *args, **options)

    EnvironmentContext.run_migrations = run_migrations
    EnvironmentContext.configure = configure
    try:
        yield
    finally:
        EnvironmentContext.run_migrations = real_run
        EnvironmentContext.configure = real_configure


def import_again(script: Script) -> None:
    """Import the revision file of ``script`` anew, now: Alembic imports revision files inside
    the first migration context of a run, so module-level code that uses ``op`` runs against
    the database there (mks-db reads every file once, before any context exists)."""
    path = Path(script.path)
    script.module = util.load_python_file(path.parent, path.name)
