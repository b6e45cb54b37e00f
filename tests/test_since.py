"""A pull request's walk: only what it adds, from a plain upgrade to the base's revisions."""

from __future__ import annotations

import pytest

from alembic_cases import Rev, add_revision, make_project
from conftest import errors, git, run_json, scratch_databases

# a1's downgrade leaves the table legacy behind: a defect already merged, outside the pull request.
A1 = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text))\n'
    'op.create_table("legacy", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("account")',
)
B2 = Rev("b2", "a1", 'op.add_column("account", sa.Column("n", sa.Integer))', 'op.drop_column("account", "n")')
# The pull request's revision: it drops a column that holds data.
C3 = Rev(
    "c3", "b2", 'op.drop_column("account", "email")', 'op.add_column("account", sa.Column("email", sa.Text))'
)


@pytest.fixture
def pull_request(tmp_path):
    ini = make_project(tmp_path, [A1, B2])
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    add_revision(ini, C3)
    return ini


def walked(report):
    return sorted({(f["check"], f["revision"]) for f in report["findings"] if f["severity"] == "error"})


@pytest.mark.slow
@pytest.mark.parametrize("command", ["roundtrip", "check"])
def test_since_walks_only_the_new_revisions_with_rows_in_every_existing_table(
    capsys, monkeypatch, pull_request, server_url, pg_server, command
):
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    existing = scratch_databases(pg_server)  # other tests' (a restore keeps the database it replaced)
    code, report = run_json(
        capsys, command, "-c", str(pull_request), "--database-url", server_url, "--since", "HEAD"
    )
    assert code == 1
    assert report["revisions"] == 1
    # c3's data loss is found on the rows generated for the base's table; a1 is not walked.
    assert ("data-loss", "c3") in walked(report)
    assert not [r for _, r in walked(report) if r == "a1"]
    if command == "check":  # the lock analysis of c3 started from the base kept for the walk
        assert any(f["check"] == "locks" and f["revision"] == "c3" for f in report["findings"])
    assert scratch_databases(pg_server) == existing  # the kept base too is dropped at the end


@pytest.mark.parametrize("how", ["--all", "push"])
def test_all_and_a_push_walk_the_whole_chain(capsys, monkeypatch, pull_request, server_url, how):
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push" if how == "push" else "pull_request")
    selection = ["--since", "HEAD"] if how == "push" else ["--all"]
    code, report = run_json(
        capsys, "roundtrip", "-c", str(pull_request), "--database-url", server_url, *selection
    )
    assert code == 1
    assert report["revisions"] == 3
    assert walked(report) == [("data-loss", "c3"), ("roundtrip", "a1")]


def test_since_with_nothing_new_still_compares_the_models(capsys, monkeypatch, tmp_path, server_url):
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    models = "import sqlalchemy as sa\ntarget_metadata = sa.MetaData()\nsa.Table('other', target_metadata)"
    ini = make_project(
        tmp_path, [B2.__class__("a1", None, A1.upgrade, A1.downgrade + '\nop.execute("SELECT 1")')], models
    )
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    code, report = run_json(capsys, "check", "-c", str(ini), "--database-url", server_url, "--since", "HEAD")
    assert report["revisions"] == 0
    assert ("drift", None) in walked(report)
    assert code == 1


ADDS = Rev(
    "b2",
    "a1",
    'op.add_column("account", sa.Column("n", sa.Integer, server_default="1"))\n'
    'op.create_table("draft", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("draft")\nop.drop_column("account", "n")',
)
DROPS = Rev(
    "c3",
    "b2",
    'op.drop_column("account", "n")\nop.drop_table("draft")',
    'op.create_table("draft", sa.Column("id", sa.Integer, primary_key=True))\n'
    'op.add_column("account", sa.Column("n", sa.Integer))',
)


@pytest.mark.slow
def test_what_a_pull_request_adds_and_drops_again_held_no_production_data(
    capsys, monkeypatch, tmp_path, server_url
):
    """A column and a table added since the base and dropped before it is released (fittrackee
    1.1.0's 0bbe0c8372cf drops a column 66_c59425f77851 of the same release added): production
    never held data there, so no data-loss; the whole chain walked (``--all``) still says it."""
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    ini = make_project(tmp_path, [A1])
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    add_revision(ini, ADDS)
    add_revision(ini, DROPS)
    since = ["--since", "HEAD"]
    code, report = run_json(capsys, "roundtrip", "-c", str(ini), "--database-url", server_url, *since)
    assert report["revisions"] == 2
    assert not [f for f in report["findings"] if f["check"] == "data-loss" and "upgrade of" in f["message"]]
    code, report = run_json(capsys, "roundtrip", "-c", str(ini), "--database-url", server_url, "--all")
    lost = sorted(f["message"].split("; ")[0] for f in errors(report) if f["check"] == "data-loss")
    assert lost == [
        "upgrade of c3 drops column public.account.n, which held data",
        "upgrade of c3 drops table public.draft, which held 3 rows",
    ], report


@pytest.mark.slow
def test_a_project_that_runs_releases_loses_nothing_one_release_added_and_dropped(
    capsys, monkeypatch, tmp_path, server_url
):
    """``release-tags``: production runs only tagged releases (fittrackee: 0bbe0c8372cf and
    66_c59425f77851 both came out in 1.1.0). A column and a table b2 adds and c3 drops, with no
    release between them, held no production data; once a release holds b2 (tag v2), they did."""
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db]\nrelease-tags = "v*"\n')
    ini = make_project(tmp_path, [A1])
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "a1")
    git(tmp_path, "tag", "v1")
    git(tmp_path, "tag", "other-b2")  # not a release tag: ignored
    add_revision(ini, ADDS)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "b2")
    add_revision(ini, DROPS)
    git(tmp_path, "mv", "migrations/versions/b2.py", "migrations/versions/0002_b2.py")  # keeps b2's release
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "c3")

    def losses():
        code, report = run_json(capsys, "roundtrip", "-c", str(ini), "--database-url", server_url)
        return sorted(f["message"].split("; ")[0] for f in errors(report) if f["check"] == "data-loss")

    assert losses() == []
    git(tmp_path, "tag", "v2", "HEAD~1")  # b2 came out in v2, c3 comes in the next release
    assert losses() == [
        "upgrade of c3 drops column public.account.n, which held data",
        "upgrade of c3 drops table public.draft, which held 3 rows",
    ]
