"""Whole projects through every check at once (``mks-db check``): clean ones pass, this repository
passes, and what only the checks together decide.
"""

from __future__ import annotations

import sys

from alembic_cases import ADD_AGE, ADD_REQUIRED_AGE, BASE, MODELS, Rev, make_project
from conftest import errors, run_on


def test_clean_linear_project_passes(check):
    second = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("name", sa.String(50)))',
        'op.drop_column("account", "name")',
    )
    index = Rev(  # an index on an existing table, built the safe way, alone in its revision
        "c3",
        "b2",
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_account_name", "account", ["name"], postgresql_concurrently=True,'
        " if_not_exists=True)",
        "with op.get_context().autocommit_block():\n"
        '    op.drop_index("ix_account_name", "account", postgresql_concurrently=True, if_exists=True)',
    )
    models = MODELS.format(extra=', sa.Column("name", sa.String(50), index=True)')
    code, report = check([BASE, second, index], models)
    assert (code, report["ok"], report["findings"]) == (0, True, []), report["findings"]
    assert report["revisions"] == 3
    assert set(report) == {"ok", "findings", "revisions", "seconds"}


def test_stock_env_py_taking_the_url_from_sqlalchemy_url_works(check):
    code, report = check([BASE], env="stock")
    assert (code, report["findings"]) == (0, [])


