"""Offline SQL and its lint: rendering, the PostgreSQL parser, sqlfluff, squawk, and the
immutability of revisions that reached the base branch. No database needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alembic_cases import Rev, add_revision, make_project, revision_source
from conftest import REPO, git, run_json
from mks_db.cli import main

BASE = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("email", sa.String(100), nullable=False))',
    'op.drop_table("account")',
)


def lint(capsys, ini, *args):
    return run_json(capsys, "lint", "-c", str(ini), *args)


def findings(report, check):
    return [f for f in report["findings"] if f["check"] == check]


def test_rendering_is_deterministic_and_each_revision_has_its_own_files(tmp_path, capsys):
    second = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "age")',
    )
    ini = make_project(tmp_path, [BASE, second])
    out = tmp_path / "build" / "migration-sql"
    assert main(["sql", "-c", str(ini), "--all"]) == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.sql")}
    assert main(["sql", "-c", str(ini), "--all"]) == 0
    assert {p.name: p.read_bytes() for p in out.glob("*.sql")} == first
    assert set(first) == {"a1.upgrade.sql", "a1.downgrade.sql", "b2.upgrade.sql", "b2.downgrade.sql"}
    assert b"CREATE TABLE account" in first["a1.upgrade.sql"]
    assert b"CREATE TABLE account" not in first["b2.upgrade.sql"]
    assert b"ADD COLUMN age INTEGER" in first["b2.upgrade.sql"]
    assert b"DROP COLUMN age" in first["b2.downgrade.sql"]
    assert b"-- source: " in first["b2.upgrade.sql"] and b"b2.py" in first["b2.upgrade.sql"]


@pytest.mark.parametrize(
    ("upgrade", "rule"),
    [
        ('op.create_index("ix_email", "account", ["email"])', "require-concurrent-index-creation"),
        ('op.add_column("account", sa.Column("age", sa.Integer, nullable=False))', "adding-required-field"),
        ('op.alter_column("account", "email", type_=sa.Text)', "changing-column-type"),
    ],
)
def test_dangerous_statement_gets_a_safety_finding_naming_the_rule_and_the_file(
    tmp_path, capsys, upgrade, rule
):
    ini = make_project(tmp_path, [BASE, Rev("b2", "a1", upgrade, "pass")])
    code, report = lint(capsys, ini)
    assert code == 1
    found = [f for f in findings(report, "safety") if f["rule"] == rule]
    assert found, findings(report, "safety")
    assert found[0]["revision"] == "b2" and found[0]["path"].endswith("b2.py")
    assert found[0]["severity"] == "error"


def test_acknowledging_a_rule_with_a_reason_turns_it_into_a_note(tmp_path, capsys):
    rev = Rev(
        "b2",
        "a1",
        'op.create_index("ix_email", "account", ["email"])',
        "pass",
        header="# mks-db: allow require-concurrent-index-creation: account holds 40 rows",
    )
    ini = make_project(tmp_path, [BASE, rev])
    code, report = lint(capsys, ini)
    [note] = [f for f in report["findings"] if f["rule"] == "require-concurrent-index-creation"]
    assert note["severity"] == "warning"
    assert "acknowledged in the revision: account holds 40 rows" in note["message"]
    assert note["line"] == 2
    assert code == 0


@pytest.mark.slow
def test_sql_over_20000_bytes_is_still_linted(tmp_path, capsys):
    rows = ", ".join(f"('user{i}@example.com')" for i in range(1200))
    big = Rev(
        "b2",
        "a1",
        f'op.execute("INSERT INTO account (email) VALUES {rows}")\n'
        'op.create_index("ix_email", "account", ["email"])',
        "pass",
    )
    ini = make_project(tmp_path, [BASE, big])
    code, report = lint(capsys, ini, "--revision", "b2")
    assert (tmp_path / "build/migration-sql/b2.upgrade.sql").stat().st_size > 20000
    assert not [f for f in findings(report, "sql-style") if f["rule"] == "skipped"]
    assert any(f["rule"] == "require-concurrent-index-creation" for f in findings(report, "safety"))
    assert code == 1


def test_sql_that_does_not_parse_names_the_revision(tmp_path, capsys):
    typo = Rev("b2", "a1", 'op.execute("UPDATE account SET email = lower(email) WHER id > 0")', "pass")
    ini = make_project(tmp_path, [BASE, typo])
    code, report = lint(capsys, ini)
    [finding] = findings(report, "sql-parse")
    assert code == 1
    assert finding["revision"] == "b2" and finding["path"].endswith("b2.py")
    assert "syntax error" in finding["message"] and "b2.upgrade.sql" in finding["message"]


@pytest.fixture
def repository(tmp_path):
    ini = make_project(tmp_path, [BASE])
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    return ini


def test_changing_a_merged_revision_fails_immutability(repository, capsys):
    path = repository.parent / "migrations/versions/a1.py"
    path.write_text(path.read_text().replace("sa.String(100)", "sa.String(200)"))
    code, report = lint(capsys, repository, "--since", "main")
    [finding] = findings(report, "immutability")
    assert code == 1
    assert finding["revision"] == "a1"
    assert "was changed after it reached main" in finding["message"]


def test_deleting_or_renaming_a_merged_revision_with_a_change_fails_immutability(repository, capsys):
    versions = repository.parent / "migrations/versions"
    source = (versions / "a1.py").read_text()
    (versions / "a1.py").unlink()
    code, report = lint(capsys, repository, "--since", "main")
    [finding] = findings(report, "immutability")
    assert code == 1 and "a1.py was deleted after it reached main" in finding["message"]

    (versions / "a1_accounts.py").write_text(source.replace("sa.String(100)", "sa.String(200)"))
    git(repository.parent, "add", "-A")  # git sees a rename once both sides are staged
    code, report = lint(capsys, repository, "--since", "main")
    [finding] = findings(report, "immutability")
    assert code == 1 and "was renamed to migrations/versions/a1_accounts.py" in finding["message"]


def test_renaming_a_merged_revision_without_changing_its_code_passes_immutability(repository, capsys):
    versions = repository.parent / "migrations/versions"
    (versions / "a1.py").rename(versions / "a1_accounts.py")
    git(repository.parent, "add", "-A")
    code, report = lint(capsys, repository, "--since", "main")
    assert findings(report, "immutability") == []
    assert code == 0


def test_comment_only_change_passes_immutability(repository, capsys):
    path = repository.parent / "migrations/versions/a1.py"
    path.write_text("# the first table\n" + path.read_text().replace('"""revision a1"""', '"""Accounts."""'))
    code, report = lint(capsys, repository, "--since", "main")
    assert findings(report, "immutability") == []
    assert code == 0


def test_a_new_revision_passes_immutability_and_is_the_only_one_linted(repository, capsys):
    add_revision(
        repository,
        Rev(
            "b2",
            "a1",
            'op.add_column("account", sa.Column("age", sa.Integer))',
            'op.drop_column("account", "age")',
        ),
    )
    code, report = lint(capsys, repository, "--since", "main")
    assert findings(report, "immutability") == []
    assert report["revisions"] == 1
    assert code == 0


def test_a_downgrade_that_cannot_run_offline_is_a_finding_not_a_crash(tmp_path, capsys):
    rev = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'raise NotImplementedError("no way back")',
        header="# mks-db: irreversible: ages are derived from a purged source",
    )
    ini = make_project(tmp_path, [BASE, rev])
    code, report = lint(capsys, ini)
    [finding] = [f for f in findings(report, "sql-parse") if f["revision"] == "b2"]
    assert finding["severity"] == "warning"  # declared irreversible
    assert "cannot be rendered offline: NotImplementedError: no way back" in finding["message"]
    assert code == 0


def test_lint_results_are_cached_by_content_and_read_back(tmp_path, capsys):
    ini = make_project(tmp_path, [BASE, Rev("b2", "a1", 'op.create_index("ix_email", "account", ["email"])')])
    code, report = lint(capsys, ini)
    [measured] = [f for f in findings(report, "safety") if f["rule"] == "require-concurrent-index-creation"]
    cache = tmp_path / "build/migration-sql/.lint-cache"
    entries = {p: json.loads(p.read_text()) for p in cache.iterdir()}
    [entry] = [p for p, raw in entries.items() if any(v["rule"] == measured["rule"] for v in raw)]
    # A second run with the same SQL and settings answers from the cache: what it holds is
    # what the run reports (the tools are not asked again).
    raw = entries[entry]
    raw[0]["message"] = "from the cache"
    entry.write_text(json.dumps(raw))
    code, again = lint(capsys, ini)
    assert set(cache.iterdir()) == set(entries)
    assert [f["message"] for f in findings(again, "safety") if f["rule"] == measured["rule"]] == [
        measured["message"].replace(measured["message"].split(" (")[0], "from the cache")
    ]


ALL_RULES = "[sqlfluff]\ndialect = postgres\n"  # every rule, layout and capitalisation too


def test_sqlfluff_lints_the_sql_people_wrote_not_the_ddl_alembic_generated(tmp_path, capsys):
    hand = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))\n'
        "op.execute(\"update account   set age=1 where email like '%@example.com'\")",
        'op.drop_column("account", "age")',
    )
    ini = make_project(tmp_path, [BASE, hand])
    (tmp_path / ".sqlfluff").write_text(ALL_RULES)
    code, report = lint(capsys, ini)
    sql = (tmp_path / "build/migration-sql/b2.upgrade.sql").read_text().splitlines()
    [written] = [n for n, line in enumerate(sql, 1) if line.startswith("update account")]
    style = findings(report, "sql-style")
    assert style, report  # the hand-written UPDATE breaks capitalisation and spacing rules
    assert {f["message"].rsplit(":", 1)[1].rstrip(")") for f in style} == {str(written)}, style
    assert all(f["revision"] == "b2" for f in style)


def test_a_new_revision_behind_the_base_head_is_reported_by_heads(repository, capsys):
    second = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "age")',
    )
    add_revision(repository, second)
    git(repository.parent, "add", "-A")
    git(repository.parent, "commit", "-q", "-m", "b2 merged")
    # a branch written before b2 merged still revises a1
    add_revision(
        repository,
        Rev(
            "c3",
            "a1",
            'op.add_column("account", sa.Column("city", sa.Text))',
            'op.drop_column("account", "city")',
        ),
    )
    code, report = lint(capsys, repository, "--since", "main")
    [finding] = [f for f in findings(report, "heads") if f["rule"] == "behind-base"]
    assert finding["revision"] == "c3"
    assert "c3 revises a1, but main is at b2" in finding["message"]
    assert "down_revision = 'b2'" in finding["message"]
    assert code == 1


def test_an_autocommit_block_stays_visible_in_the_rendered_sql():
    from conftest import REPO
    from mks_db.engine.project import load_project
    from mks_db.engine.render import render_step

    project = load_project(REPO / "alembic.ini")
    sql = render_step(project, project.revision("9d3f6b8e2c14"), "upgrade")
    block = sql[sql.index("COMMIT;") : sql.rindex("BEGIN;")]
    assert "CREATE INDEX CONCURRENTLY idx_knowledge_created_by ON knowledge (created_by_id)" in block
    assert sql.index("SET lock_timeout") < sql.index("BEGIN;")  # env.py's timeouts come first


def test_heads_since_reports_a_revision_behind_the_base_head(repository, capsys):
    add_revision(repository, Rev("b2", "a1", "pass", "pass"))
    git(repository.parent, "add", "-A")
    git(repository.parent, "commit", "-q", "-m", "b2 merged")
    add_revision(repository, Rev("c3", "a1", "pass", "pass"))
    code = main(["heads", "-c", str(repository), "--since", "main", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {f["rule"] for f in report["findings"]} == {"behind-base", "multiple-heads"}


@pytest.mark.parametrize(("offline", "severity", "code"), [(None, "warning", 0), ("true", "error", 1)])
def test_an_env_py_that_does_not_run_offline_is_one_finding_not_a_stop(
    tmp_path, capsys, monkeypatch, offline, severity, code
):
    ini = make_project(tmp_path, [BASE])
    env = tmp_path / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            "if context.is_offline_mode():",
            'if context.is_offline_mode():\n    raise RuntimeError("No connection set in alembic config")',
        )
    )
    if offline:
        (tmp_path / "pyproject.toml").write_text(f"[tool.mks-db]\noffline = {offline}\n")
    monkeypatch.chdir(tmp_path)
    found_code, report = lint(capsys, ini)
    [finding] = findings(report, "sql-parse")
    assert finding["severity"] == severity
    assert "no revision's SQL could be rendered offline" in finding["message"]
    assert "RuntimeError: No connection set in alembic config" in finding["message"]
    assert finding["path"].endswith("env.py")
    assert found_code == code


def test_squawks_timeout_rules_are_judged_by_what_the_migrating_session_had():
    from mks_db.checks.safety import judge_timeouts
    from mks_db.findings import WARNING, Finding

    advice = [
        Finding("safety", WARNING, "b2", "set a lock timeout", rule="require-lock-timeout"),
        Finding("safety", WARNING, "b2", "set a statement timeout", rule="require-statement-timeout"),
    ]
    assert judge_timeouts(advice, None) == advice  # lint alone: as squawk reads the SQL
    assert judge_timeouts(advice, {"lock_timeout", "statement_timeout"}) == []
    [unset] = judge_timeouts(advice, {"lock_timeout"})
    assert unset.message == (
        "set a statement timeout; measured: env.py ran the migrations without statement_timeout"
    )


@pytest.mark.slow
def test_the_guide_s_merge_heads_turns_a_revision_behind_the_base_green(repository, capsys, server_url):
    add_revision(
        repository,
        Rev(
            "b2",
            "a1",
            'op.add_column("account", sa.Column("age", sa.Integer))',
            'op.drop_column("account", "age")',
        ),
    )
    git(repository.parent, "add", "-A")
    git(repository.parent, "commit", "-q", "-m", "b2 merged")
    add_revision(
        repository,
        Rev(
            "c3",
            "a1",
            'op.add_column("account", sa.Column("city", sa.Text))',
            'op.drop_column("account", "city")',
        ),
    )
    template = REPO / "migrations" / "script.py.mako"  # this repository's, as alembic revision uses it
    (repository.parent / "migrations" / "script.py.mako").write_text(template.read_text())
    merged = subprocess.run(  # the guide's fix, as the guide writes it
        [sys.executable, "-m", "alembic", "-c", str(repository), "merge", "heads", "-m", "merge b2 and c3"],
        cwd=repository.parent,
        capture_output=True,
        text=True,
    )
    assert merged.returncode == 0, merged.stderr
    code, report = lint(capsys, repository, "--since", "main")
    assert findings(report, "heads") == [] and code == 0, report
    changed = [str(p) for p in (repository.parent / "migrations/versions").glob("*.py") if p.name != "a1.py"]
    assert main(["hook", "-c", str(repository), "--base", "main", *changed]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["heads", "-c", str(repository), "--since", "main", "--format", "json"]) == 0
    capsys.readouterr()
    code, report = run_json(
        capsys, "check", "-c", str(repository), "--since", "main", "--database-url", server_url
    )
    assert (code, [f for f in report["findings"] if f["severity"] == "error"]) == (0, [])


@pytest.mark.slow
def test_with_linear_history_rebase_joins_two_heads_and_every_check_turns_green(
    repository, capsys, server_url, monkeypatch
):
    root = repository.parent
    (root / "pyproject.toml").write_text('[tool.mks-db]\nlinear-history = true\nbase-ref = "main"\n')
    add_revision(
        repository,
        Rev(
            "b2",
            "a1",
            'op.add_column("account", sa.Column("age", sa.Integer))',
            'op.drop_column("account", "age")',
        ),
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "b2 merged")
    git(root, "checkout", "-q", "-b", "feature", "HEAD~1")
    add_revision(
        repository,
        Rev(
            "c3",
            "a1",
            'op.add_column("account", sa.Column("city", sa.Text))',
            'op.drop_column("account", "city")',
        ),
    )
    add_revision(
        repository,
        Rev(
            "d4",
            "c3",
            'op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))',
            'op.drop_table("audit")',
        ),
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "c3, d4")
    git(root, "merge", "-q", "main", "-m", "merge main")  # two heads: b2 and d4
    monkeypatch.chdir(root)  # the settings are read from the working directory
    assert main(["heads", "-c", str(repository), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert all("join them: mks-db rebase" in f["message"] for f in findings(report, "heads")), report
    source = (root / "migrations/versions/c3.py").read_text()
    assert main(["rebase", "-c", str(repository)]) == 0
    out = capsys.readouterr().out
    assert "c3 (migrations/versions/c3.py) now revises b2 instead of a1: one head, d4" in out, out
    after = (root / "migrations/versions/c3.py").read_text()
    changed = [(a, b) for a, b in zip(source.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("down_revision = 'a1'", "down_revision = 'b2'")], changed  # nothing else
    assert main(["heads", "-c", str(repository), "--since", "main"]) == 0
    capsys.readouterr()
    code, report = lint(capsys, repository, "--since", "main")
    assert code == 0 and findings(report, "heads") == [], report
    code, report = run_json(
        capsys, "check", "-c", str(repository), "--since", "main", "--database-url", server_url
    )
    assert (code, [f for f in report["findings"] if f["severity"] == "error"]) == (0, []), report
    # A merge revision is what linear history refuses, with the way out.
    (root / "migrations/versions/e5.py").write_text(revision_source(Rev("e5", ("b2", "d4"))))
    assert main(["heads", "-c", str(repository), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(f["rule"] == "merge-revision" and "mks-db rebase" in f["message"] for f in report["findings"])
