"""checks/data_loss.py: tables, columns and rows an upgrade loses, and the data that moved, was
read, is rebuilt or was declared.

Each test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) on a project
made by ``alembic_cases``, against a real PostgreSQL.
"""

from __future__ import annotations

import pytest

from alembic_cases import BASE, MODELS, Rev, make_project
from conftest import errors, only, run_on


def test_dropping_a_column_that_held_data_is_data_loss(check):
    rev = Rev(
        "b2",
        "a1",
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100), nullable=True))',
    )
    code, report = check(
        [BASE, rev],
        MODELS.format(extra="").replace(', sa.Column("email", sa.String(100), nullable=False)', ""),
        command="roundtrip",
    )
    losses = only(report, "data-loss")
    assert code == 1
    assert [f["revision"] for f in losses] == ["b2"]
    assert "drops column public.account.email, which held data" in losses[0]["message"]


def test_declared_data_loss_is_accepted(check):
    rev = Rev(
        "b2",
        "a1",
        'op.execute("DELETE FROM account")',
        "pass",
        header="# mks-db: data-loss: test accounts are purged before launch",
    )
    code, report = check([BASE, rev], command="roundtrip")
    assert only(report, "data-loss") == []
    assert code == 0


MOVED = {
    "into-another-column": (
        'op.add_column("account", sa.Column("contact", sa.String(100)))\n'
        'op.execute("UPDATE account SET contact = upper(email)")\n'
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100)))\n'
        'op.execute("UPDATE account SET email = lower(contact)")\n'
        'op.alter_column("account", "email", nullable=False)\n'
        'op.drop_column("account", "contact")',
        "public.account",
    ),
    "into-another-table": (
        'op.create_table("email_archive", sa.Column("account_id", sa.Integer), sa.Column("data", sa.JSON))\n'
        'op.execute("INSERT INTO email_archive"\n'
        "           \" SELECT id, json_build_object('email', email) FROM account\")\n"
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100)))\n'
        "op.execute(\"UPDATE account a SET email = e.data->>'email' FROM email_archive e"
        ' WHERE e.account_id = a.id")\n'
        'op.alter_column("account", "email", nullable=False)\n'
        'op.drop_table("email_archive")',
        "public.email_archive",
    ),
}


@pytest.mark.parametrize("case", MOVED)
def test_a_column_whose_values_moved_before_it_was_dropped_is_not_data_loss(check, case):
    upgrade, downgrade, where = MOVED[case]
    code, report = check([BASE, Rev("b2", "a1", upgrade, downgrade)], command="roundtrip")
    [moved] = only(report, "data-loss")
    assert moved["severity"] == "warning", moved["message"]
    assert f"its values are now in {where} (moved, not lost)" in moved["message"]
    assert code == 0, errors(report)


def test_a_column_converted_and_renamed_back_to_its_name_is_not_data_loss(check):
    upgrade = (
        'op.add_column("account", sa.Column("email_new", sa.Text))\n'
        'op.execute("UPDATE account SET email_new = email")\n'
        'op.drop_column("account", "email")\n'
        'op.alter_column("account", "email_new", new_column_name="email", nullable=False)'
    )
    downgrade = 'op.alter_column("account", "email", type_=sa.String(100))'
    code, report = check([BASE, Rev("b2", "a1", upgrade, downgrade)], command="roundtrip")
    assert only(report, "data-loss") == []
    assert code == 0, errors(report)


@pytest.mark.parametrize(
    "upgrade",
    [
        'op.execute("DELETE FROM account")',
        # behind DDL that touches another table, in one string: the DDL does not hide the DELETE
        'op.create_table("log", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.execute("CREATE INDEX ix_log ON log (id); DELETE FROM account")',
        # through a function: any SELECT may write
        "op.execute(\"CREATE FUNCTION purge() RETURNS void LANGUAGE sql AS 'DELETE FROM account'\")\n"
        'op.execute("SELECT purge()")',
    ],
    ids=["delete", "after-ddl", "function"],
)
def test_deleting_rows_is_data_loss(check, upgrade):
    rev = Rev("b2", "a1", upgrade, "pass")
    code, report = check([BASE, rev], command="roundtrip")
    assert code == 1
    [finding] = only(report, "data-loss")
    assert "deletes 3 of 3 rows from public.account" in finding["message"]