def test_branch_and_merge_project_passes(check):
    left = Rev(
        "b1",
        "a1",
        'op.create_table("left_t", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("left_t")',
    )
    right = Rev(
        "c1",
        "a1",
        'op.create_table("right_t", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("right_t")',
    )
    merge = Rev("d1", ("b1", "c1"))
    models = MODELS.format(extra="") + (
        'sa.Table("left_t", target_metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
        'sa.Table("right_t", target_metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    code, report = check([BASE, left, right, merge], models)
    assert (code, report["findings"]) == (0, [])
    assert report["revisions"] == 4


def test_project_with_several_schemas_passes(check):
    rev = Rev(
        "a1",
        None,
        'op.execute("CREATE SCHEMA billing")\n'
        'op.create_table("invoice", sa.Column("id", sa.Integer, primary_key=True), schema="billing")\n'
        'sa.Enum("open", "paid", name="state", schema="billing").create(op.get_bind())\n'
        'op.add_column("invoice", sa.Column("state", sa.Enum("open", "paid", name="state", '
        'schema="billing", create_type=False)), schema="billing")',
        'op.drop_table("invoice", schema="billing")\n'
        'op.execute("DROP TYPE billing.state")\nop.execute("DROP SCHEMA billing")',
    )
    models = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("invoice", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("state", sa.Enum("open", "paid", name="state", schema="billing")), schema="billing")
"""
    code, report = check([rev], models)
    assert (code, report["findings"]) == (0, [])


def test_this_repository_passes_check(capsys, server_url):
    from conftest import REPO

    code, report = run_on(capsys, REPO / "alembic.ini", server_url=server_url)
    assert errors(report) == []
    assert code == 0
    # What remains are style notes on hand-written SQL and acknowledged safety rules.
    for warning in report["findings"]:
        assert warning["check"] == "sql-style" or "acknowledged in the revision" in warning["message"]
    assert report["revisions"] >= 7


def test_a_version_table_of_env_py_s_own_name_and_schema_is_alembic_s_not_a_user_table(
    capsys, tmp_path, server_url
):
    ini = make_project(tmp_path, [BASE, ADD_AGE], MODELS.format(extra=', sa.Column("age", sa.Integer)'))
    env = ini.parent / "migrations" / "env.py"
    source = env.read_text()
    own = "version_table='schema_history', version_table_schema='meta'"
    source = source.replace("transaction_per_migration=True)", f"transaction_per_migration=True, {own})")
    source = source.replace("literal_binds=True)", f"literal_binds=True, {own})")
    commit = "        set_timeouts()\n        connection.commit()"
    assert commit in source
    source = source.replace(
        commit,
        "        set_timeouts()\n"
        "        connection.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS meta')\n"
        "        connection.commit()",
    )
    env.write_text(source)
    code, report = run_on(capsys, ini, "check", server_url=server_url)
    assert (code, errors(report)) == (0, [])


def test_squawk_s_not_null_rule_is_decided_by_what_the_walk_measured(check):
    rev = Rev(
        "b2",
        "a1",
        'op.execute("DELETE FROM account")\n'
        'op.add_column("account", sa.Column("age", sa.Integer, nullable=False))',
        'op.drop_column("account", "age")',
        header="# mks-db: data-loss: the accounts are test fixtures, recreated by the application\n",
    )
    models = MODELS.format(extra=', sa.Column("age", sa.Integer, nullable=False)')
    code, report = check([BASE, rev], models)
    [finding] = [f for f in report["findings"] if f["rule"] == "adding-required-field"]
    assert finding["severity"] == "warning", finding
    assert "measured: the upgrade of b2 passed with generated rows in every table" in finding["message"]
    assert code == 0, report


def test_squawk_s_not_null_rule_stands_when_the_upgrade_passed_only_on_empty_tables(check):
    """The walk upgrades the revision again on empty tables after it failed with rows: that
    second upgrade passing proves nothing about the rows, and is not taken for the measurement."""
    rev = ADD_REQUIRED_AGE
    models = MODELS.format(extra=', sa.Column("age", sa.Integer, nullable=False)')
    code, report = check([BASE, rev], models)
    [finding] = [f for f in report["findings"] if f["rule"] == "adding-required-field"]
    assert finding["severity"] == "error", finding
    assert "measured" not in finding["message"]
    [upgrade] = [f for f in report["findings"] if f["check"] == "upgrade"]
    assert "fails when the tables hold rows (it passes on empty tables)" in upgrade["message"]
    assert code == 1


def test_a_new_check_is_one_module_and_its_line_in_the_registry(monkeypatch, tmp_path, capsys):
    """docs/checks.md's example of a new check, as written there: with its module in place and
    its line in ``CHECKS``, ``mks-db lint`` runs it beside the SQL checks already there."""
    import re
    import types

    from conftest import REPO, run_json
    from mks_db.findings import CHECKS

    docs = (REPO / "docs" / "checks.md").read_text(encoding="utf-8")
    [source] = re.findall(r"<!-- example: new check -->\n```python\n(.*?)```", docs, re.DOTALL)
    module = types.ModuleType("mks_db.checks.no_truncate")
    exec(compile(source, "no_truncate.py", "exec"), module.__dict__)  # noqa: S102 - the docs' own code
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(CHECKS, "no-truncate", "sql")
    empties = Rev("b2", "a1", 'op.execute("TRUNCATE account")', "pass")
    ini = make_project(tmp_path, [BASE, empties])

    code, report = run_json(capsys, "lint", "-c", str(ini), "--all")
    [finding] = [f for f in report["findings"] if f["check"] == "no-truncate"]
    assert (code, finding["revision"], finding["severity"]) == (1, "b2", "error")
    assert finding["message"] == "the upgrade SQL empties a table with TRUNCATE"
    # Without its line in the registry, the module alone is not run.
    monkeypatch.delitem(CHECKS, "no-truncate")
    _, report = run_json(capsys, "lint", "-c", str(ini), "--all")
    assert not [f for f in report["findings"] if f["check"] == "no-truncate"]


def test_every_registered_check_has_the_common_shape():
    """Each name in the registry is a module of ``mks_db.checks`` with ``judge(project, evidence)``,
    and every kind of evidence the registry names is a record of ``engine.evidence``."""
    import inspect

    from mks_db import checks
    from mks_db.engine import evidence
    from mks_db.findings import CHECKS

    kinds = {
        getattr(record, "KIND", None)
        for record in vars(evidence).values()
        if inspect.isclass(record) and record.__module__ == evidence.__name__
    }
    for name, kind in CHECKS.items():
        judge = checks.module_of(name).judge
        assert list(inspect.signature(judge).parameters) == ["project", "evidence"], name
        assert kind in kinds, (name, kind)
