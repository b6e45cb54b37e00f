"""checks/drift.py: the models against the schema the migrations build, compared as env.py's own
alembic check compares them.

Each test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) on a project
made by ``alembic_cases``, against a real PostgreSQL.
"""

from __future__ import annotations

import pytest

from alembic_cases import BASE, MODELS, Rev, make_project
from conftest import errors, only, run_on


def test_model_column_that_no_migration_creates_is_drift(check):
    models = MODELS.format(extra=', sa.Column("nickname", sa.String(30))')
    code, report = check([BASE], models, command="drift")
    assert code == 1
    [finding] = errors(report)
    assert finding["check"] == "drift"
    assert "column account.nickname: models only" in finding["message"]


PLAN_DEFAULT = (
    MODELS.format(extra=', sa.Column("plan", sa.String(10), server_default="free")'),
    Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("plan", sa.String(10)))',
        'op.drop_column("account", "plan")',
    ),
)


def test_server_default_drift_is_found_when_env_py_compares_server_defaults(check):
    models, rev = PLAN_DEFAULT
    code, report = check([BASE, rev], models, env="stock", command="drift")  # compare_server_default=True
    assert code == 1
    [finding] = only(report, "drift")
    assert "column account.plan: server default" in finding["message"]


def test_drift_compares_what_env_py_compares_as_alembic_check_would(check):
    models, rev = PLAN_DEFAULT
    code, report = check([BASE, rev], models, command="drift")  # the connection env.py compares no defaults
    assert only(report, "drift") == []
    assert code == 0


STATUS = Rev(
    "b2",
    "a1",
    'status = sa.Enum("draft", "published", name="status")\n'
    "status.create(op.get_bind())\n"
    'op.add_column("account", sa.Column("status", status))',
    'op.drop_column("account", "status")\nsa.Enum(name="status").drop(op.get_bind())',
)


@pytest.mark.parametrize(
    ("labels", "expected", "severity"),
    [
        ('"draft", "published", "archived"', "enum status: labels only in the models: 'archived'", "error"),
        # a label the application never writes (kept for a later release): a warning
        ('"draft"', "enum status: labels only in the database: 'published'", "warning"),
        ('"published", "draft"', "enum status: the same labels in another order", "error"),
    ],
)
def test_an_enum_label_the_migrations_never_create_is_drift(check, labels, expected, severity):
    models = MODELS.format(extra=f',\n         sa.Column("status", sa.Enum({labels}, name="status"))')
    code, report = check([BASE, STATUS], models, command="drift")
    [finding] = only(report, "drift")
    assert expected in finding["message"]
    assert (finding["severity"], code) == (severity, 1 if severity == "error" else 0), finding


def test_enum_labels_that_match_are_not_drift(check):
    models = MODELS.format(
        extra=',\n         sa.Column("status", sa.Enum("draft", "published", name="status"))'
    )
    code, report = check([BASE, STATUS], models, command="drift")
    assert (code, only(report, "drift")) == (0, [])


EXPAND_WINDOW_MODELS = (
    MODELS.format(extra=', sa.Column("nickname", sa.String(30))')
    + '''

def hide_expand_window(context, revision, directives):
    """account.nickname is in the models a release before its migration: not drift (yet)."""
    from alembic.operations import ops

    upgrade = directives[0].upgrade_ops
    for table in [o for o in upgrade.ops if isinstance(o, ops.ModifyTableOps) and o.table_name == "account"]:
        table.ops = [
            o for o in table.ops if not (isinstance(o, ops.AddColumnOp) and o.column.name == "nickname")
        ]
        if not table.ops:
            upgrade.ops.remove(table)
'''
)


def test_drift_is_what_alembic_check_says_with_env_py_s_process_revision_directives(
    tmp_path, capsys, server_url, pg_server
):
    import uuid

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from mks_db.database.server import admin_engine, drop_database

    ini = make_project(tmp_path / "project", [BASE], EXPAND_WINDOW_MODELS)
    code, report = run_on(capsys, ini, "drift", server_url=server_url)
    assert code == 1 and "nickname" in only(report, "drift")[0]["message"]  # without the hook: drift
    env = ini.parent / "migrations" / "env.py"
    configure = (
        "context.configure(connection=connection, target_metadata=target_metadata, include_schemas=True,"
    )
    assert configure in env.read_text()
    env.write_text(
        env.read_text().replace(configure, configure + " process_revision_directives=hide_expand_window,")
    )
    name = f"check_{uuid.uuid4().hex[:10]}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:  # alembic check itself, on a database at head: no differences
        config = Config(str(ini))
        config.set_main_option(
            "sqlalchemy.url", pg_server.database_url(name).render_as_string(hide_password=False)
        )
        command.upgrade(config, "head")
        command.check(config)
    finally:
        drop_database(pg_server, name)
    code, report = run_on(capsys, ini, "drift", server_url=server_url)
    assert (code, only(report, "drift")) == (0, []), report


