"""checks/downgrade.py: downgrades that raise, and downgrades refused on purpose.

Each test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) on a project
made by ``alembic_cases``, against a real PostgreSQL.
"""

from __future__ import annotations

from alembic_cases import BASE, MODELS, TABLE, Rev
from conftest import errors, only


def test_downgrade_that_errors_names_the_revision_and_the_database_error(check):
    rev = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "agee")',
    )
    code, report = check(
        [BASE, rev], MODELS.format(extra=', sa.Column("age", sa.Integer)'), command="roundtrip"
    )
    assert code == 1
    [finding] = errors(report)
    assert (finding["check"], finding["revision"]) == ("downgrade", "b2")
    assert 'column "agee" of relation "account" does not exist' in finding["message"]
    assert finding["line"] is not None


def test_a_first_revision_whose_downgrade_refuses_on_purpose_is_a_warning(check):
    rev = Rev("a1", None, TABLE, 'raise Exception("Base revision, no downgrade is possible")')
    code, report = check([rev], command="roundtrip")
    [finding] = only(report, "downgrade")
    assert finding["severity"] == "warning"
    assert "the chain's first revision, refuses: Exception: Base revision" in finding["message"]
    assert code == 0
