"""checks/heads.py: the revision graph read as Alembic reads it.

Each test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) on a project
made by ``alembic_cases``, against a real PostgreSQL.
"""

from __future__ import annotations

import pytest

from alembic_cases import ADD_AGE, BASE, MODELS, Rev, make_project
from conftest import errors, only, run_on


def test_two_heads_are_reported_with_the_merge_command(check):
    left = Rev("b1", "a1")
    right = Rev("c1", "a1")
    code, report = check([BASE, left, right], command="heads")
    assert code == 1
    heads = only(report, "heads")
    assert {f["revision"] for f in heads} == {"b1", "c1"}
    assert "a1 splits into b1, c1" in heads[0]["message"]
    assert "alembic merge heads" in heads[0]["message"]


@pytest.mark.parametrize(
    "computed",
    ["PARENT = 'a' + '1'\ndown_revision = PARENT", "down_revision = ('a1',)[0]"],
)
def test_a_computed_down_revision_is_read_as_alembic_reads_it(capsys, tmp_path, server_url, computed):
    ini = make_project(tmp_path, [BASE, ADD_AGE], MODELS.format(extra=', sa.Column("age", sa.Integer)'))
    path = ini.parent / "migrations" / "versions" / "b2.py"
    source = path.read_text()
    assert "down_revision = 'a1'" in source
    path.write_text(source.replace("down_revision = 'a1'", computed))
    code, report = run_on(capsys, ini, "heads", server_url=server_url)
    assert (code, report["revisions"]) == (0, 2)
    code, report = run_on(capsys, ini, "roundtrip", server_url=server_url)
    assert (code, errors(report)) == (0, [])


def test_a_revision_file_whose_computed_ids_raise_is_one_line_naming_it(capsys, tmp_path, server_url):
    ini = make_project(tmp_path, [BASE])
    path = ini.parent / "migrations" / "versions" / "a1.py"
    path.write_text(path.read_text().replace("down_revision = None", "down_revision = PARENTS[0]"))
    code, report = run_on(capsys, ini, "heads", server_url=server_url)
    assert code == 2
    assert "a1.py raised while computing its revision ids: NameError" in report["error"]
