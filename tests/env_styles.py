"""Alembic projects as their users have them, one per env.py convention that ``alembic`` runs.

Each project starts where a user starts: ``alembic init -t TEMPLATE`` in a new directory. Then
only what a user edits is changed: ``target_metadata`` (from a ``models.py`` of the project),
``sqlalchemy.url``, or the way env.py finds its database. Revision files are rendered from the
project's own ``script.py.mako``, as ``alembic revision`` renders them, with plain operations
in their bodies.

``build(root, style, steps)`` writes the project; ``verify_with_alembic`` proves it is a valid
project by running ``python -m alembic upgrade head`` and ``downgrade base`` against a
database, reached the way the project's env.py reaches one; ``run_mks_db`` runs the ``mks-db``
console script from the project's root, as a user (or CI) would.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
from alembic.util import format_as_comma, template_to_file
from sqlalchemy.engine import URL

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ALEMBIC = BIN / "alembic"
MKS_DB = BIN / "mks-db"

PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"  # what ``alembic init`` writes
ASYNC_URL = "postgresql+asyncpg://user:pass@localhost/dbname"  # what an async project's user writes


# --- the conventions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """One way of writing an Alembic project.

    ``template``: the ``alembic init`` template it starts from. ``url_variable``: the
    environment variable env.py reads its database from (None: ``sqlalchemy.url``).
    ``drivername``: the SQLAlchemy driver its URL names.
    """

    name: str
    template: str = "generic"
    url_variable: str | None = None
    drivername: str = "postgresql+psycopg2"
    package: str | None = None  # the package the migrations live in (script_location pkg:dir)


STYLES = {
    style.name: style
    for style in (
        # 1. `alembic init -t generic`, as written; models imported from beside alembic.ini.
        Style("generic"),
        # 1b. the same without the template's `prepend_sys_path = .` line.
        Style("generic-without-prepend-sys-path"),
        # 2. `alembic init -t pyproject`: [tool.alembic] in pyproject.toml, the rest in alembic.ini.
        Style("pyproject", template="pyproject"),
        # 3. `alembic init -t async`: async_engine_from_config over asyncpg.
        Style("async", template="async", drivername="postgresql+asyncpg"),
        # 4. the cookbook's "Sharing a Connection": a Connection from config.attributes.
        Style("cookbook-shared-connection"),
        # 5. pytest-alembic's documented env.py: an Engine (or anything with .connect()).
        Style("pytest-alembic"),
        # 6. an engine built from os.environ["DATABASE_URL"], ignoring sqlalchemy.url.
        Style("database-url-variable", url_variable="DATABASE_URL"),
        # 8. a packaged project: script_location = myapp:migrations.
        Style("packaged", package="myapp"),
        # 9. an Engine from config.attributes opened without a `with` block, closed in `finally`.
        Style("connect-without-with"),
        # 10. a schema of its own through search_path (the cookbook's schema-level tenancy).
        Style("search-path"),
    )
}
# 7. an engine built from the application's own setting, which mks-db cannot redirect.
OWN_SETTING = Style("own-setting-variable", url_variable="MYAPP_DB_URL")


def require(style: Style) -> None:
    """Skip the test when this environment cannot run ``style`` at all."""
    if style.template == "pyproject" and _version("alembic") < (1, 16):
        pytest.skip(f"alembic {version('alembic')} has no pyproject template (added in 1.16)")
    if style.drivername.endswith("+asyncpg"):
        pytest.importorskip("asyncpg", reason="the async template needs asyncpg")
        pytest.importorskip("greenlet", reason="SQLAlchemy's asyncio extension needs greenlet")


def _version(distribution: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version(distribution))[:2])


# --- revisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One revision: id, parent, message, and the bodies of upgrade() and downgrade()
    (empty: the template's ``pass``)."""

    id: str
    down: str | None
    message: str
    upgrade: str
    downgrade: str = ""