@pytest.mark.parametrize("unique", [False, True])
def test_an_index_only_the_migrations_make_is_a_warning_unless_it_is_unique(check, unique):
    """b2 indexes email; the models do not declare it. A plain index changes nothing the
    application meets (a warning: autogenerate would drop it); a unique one refuses its writes."""
    b2 = Rev(
        "b2",
        "a1",
        f'op.create_index("ix_account_email", "account", ["email"], unique={unique})',
        'op.drop_index("ix_account_email", table_name="account")',
    )
    code, report = check([BASE, b2], command="drift")
    [finding] = only(report, "drift")
    assert "index ix_account_email on account: database only" in finding["message"], finding
    assert finding["severity"] == ("error" if unique else "warning"), finding
    if not unique:
        assert "autogenerate would write a revision dropping it" in finding["message"]


def test_an_enum_label_only_the_database_has_is_a_warning(check):
    """b2 adds a label the models do not have yet (kept for a later release, as fittrackee's
    FOLLOWERS_AND_REMOTE): the application never writes it."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("kind", sa.Enum("a", "b", name="kind")))',
        'op.drop_table("account")\nop.execute("DROP TYPE kind")',
    )
    b2 = Rev(
        "b2",
        "a1",
        "with op.get_context().autocommit_block():\n    op.execute(\"ALTER TYPE kind ADD VALUE 'c'\")",
        "pass",
        header="# mks-db: irreversible: PostgreSQL cannot drop an enum label",
    )
    models = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("kind", sa.Enum("a", "b", name="kind")))
"""
    code, report = check([a1, b2], models, command="drift")
    [finding] = only(report, "drift")
    assert "labels only in the database: 'c'" in finding["message"], finding
    assert finding["severity"] == "warning" and code == 0, finding


@pytest.mark.parametrize("labels", ["'RUNNING', 'FINISHED'", "'RUNNING', 'FINISHED', 'A_LONG_STATUS'"])
def test_string_lengths_that_a_check_makes_moot_are_a_warning(check, labels):
    """status is VARCHAR(9) in the database and String(20) in the models (mlflow's runs.status);
    a CHECK admits only values that fit both: a warning. A listed value longer than 9: an error."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("status", sa.String(9)),\n'
        f'                sa.CheckConstraint("status IN ({labels})", name="ck_status"))',
        'op.drop_table("account")',
    )
    models = f"""
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("status", sa.String(20)),
         sa.CheckConstraint("status IN ({labels})", name="ck_status"))
"""
    code, report = check([a1], models, command="drift")
    [finding] = only(report, "drift")
    assert "type is VARCHAR(9) in the database, VARCHAR(20) in the models" in finding["message"], finding
    moot = "A_LONG" not in labels
    assert finding["severity"] == ("warning" if moot else "error"), finding


@pytest.mark.parametrize("imported", [False, True])
def test_models_the_application_imports_before_it_migrates_join_target_metadata(
    capsys, tmp_path, server_url, monkeypatch, imported
):
    """env.py's metadata is the models' Base, but the module of one model is imported by the
    application, not by env.py (mlflow's workspaces): named in import-models, it is compared."""
    suffix = f"{int(imported)}_{id(tmp_path)}"
    (tmp_path / f"base_{suffix}.py").write_text(
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase\n\n\n"
        "class Base(DeclarativeBase):\n    pass\n\n\n"
        'account = sa.Table("account", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    (tmp_path / f"workspace_{suffix}.py").write_text(
        f"import sqlalchemy as sa\nfrom base_{suffix} import Base\n\n"
        'workspace = sa.Table("workspace", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.create_table("workspace", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("workspace")\nop.drop_table("account")',
    )
    ini = make_project(
        tmp_path / "project", [a1], f"from base_{suffix} import Base\ntarget_metadata = Base.metadata"
    )
    if imported:
        (tmp_path / "pyproject.toml").write_text(f'[tool.mks-db]\nimport-models = ["workspace_{suffix}"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, report = run_on(capsys, ini, "drift", server_url=server_url)
    drift = [f["message"] for f in only(report, "drift")]
    if imported:
        assert drift == [] and code == 0, report
    else:
        assert len(drift) == 1 and "table workspace: database only" in drift[0], report
