"""The pre-commit hooks, run by real pre-commit in a git repository made from this one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GIT_ENV, repository_copy

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

ENV = dict(GIT_ENV)  # the hooks are `language: system`: they run this environment's tools
HEAD = "9d3f6b8e2c14"


def run(cwd, *args, check=True):
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """This repository's files (as in the working tree) in a fresh git repository with the
    hooks installed, its first commit standing for the main branch (origin/main)."""
    root = repository_copy(tmp_path_factory.mktemp("repo"))
    ENV["PRE_COMMIT_HOME"] = str(tmp_path_factory.mktemp("pre-commit-home"))
    run(root, sys.executable, "-m", "pre_commit", "install")
    return root


def new_revision(root: Path, rev: str, upgrade: str, downgrade: str | None) -> Path:
    path = root / "migrations" / "versions" / f"{rev}_change.py"
    body = '"""a change"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
    body += f'revision = "{rev}"\ndown_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\n'
    body += f"def upgrade() -> None:\n    {upgrade}\n"
    if downgrade is not None:
        body += f"\n\ndef downgrade() -> None:\n    {downgrade}\n"
    path.write_text(body)
    return path


def commit(root: Path, path: Path):
    run(root, "git", "add", str(path))
    result = run(root, "git", "commit", "-q", "-m", "add a revision", check=False)
    if result.returncode != 0:
        run(root, "git", "reset", "-q", "HEAD", "--", str(path))
        path.unlink()
    return result