CREATE_ACCOUNT = Step(
    "a1",
    None,
    "create account",
    """
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
    )
    """,
    'op.drop_table("account")',
)
ADD_NAME = Step(
    "b2",
    "a1",
    "add account name",
    'op.add_column("account", sa.Column("name", sa.String(length=100), nullable=True))',
    'op.drop_column("account", "name")',
)
# Concurrently and IF NOT EXISTS: what the repository's squawk settings ask of a new index.
INDEX_EMAIL = Step(
    "c3",
    "b2",
    "index account email",
    """
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_account_email",
            "account",
            ["email"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
    """,
    """
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_account_email",
            table_name="account",
            postgresql_concurrently=True,
            if_exists=True,
        )
    """,
)

DEFECTS = ("forgotten-drop-index", "forgotten-drop-column")


def chain(defect: str | None = None) -> list[Step]:
    """The clean chain (create a table, add a column, add an index), or one whose last
    revision's downgrade forgets the index (``forgotten-drop-index``, three revisions) or the
    column (``forgotten-drop-column``, two revisions) its upgrade added."""
    if defect is None:
        return [CREATE_ACCOUNT, ADD_NAME, INDEX_EMAIL]
    if defect == "forgotten-drop-index":
        return [CREATE_ACCOUNT, ADD_NAME, _replace(INDEX_EMAIL, downgrade="")]
    if defect == "forgotten-drop-column":
        return [CREATE_ACCOUNT, _replace(ADD_NAME, downgrade="")]
    raise ValueError(defect)


def _replace(step: Step, **changes: str) -> Step:
    return Step(**{**step.__dict__, **changes})


def models_source(steps: list[Step]) -> str:
    """A models module whose metadata matches the schema ``steps`` build."""
    upgrades = {s.upgrade for s in steps}
    index = ", index=True" if INDEX_EMAIL.upgrade in upgrades else ""
    name = (
        "    name: Mapped[str | None] = mapped_column(sa.String(100))\n"
        if ADD_NAME.upgrade in upgrades
        else ""
    )
    return (
        "from datetime import datetime\n\n"
        "import sqlalchemy as sa\n"
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
        "class Base(DeclarativeBase):\n    pass\n\n\n"
        "class Account(Base):\n"
        '    __tablename__ = "account"\n\n'
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        f"    email: Mapped[str] = mapped_column(sa.String(255){index})\n"
        "    created_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))\n"
        f"{name}"
    )


# --- env.py sources ------------------------------------------------------------------------

ONLINE_MARKER = "def run_migrations_online() -> None:"
END_MARKER = "\n\nif context.is_offline_mode():"

# https://alembic.sqlalchemy.org/en/latest/cookbook.html#sharing-a-connection-across-one-or-more-programmatic-migration-commands
COOKBOOK_ONLINE = '''\
def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""
    connectable = config.attributes.get("connection", None)

    if connectable is None:
        # only create Engine if we don't have a Connection
        # from the outside
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )

        with connectable.connect() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata
            )

            with context.begin_transaction():
                context.run_migrations()
    else:
        context.configure(
            connection=connectable, target_metadata=target_metadata
        )

        with context.begin_transaction():
            context.run_migrations()
'''

# https://pytest-alembic.readthedocs.io/en/latest/setup.html (env.py)
PYTEST_ALEMBIC_ONLINE = '''\
def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""
    connectable = context.config.attributes.get("connection", None)

    if connectable is None:
        connectable = engine_from_config(
            context.config.get_section(context.config.config_ini_section),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )

    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata
        )

        with context.begin_transaction():
            context.run_migrations()
'''

# An env.py that opens the connection by hand: ``connection = connectable.connect()``, closed
# in a ``finally``, as several projects' env.py files do.
CONNECT_WITHOUT_WITH_ONLINE = '''\
def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""
    connectable = context.config.attributes.get("connection", None)
    if connectable is None:
        connectable = engine_from_config(
            context.config.get_section(context.config.config_ini_section),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )

    connection = connectable.connect()
    try:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.close()
'''