def test_dropping_a_table_that_held_rows_is_data_loss(check):
    log = Rev(
        "b2",
        "a1",
        'op.create_table("legacy_log", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("line", sa.Text))',
        'op.drop_table("legacy_log")',
    )
    drop = Rev(
        "c3",
        "b2",
        'op.drop_table("legacy_log")',
        'op.create_table("legacy_log", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("line", sa.Text))',
    )
    code, report = check([BASE, log, drop], command="roundtrip")
    [loss] = only(report, "data-loss")
    assert loss["revision"] == "c3"
    assert "drops table public.legacy_log, which held 3 rows" in loss["message"]
    assert code == 1


def test_a_column_read_before_its_drop_is_a_warning_naming_the_read_not_a_loss(check):
    rev = Rev(
        "b2",
        "a1",
        'op.create_table("email_archive", sa.Column("account_id", sa.Integer), sa.Column("data", sa.JSON))\n'
        "op.execute(\n"
        "    \"INSERT INTO email_archive SELECT id, json_build_object('digest', md5(email))\"\n"
        '    " FROM account"\n'
        ")\n"
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100)))\n'
        "op.execute(\"UPDATE account a SET email = e.data->>'digest' FROM email_archive e\"\n"
        '           " WHERE e.account_id = a.id")\n'
        'op.alter_column("account", "email", nullable=False)\n'
        'op.drop_table("email_archive")',
    )
    models = (
        MODELS.format(extra="").replace(
            ',\n         sa.Column("email", sa.String(100), nullable=False))', ")"
        )
        + 'sa.Table("email_archive", target_metadata, sa.Column("account_id", sa.Integer),\n'
        + '         sa.Column("data", sa.JSON))\n'
    )
    code, report = check([BASE, rev], models, command="roundtrip")
    [finding] = only(report, "data-loss")
    assert finding["severity"] == "warning", finding
    assert "drops column public.account.email" in finding["message"]
    assert "a statement before the drop reads it (INSERT INTO email_archive SELECT id" in finding["message"]
    assert code == 0, report


def test_a_dropped_column_its_downgrade_rebuilds_from_other_data_is_a_warning(check):
    """fittrackee's 080acc8ee956 drops sports.img, and its downgrade writes the paths back from
    the labels: the values are derived, so a warning naming the downgrade's statement (without
    such a statement the same drop is an error: the case ``drop-column`` of docs/checks.md)."""
    sport = Rev(
        "a1",
        None,
        'op.create_table("sport", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("label", sa.String(50), nullable=False),\n'
        '                sa.Column("img", sa.String(255)))',
        'op.drop_table("sport")',
    )
    rev = Rev(
        "b2",
        "a1",
        'op.drop_column("sport", "img")',
        'op.add_column("sport", sa.Column("img", sa.String(255)))\n'
        "op.execute(\n"
        '    """\n'
        "    UPDATE sport SET img = '/img/sports/' || lower(label) || '.png'\n"
        '    """\n'
        ")",
    )
    models = (
        "import sqlalchemy as sa\ntarget_metadata = sa.MetaData()\n"
        'sa.Table("sport", target_metadata, sa.Column("id", sa.Integer, primary_key=True),\n'
        '         sa.Column("label", sa.String(50), nullable=False))\n'
    )
    code, report = check([sport, rev], models, command="roundtrip")
    [finding] = only(report, "data-loss")
    assert finding["severity"] == "warning", finding
    assert (
        "drops column public.sport.img, which held data; its downgrade writes it again (line "
        in finding["message"]
    )
    assert "UPDATE sport SET img = '/img/sports/' || lower(label)" in finding["message"], finding
    assert code == 0, report


@pytest.mark.parametrize("message", ["revision b2", "drop nickname from account"])
def test_a_drop_the_revisions_message_announces_is_a_warning(capsys, tmp_path, server_url, message):
    """b2 drops account.nickname, which held data: an error, unless the revision's own message
    (alembic revision -m) says it drops that column: then the loss is its purpose, a warning."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("nickname", sa.Text))',
        'op.drop_table("account")',
    )
    b2 = Rev(
        "b2",
        "a1",
        'op.drop_column("account", "nickname")',
        'op.add_column("account", sa.Column("nickname", sa.Text))',
    )
    ini = make_project(tmp_path, [a1, b2], "target_metadata = None", "connection")
    path = tmp_path / "migrations" / "versions" / "b2.py"
    path.write_text(path.read_text().replace('"""revision b2"""', f'"""{message}"""'))
    code, report = run_on(capsys, ini, "roundtrip", server_url=server_url)
    [finding] = only(report, "data-loss")
    assert "drops column public.account.nickname, which held data" in finding["message"], finding
    if message == "revision b2":
        assert finding["severity"] == "error", finding
    else:
        assert finding["severity"] == "warning", finding
        assert "the revision's message says it means to ('drop nickname from account')" in finding["message"]
