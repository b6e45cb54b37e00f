"""Extensions a revision creates: those the scratch server has are checked like any revision;
one it lacks stops the check with one line naming it and the way out, not a failed upgrade
that looks like the revision's fault."""

from __future__ import annotations

import json

import pytest

from alembic_cases import BASE, MODELS, Rev, make_project
from mks_db.cli import main

TRIGRAM_AND_CITEXT = [
    Rev(
        "b2",
        "a1",
        "from sqlalchemy.dialects import postgresql\n"
        'op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")\n'
        'op.execute("CREATE EXTENSION IF NOT EXISTS citext")\n'
        'op.add_column("account", sa.Column("handle", postgresql.CITEXT()))',
        'op.drop_column("account", "handle")\n'
        'op.execute("DROP EXTENSION citext")\n'
        'op.execute("DROP EXTENSION pg_trgm")',
    ),
    Rev(  # the index on a table in use: built concurrently, as the guide says
        "c3",
        "b2",
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_account_handle_trgm", "account", ["handle"], postgresql_using="gin",\n'
        '                    postgresql_ops={"handle": "gin_trgm_ops"}, postgresql_concurrently=True,\n'
        "                    if_not_exists=True)",
        "with op.get_context().autocommit_block():\n"
        '    op.drop_index("ix_account_handle_trgm", table_name="account", postgresql_concurrently=True,\n'
        "                  if_exists=True)",
    ),
]


def check(capsys, tmp_path, server_url, revisions, models, command="check"):
    """``mks-db COMMAND`` on a project of ``revisions``: exit status, JSON report, error output."""
    ini = make_project(tmp_path, revisions, models, "connection")
    code = main([command, "-c", str(ini), "--database-url", server_url, "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_a_citext_column_with_a_trigram_gin_index_passes_check(capsys, tmp_path, server_url):
    models = MODELS.format(
        extra=',\n         sa.Column("handle", postgresql.CITEXT()),\n'
        '         sa.Index("ix_account_handle_trgm", "handle", postgresql_using="gin",\n'
        '                  postgresql_ops={"handle": "gin_trgm_ops"})'
    ).replace(
        "import sqlalchemy as sa", "import sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql"
    )
    code, report, _ = check(capsys, tmp_path, server_url, [BASE, *TRIGRAM_AND_CITEXT], models)
    assert code == 0, report["findings"]
    assert [f for f in report["findings"] if f["severity"] == "error"] == []


@pytest.mark.parametrize(
    "statement", ["CREATE EXTENSION mks_db_absent", 'CREATE EXTENSION IF NOT EXISTS "mks_db_absent"']
)
def test_an_extension_the_server_lacks_stops_the_check_with_one_line_naming_it(
    capsys, tmp_path, server_url, statement
):
    rev = Rev("b2", "a1", f"op.execute({statement!r})", 'op.execute("DROP EXTENSION mks_db_absent")')
    code, report, err = check(capsys, tmp_path, server_url, [BASE, rev], MODELS.format(extra=""), "roundtrip")
    assert code == 3, report
    [line] = [line for line in err.splitlines() if line.startswith("mks-db: error:")]
    assert 'revision b2 creates the extension "mks_db_absent"' in line
    assert "DATABASE_URL" in line and "Traceback" not in err


# A revision that uses an extension production's administrator installed (no revision creates
# it), as a chain built on PostGIS does: a column of citext.
USES_CITEXT = Rev(
    "b2",
    "a1",
    "from sqlalchemy.dialects import postgresql\n"
    'op.add_column("account", sa.Column("handle", postgresql.CITEXT()))',
    'op.drop_column("account", "handle")',
)


@pytest.mark.parametrize("declared", [False, True])
def test_extensions_production_has_are_declared_and_made_in_every_scratch_database(
    capsys, tmp_path, server_url, monkeypatch, declared
):
    if declared:
        (tmp_path / "pyproject.toml").write_text('[tool.mks-db]\nextensions = ["citext"]\n')
    monkeypatch.chdir(tmp_path)
    code, report, _ = check(
        capsys, tmp_path / "project", server_url, [BASE, USES_CITEXT], MODELS.format(extra=""), "roundtrip"
    )
    failed = [f["message"] for f in report["findings"] if f["check"] == "upgrade"]
    if declared:
        assert failed == [] and code == 0, report
    else:  # as on a server without it: plain Alembic fails the same way
        assert failed and 'type "citext" does not exist' in failed[0], report


def test_an_extension_the_server_cannot_make_stops_with_one_line(capsys, tmp_path, server_url, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db]\nextensions = ["mks_db_absent"]\n')
    monkeypatch.chdir(tmp_path)
    code, report, err = check(
        capsys, tmp_path / "project", server_url, [BASE], MODELS.format(extra=""), "roundtrip"
    )
    assert code == 3, report
    [line] = [line for line in err.splitlines() if line.startswith("mks-db: error:")]
    assert '[tool.mks-db] extensions names "mks_db_absent", which the server' in line, line
    assert "Traceback" not in err