# Alembic's cookbook, "Rudimental Schema-Level Multi Tenancy for PostgreSQL Databases": the
# migrations run in the schema search_path names (created first, as an application does).
SEARCH_PATH_ONLINE = '''\
def run_migrations_online() -> None:
    """Run migrations in 'online' mode, in the tenant's schema."""
    from sqlalchemy import text

    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    with connectable.connect() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS tenant"))
        connection.execute(text('SET search_path TO "tenant"'))
        connection.commit()
        connection.dialect.default_schema_name = "tenant"
        context.configure(connection=connection, target_metadata=target_metadata)

        with context.begin_transaction():
            context.run_migrations()
'''

URL_VARIABLE_ONLINE = '''\
def get_url() -> str:
    """The application's database, from its own setting."""
    return os.environ["{variable}"]


def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""
    connectable = create_engine(get_url(), poolclass=pool.NullPool)

    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata
        )

        with context.begin_transaction():
            context.run_migrations()
'''

NOISY_PRELUDE = """\
import logging
import sys

# Everything the application logs goes to stdout (a container's habit), Alembic's and
# SQLAlchemy's statement log included.
_stdout = logging.StreamHandler(sys.stdout)
for _name in ("alembic", "sqlalchemy.engine"):
    logging.getLogger(_name).addHandler(_stdout)
    logging.getLogger(_name).setLevel(logging.INFO)
for _line in range(100):
    print(f"env.py: loading settings ({_line})")
"""


def _replace_online(env: str, online: str) -> str:
    assert ONLINE_MARKER in env and END_MARKER in env, "alembic's env.py template changed"
    before, rest = env.split(ONLINE_MARKER, 1)
    _, after = rest.split(END_MARKER, 1)
    return before + online.rstrip("\n") + "\n" + END_MARKER + after


def _edit_env(env: str, style: Style, metadata_import: str | None) -> str:
    if metadata_import is not None:
        assert "\ntarget_metadata = None\n" in env, "alembic's env.py template changed"
        env = env.replace(
            "\ntarget_metadata = None\n", f"\n{metadata_import}\n\ntarget_metadata = Base.metadata\n"
        )
    if style.name == "cookbook-shared-connection":
        env = _replace_online(env, COOKBOOK_ONLINE)
    elif style.name == "pytest-alembic":
        env = _replace_online(env, PYTEST_ALEMBIC_ONLINE)
    elif style.name == "connect-without-with":
        env = _replace_online(env, CONNECT_WITHOUT_WITH_ONLINE)
    elif style.name == "search-path":
        env = _replace_online(env, SEARCH_PATH_ONLINE)
    elif style.url_variable:
        env = _replace_online(env, URL_VARIABLE_ONLINE.format(variable=style.url_variable))
        env = env.replace('url = config.get_main_option("sqlalchemy.url")', "url = get_url()").replace(
            "from sqlalchemy import engine_from_config\n",
            "import os\n\nfrom sqlalchemy import create_engine\n",
        )
    return env


# --- the project ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A built project: its root (the folder of alembic.ini) and revision ids, base first."""

    root: Path
    style: Style
    revisions: tuple[str, ...]

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def script_dir(self) -> Path:
        return self.root / (f"{self.style.package}/migrations" if self.style.package else "migrations")

    @property
    def env_py(self) -> Path:
        return self.script_dir / "env.py"

    @property
    def head(self) -> str:
        return self.revisions[-1]

    def add_revisions(self, steps: list[Step]) -> Project:
        """Write ``steps`` as revision files of this project, as ``alembic revision`` would."""
        for step in steps:
            write_revision(self.script_dir, step)
        return Project(self.root, self.style, self.revisions + tuple(s.id for s in steps))


