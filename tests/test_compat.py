"""The compat check: the base's models (the running release's) against a pull request's revisions."""

from __future__ import annotations

import pytest

from alembic_cases import Rev, add_revision, make_project
from conftest import git, run_json

# account has children (login): a DELETE of one of its rows fails, so the check deletes only
# the row its own INSERT wrote.
A1 = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("email", sa.String(100), nullable=False), sa.Column("nickname", sa.Text))\n'
    'op.create_table("login", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), nullable=False))',
    'op.drop_table("login")\nop.drop_table("account")',
)
MODELS = """
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(100))
{extra}

target_metadata = Base.metadata
"""
NICKNAME = "    nickname: Mapped[str | None] = mapped_column(sa.Text)"

# What the pull request does: its revision, the models it leaves, and the attribute named.
CHANGES = {
    "a nullable column": (
        Rev(
            "b2",
            "a1",
            'op.add_column("account", sa.Column("bio", sa.Text))',
            'op.drop_column("account", "bio")',
        ),
        NICKNAME + "\n    bio: Mapped[str | None] = mapped_column(sa.Text)",
        None,
    ),
    "a new table": (
        Rev(
            "b2",
            "a1",
            'op.create_table("note", sa.Column("id", sa.Integer, primary_key=True),\n'
            '                sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"),\n'
            "                          nullable=False))",
            'op.drop_table("note")',
        ),
        NICKNAME,
        None,
    ),
    "a dropped column no release reads any more": (  # the base's models already left it
        Rev(
            "b2",
            "a1",
            'op.drop_column("account", "nickname")',
            'op.add_column("account", sa.Column("nickname", sa.Text))',
        ),
        "",
        None,
    ),
    "a dropped column the base reads": (
        Rev(
            "b2",
            "a1",
            'op.drop_column("account", "nickname")',
            'op.add_column("account", sa.Column("nickname", sa.Text))',
        ),
        "",
        "Account.nickname",
    ),
    "a NOT NULL column without a default": (
        Rev(
            "b2",
            "a1",
            'op.add_column("account", sa.Column("age", sa.Integer, nullable=False, server_default="0"))\n'
            'op.alter_column("account", "age", server_default=None)',
            'op.drop_column("account", "age")',
        ),
        NICKNAME + "\n    age: Mapped[int] = mapped_column()",
        "Account",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_base_models_run_on_the_new_revisions(capsys, monkeypatch, tmp_path, server_url, change):
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    revision, models, named = CHANGES[change]
    base = "" if change == "a dropped column no release reads any more" else NICKNAME
    ini = make_project(tmp_path, [A1], MODELS.format(extra=base))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    add_revision(ini, revision)
    env_py = tmp_path / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace(MODELS.format(extra=base), MODELS.format(extra=models)))
    code, report = run_json(capsys, "check", "-c", str(ini), "--database-url", server_url, "--since", "main")
    found = [f for f in report["findings"] if f["check"] == "compat"]
    if named is None:
        assert found == [], found
        return
    [finding] = found
    assert finding["severity"] == "error" and finding["revision"] == "b2", finding
    assert finding["message"].startswith(f"{named}: the running release's "), finding
    assert "two releases instead: " in finding["message"], finding
    assert code == 1


def test_a_model_table_the_base_lacks_is_not_the_new_revisions_doing(
    capsys, monkeypatch, tmp_path, server_url
):
    """The base's models map ``archive``, which no revision of the base creates (drift, already
    at the base; the pull request's revision creates it): its statements fail before the new
    revision, so compat says nothing of it, and still judges the rest."""
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    archive = (
        '\n\nclass Archive(Base):\n    __tablename__ = "archive"\n'
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    ini = make_project(tmp_path, [A1], MODELS.format(extra=NICKNAME) + archive)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    dropped, _, named = CHANGES["a dropped column the base reads"]
    revision = Rev(
        "b2",
        "a1",
        dropped.upgrade + '\nop.create_table("archive", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("archive")\n' + dropped.downgrade,
    )
    add_revision(ini, revision)
    code, report = run_json(capsys, "compat", "-c", str(ini), "--database-url", server_url, "--since", "main")
    assert [f["message"].split(":")[0] for f in report["findings"]] == [named], report


def test_a_key_the_revisions_own_rows_hold_is_not_the_release_breaking(
    capsys, monkeypatch, tmp_path, server_url
):
    """b2 seeds a row whose key the release's generated INSERT repeats (as this repository's
    seeded role_permissions do): a unique violation of generated values, not of the code."""
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    a1 = Rev(
        "a1",
        None,
        'op.create_table("pair", sa.Column("a", sa.Integer, primary_key=True, autoincrement=False),\n'
        '                sa.Column("b", sa.Integer, primary_key=True, autoincrement=False))',
        'op.drop_table("pair")',
    )
    models = (
        "import sqlalchemy as sa\ntarget_metadata = sa.MetaData()\n"
        'sa.Table("pair", target_metadata,\n'
        '         sa.Column("a", sa.Integer, primary_key=True, autoincrement=False),\n'
        '         sa.Column("b", sa.Integer, primary_key=True, autoincrement=False))\n'
    )
    ini = make_project(tmp_path, [a1], models)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    add_revision(
        ini,
        Rev(
            "b2", "a1", 'op.execute("INSERT INTO pair VALUES (1001, 1001)")', 'op.execute("DELETE FROM pair")'
        ),
    )
    code, report = run_json(capsys, "compat", "-c", str(ini), "--database-url", server_url, "--since", "main")
    assert report["findings"] == [] and code == 0, report