def test_pre_commit_passes_on_the_repository(clone):
    result = run(clone, sys.executable, "-m", "pre_commit", "run", "--all-files", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mks-db: revisions" in result.stdout


def test_a_revision_without_downgrade_is_rejected_with_the_reason(clone):
    path = new_revision(clone, "aa11bb22cc33", 'op.add_column("knowledge", sa.Column("x", sa.Integer))', None)
    result = commit(clone, path)
    assert result.returncode != 0
    assert "no downgrade() function" in result.stdout + result.stderr


def test_a_dangerous_statement_is_rejected_with_the_rule(clone):
    path = new_revision(
        clone,
        "bb22cc33dd44",
        'op.create_index("idx_knowledge_summary", "knowledge", ["summary"])',
        'op.drop_index("idx_knowledge_summary", "knowledge")',
    )
    result = commit(clone, path)
    assert result.returncode != 0
    assert "require-concurrent-index-creation" in result.stdout + result.stderr


def test_editing_a_merged_revision_is_rejected(clone):
    path = next((clone / "migrations" / "versions").glob("f3a9c2d17b40_*.py"))
    original = path.read_text()
    path.write_text(original.replace("sa.Date()", "sa.DateTime()"))
    run(clone, "git", "add", str(path))
    result = run(clone, "git", "commit", "-q", "-m", "edit", check=False)
    run(clone, "git", "checkout", "-q", "HEAD", "--", str(path))
    assert result.returncode != 0
    assert "was changed after it reached origin/main" in result.stdout + result.stderr


def test_a_clean_revision_is_accepted(clone):
    path = new_revision(
        clone,
        "cc33dd44ee55",
        'op.add_column("knowledge", sa.Column("review_note", sa.Text(), nullable=True))',
        'op.drop_column("knowledge", "review_note")',
    )
    result = commit(clone, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_hook_in_another_repository_guards_merged_revisions_and_writes_nothing_to_commit(tmp_path):
    """A team's own project (``alembic init``), cloned from its remote as a developer has it: with
    no mks-db settings at all, an edit of a revision the default branch holds is refused against
    origin/HEAD, and what the hook writes is ignored by git."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    seed = tmp_path / "seed"
    seed.mkdir()
    run(seed, "git", "init", "-q", "-b", "trunk")
    run(seed, str(Path(sys.executable).parent / "alembic"), "init", "migrations")
    (seed / "migrations" / "versions" / "a1_accounts.py").write_text(
        '"""accounts"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        'revision = "a1"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))\n\n\n'
        'def downgrade() -> None:\n    op.drop_table("account")\n'
    )
    run(seed, "git", "add", "-A")
    run(seed, "git", "commit", "-q", "-m", "accounts")
    run(tmp_path, "git", "clone", "-q", "--bare", str(seed), str(remote))
    run(tmp_path, "git", "clone", "-q", str(remote), str(work))
    revision = work / "migrations" / "versions" / "a1_accounts.py"
    revision.write_text(revision.read_text().replace('"account"', '"accounts"'))
    hook = run(work, str(Path(sys.executable).parent / "mks-db"), "hook", str(revision), check=False)
    assert hook.returncode == 1, hook.stdout + hook.stderr
    assert "was changed after it reached origin/trunk" in hook.stdout, hook.stdout
    status = run(work, "git", "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    assert status == [" M migrations/versions/a1_accounts.py"], status  # build/ is there, ignored
    assert (work / "build" / "migration-sql" / ".gitignore").is_file()


def test_a_merge_that_brings_two_heads_is_stopped_before_its_merge_commit(clone):
    """`pre-commit install` (the README's line) installs the merge stages: two branches that each
    add a revision on the same parent are caught by `git merge`, not at the next commit."""
    assert (clone / ".git" / "hooks" / "pre-merge-commit").is_file()
    assert (clone / ".git" / "hooks" / "post-merge").is_file()
    start = run(clone, "git", "rev-parse", "HEAD").stdout.strip()
    first = run(clone, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    run(clone, "git", "reset", "-q", "--hard", first)  # main as it was: what other tests committed aside
    try:
        run(clone, "git", "checkout", "-q", "-b", "other")
        theirs = new_revision(
            clone,
            "0the1r5000a1",
            'op.add_column("knowledge", sa.Column("a", sa.Text))',
            'op.drop_column("knowledge", "a")',
        )
        assert commit(clone, theirs).returncode == 0
        run(clone, "git", "checkout", "-q", "main")
        ours = new_revision(
            clone,
            "0ur5000000b2",
            'op.add_column("knowledge", sa.Column("b", sa.Text))',
            'op.drop_column("knowledge", "b")',
        )
        assert commit(clone, ours).returncode == 0
        merged = run(clone, "git", "merge", "--no-edit", "other", check=False)
        assert merged.returncode != 0, merged.stdout + merged.stderr
        output = merged.stdout + merged.stderr
        assert "2 heads" in output and "alembic merge heads" in output, output
        assert run(clone, "git", "rev-list", "--count", "--merges", "HEAD").stdout.strip() == "0"
    finally:
        run(clone, "git", "merge", "--abort", check=False)
        run(clone, "git", "checkout", "-q", "main")
        run(clone, "git", "reset", "-q", "--hard", start)
        run(clone, "git", "branch", "-q", "-D", "other", check=False)


def test_a_new_revision_committed_with_unrelated_changes_gets_a_warning_and_passes(clone):
    start = run(clone, "git", "rev-parse", "HEAD").stdout.strip()
    first = run(clone, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    run(clone, "git", "reset", "-q", "--hard", first)  # main as it was: what other tests committed aside
    try:
        path = new_revision(
            clone,
            "m1x3d000c0de",
            'op.add_column("knowledge", sa.Column("mixed", sa.Text))',
            'op.drop_column("knowledge", "mixed")',
        )
        with (clone / "README.md").open("a") as readme:
            readme.write("\nAn unrelated line.\n")
        run(clone, "git", "add", str(path), "README.md")
        result = run(clone, "git", "commit", "-q", "-m", "a revision and a README line", check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "[mixed-commit]" in output and "README.md" in output and "on its own" in output, output
    finally:
        run(clone, "git", "reset", "-q", "--hard", start)


def test_the_daily_workflow_needs_no_database_of_ones_own(clone, tmp_path):
    """The README's daily workflow from a clone, with no PostgreSQL set up by hand: a model
    changed, ``mks-db revision --autogenerate``, ``mks-db check``, a commit through the hooks."""
    start = run(clone, "git", "rev-parse", "HEAD").stdout.strip()
    first = run(clone, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    run(clone, "git", "reset", "-q", "--hard", first)
    env = {k: v for k, v in ENV.items() if k != "DATABASE_URL"}
    models = clone / "backend" / "mks" / "models.py"
    try:
        source = models.read_text()
        anchor = "class Knowledge(Base):\n"
        body = source.index("\n    summary", source.index(anchor))
        line_end = source.index("\n", body + 1)
        models.write_text(
            source[: line_end + 1]
            + "    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)\n"
            + source[line_end + 1 :]
        )
        mks_db = str(Path(sys.executable).parent / "mks-db")
        made = subprocess.run(
            [mks_db, "revision", "--autogenerate", "-m", "add knowledge.review_note"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        [revision] = [p for p in (clone / "migrations" / "versions").glob("*review_note.py")]
        assert (
            'op.add_column("knowledge", sa.Column("review_note", sa.Text(), nullable=True))'
            in revision.read_text()
        )
        checked = subprocess.run([mks_db, "check"], cwd=clone, env=env, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        run(clone, "git", "add", str(models), str(revision))
        committed = run(clone, "git", "commit", "-q", "-m", "knowledge.review_note", check=False)
        assert committed.returncode == 0, committed.stdout + committed.stderr
        assert "[mixed-commit]" not in committed.stdout + committed.stderr  # a migration with its model
    finally:
        run(clone, "git", "reset", "-q", "--hard", start)
        run(clone, "git", "clean", "-q", "-fd", "migrations")