def build(root: Path, style: Style | str, steps: list[Step], models: bool = True) -> Project:
    """Create the project of ``style`` in ``root`` (a new or empty directory) with ``steps``.

    ``models``: set env.py's ``target_metadata`` from a models module matching ``steps``
    (otherwise the template's ``target_metadata = None`` stays).
    """
    style = STYLES[style] if isinstance(style, str) else style
    root.mkdir(parents=True, exist_ok=True)
    location = f"{style.package}/migrations" if style.package else "migrations"
    init = subprocess.run(
        [str(ALEMBIC), "init", "-t", style.template, location],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, f"alembic init -t {style.template} failed:\n{init.stderr}"
    for name in (".sqlfluff", ".squawk.toml"):  # the lint settings of this repository
        shutil.copy(REPO / name, root / name)

    ini = root / "alembic.ini"
    text = ini.read_text()
    if style.name == "generic-without-prepend-sys-path":
        text = _sub_line(text, "prepend_sys_path", None)
    if style.drivername.endswith("+asyncpg"):
        text = _sub_line(text, "sqlalchemy.url", ASYNC_URL)
    if style.package:
        text = _sub_line(text, "script_location", f"{style.package}:migrations")
        (root / style.package / "__init__.py").write_text("")
    ini.write_text(text)

    metadata_import = None
    if models:
        module = f"{style.package}.models" if style.package else "models"
        (root / (module.replace(".", "/") + ".py")).write_text(models_source(steps))
        metadata_import = f"from {module} import Base"
    env_py = root / location / "env.py"
    env_py.write_text(_edit_env(env_py.read_text(), style, metadata_import))

    project = Project(root, style, ())
    return project.add_revisions(steps)


def _sub_line(text: str, option: str, value: str | None) -> str:
    """``text`` (an ini file) with ``option``'s line set to ``value``, or removed when None."""
    pattern = re.compile(rf"^{re.escape(option)}\s*=.*\n", re.MULTILINE)
    assert pattern.search(text), f"alembic.ini has no {option} line"
    return pattern.sub("" if value is None else f"{option} = {value}\n", text, count=1)


def write_revision(script_dir: Path, step: Step, filename: str | None = None) -> Path:
    """Render ``step`` through ``script_dir``'s script.py.mako, as ``alembic revision`` does."""
    slug = re.sub(r"\W+", "_", step.message).strip("_")
    path = script_dir / "versions" / (filename or f"{step.id}_{slug}.py")
    template_to_file(
        script_dir / "script.py.mako",
        path,
        "utf-8",
        up_revision=step.id,
        down_revision=step.down,
        branch_labels=None,
        depends_on=None,
        create_date=datetime.datetime(2025, 1, 1, 12, 0),
        comma=format_as_comma,
        message=step.message,
        imports=None,
        upgrades=_body(step.upgrade),
        downgrades=_body(step.downgrade),
    )
    return path


def _body(source: str) -> str | None:
    """A function body for the template, which indents only its first line."""
    lines = textwrap.dedent(source).strip().splitlines()
    return "\n".join([lines[0], *("    " + line if line else "" for line in lines[1:])]) if lines else None


def make_noisy(project: Project) -> None:
    """Make env.py and every revision print many lines and log to stdout."""
    env = project.env_py.read_text()
    configured = "    fileConfig(config.config_file_name)\n"
    assert configured in env, "alembic's env.py template changed"
    env = env.replace(configured, configured + "\n" + NOISY_PRELUDE, 1)
    project.env_py.write_text(env)
    for path in (project.script_dir / "versions").glob("*.py"):
        source = path.read_text()
        for fn in ("upgrade", "downgrade"):
            marker = f'    """{fn.capitalize()} schema."""\n'
            assert marker in source, "alembic's script.py.mako changed"
            noise = (
                f"    for line in range(50):\n"
                f'        print(f"{path.stem} {fn}: working ({{line}})")\n'
                f'    logging.getLogger("alembic").info("{path.stem} {fn}: done")\n'
            )
            source = source.replace(marker, marker + noise)
        assert "import sqlalchemy as sa\n" in source, "alembic's script.py.mako changed"
        path.write_text(
            source.replace("import sqlalchemy as sa\n", "import sqlalchemy as sa\n\nimport logging\n", 1)
        )


def make_raising(project: Project) -> None:
    """Make env.py raise RuntimeError at import."""
    env = project.env_py.read_text()
    project.env_py.write_text(
        env.replace("config = context.config\n", 'config = context.config\n\nraise RuntimeError("boom")\n', 1)
    )


# --- running alembic and mks-db ------------------------------------------------------------


def clean_environment(**extra: str) -> dict[str, str]:
    """This environment without the variables a CI run would add (GITHUB_*, DATABASE_URL and
    the project's own setting), plus ``extra``."""
    dropped = ("DATABASE_URL", "MYAPP_DB_URL", "MKS_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_") and k not in dropped}
    return {**env, **extra}


def verify_with_alembic(project: Project, url: URL) -> None:
    """``python -m alembic heads``, ``upgrade head`` and ``downgrade base`` succeed from the
    project's root on the database ``url`` names, given to env.py the way env.py reads it
    (``sqlalchemy.url`` in alembic.ini, or its environment variable)."""
    for args in (["heads"], ["upgrade", "head"], ["downgrade", "base"]):
        proc = alembic(project, url, *args)
        assert proc.returncode == 0, f"alembic {' '.join(args)} failed:\n{proc.stderr}"
        if args == ["heads"]:
            assert f"{project.head} (head)" in proc.stdout, proc.stdout


def alembic(project: Project, url: URL, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``python -m alembic ARGS`` from the project's root, env.py reaching ``url`` its own way."""
    target = url.set(drivername=project.style.drivername).render_as_string(hide_password=False)
    variable = project.style.url_variable
    env = clean_environment(**({variable: target} if variable else {}), **extra_env)
    with _ini_url(project, None if variable else target):
        return subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )


@contextlib.contextmanager
def _ini_url(project: Project, url: str | None) -> Iterator[None]:
    """alembic.ini with ``sqlalchemy.url = url`` for the block (unchanged when None)."""
    if url is None:
        yield
        return
    original = project.ini.read_text()
    project.ini.write_text(_sub_line(original, "sqlalchemy.url", url.replace("%", "%%")))
    try:
        yield
    finally:
        project.ini.write_text(original)


def run_mks_db(
    project: Project | Path, server_url: str, *args: str, timeout: float = 600, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``mks-db ARGS -c alembic.ini`` from the project's root, DATABASE_URL naming the server."""
    root = project.root if isinstance(project, Project) else project
    try:
        return subprocess.run(
            [str(MKS_DB), *args, "-c", "alembic.ini"],
            cwd=root,
            env=clean_environment(DATABASE_URL=server_url, **extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"mks-db {' '.join(args)} did not finish in {timeout:g}s; stderr:\n{err or ''}")


def report_of(proc: subprocess.CompletedProcess[str]) -> dict:
    """stdout as the one JSON document it must be."""
    try:
        return json.loads(proc.stdout)
    except ValueError:
        pytest.fail(
            f"stdout is not one JSON document (exit {proc.returncode}):\n"
            f"{proc.stdout[:1500]}\n--- stderr ---\n{proc.stderr[-3000:]}"
        )


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    """For assertion messages: the exit status, the report's findings (or the start of
    stdout), and the end of stderr."""
    try:
        findings = json.loads(proc.stdout)["findings"]
        shown = "\n".join(
            f"{f['check']} {f['severity']} {f['revision']} {f['rule']}: {f['message'][:160]}"
            for f in findings
        )
    except (ValueError, KeyError, TypeError):
        shown = proc.stdout[:1500]
    return f"exit {proc.returncode}\n--- findings ---\n{shown}\n--- stderr ---\n{proc.stderr[-1500:]}"


def one_line(stderr: str) -> bool:
    return len(stderr.strip().splitlines()) == 1
