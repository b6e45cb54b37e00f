"""The GitHub workflows: valid against the workflow and action schemas, clean for zizmor, and
rehearsed locally step by step: they pass on this repository, fail on a bad migration, and the
production workflow plans and deploys a stand-in production database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_cases import Rev, revision_source
from conftest import REPO, alembic_config, git, repository_copy
from workflow_rehearsal import rehearse

WORKFLOWS = REPO / ".github" / "workflows"
BIN = os.path.dirname(sys.executable)


def tool(*args, cwd=REPO):
    return subprocess.run([os.path.join(BIN, args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True)


def test_workflows_and_the_action_match_githubs_schemas():
    workflows = tool(
        "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS.glob("*.yml"))
    )
    action = tool(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.github-actions",
        str(REPO / ".github/actions/setup/action.yml"),
    )
    assert workflows.returncode == 0, workflows.stdout + workflows.stderr
    assert action.returncode == 0, action.stdout + action.stderr


def test_zizmor_finds_nothing_offline():
    result = tool("zizmor", "--offline", ".github/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


@pytest.fixture
def checkout(tmp_path):
    """A working copy of this repository: main at its current state, plus a pull-request branch."""
    root = repository_copy(tmp_path / "repo")
    git(root, "checkout", "-q", "-b", "feature")
    return root


PULL_REQUEST = {
    "github.base_ref && format('origin/{0}', github.base_ref) || 'HEAD~1'": "origin/main",
    "github.event.pull_request.number || github.ref": "7",
    "github.base_ref": "main",
    "github.ref": "refs/pull/7/merge",
    "matrix.postgres": "16",
}


def rehearse_pull_request(checkout, server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    results = {}
    for job in ("static", "postgres"):
        results[job] = rehearse(
            WORKFLOWS / "migrations.yml",
            job,
            checkout,
            PULL_REQUEST,
            {"DATABASE_URL": server_url},
            skip=("pytest",),
            tmp=tmp_path,
        )
    return results


def test_the_pull_request_workflow_passes_on_this_repository(checkout, server_url, tmp_path, monkeypatch):
    results = rehearse_pull_request(checkout, server_url, tmp_path, monkeypatch)
    for job, result in results.items():
        assert result.failed is None, f"{job}: {result.failed}"
    assert results["static"].ran == ["pre-commit hooks", "One head", "Lint the new revisions' SQL"]
    assert results["postgres"].ran == ["Migration checks", "Rendered SQL"]
    assert results["postgres"].skipped == ["pytest"]  # the test suite itself, from the test suite
    assert "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683" in results["static"].replaced
    assert "mks-db check: ok" in results["postgres"].summary
    assert (checkout / "build/mks-db-report.json").is_file()


def test_the_pull_request_workflow_fails_on_a_bad_migration(checkout, server_url, tmp_path, monkeypatch):
    bad = Rev(
        "feed00000001",
        "9d3f6b8e2c14",
        'op.create_index("idx_knowledge_summary", "knowledge", ["summary"])',
        "pass",
    )
    path = checkout / "migrations/versions/feed00000001_index_summary.py"
    path.write_text(revision_source(bad))
    tool("ruff", "format", str(path))  # a tidy file: what fails is the migration, not its layout
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "a bad migration", "--no-verify")
    results = rehearse_pull_request(checkout, server_url, tmp_path, monkeypatch)
    # the first step that fails is the pre-commit run, on the hook that lints the revision
    assert results["static"].failed and results["static"].failed.startswith("pre-commit hooks")
    assert "require-concurrent-index-creation" in results["static"].failed
    assert results["postgres"].failed and results["postgres"].failed.startswith("Migration checks")
    assert "does not restore the schema" in results["postgres"].failed


@pytest.fixture
def production(scratch_url):
    command.upgrade(alembic_config(scratch_url), "e1f2a3b4c5d6")
    return scratch_url


def deploy_values(dry_run: str, ref: str = "refs/heads/main") -> dict[str, str]:
    return {"inputs.target": "head", "inputs.dry_run": dry_run, "github.ref": ref}


def revision_of(url):
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return found


@pytest.mark.parametrize(("dry_run", "expected"), [("true", "e1f2a3b4c5d6"), ("false", "9d3f6b8e2c14")])
def test_the_production_workflow_plans_then_deploys(
    checkout, production, server_url, tmp_path, monkeypatch, dry_run, expected
):
    # The secret must not show: the server's password, or one the trusting embedded server ignores.
    secret = production.password or "s3cret-prod"
    plain = production.set(password=secret).render_as_string(hide_password=False)
    values = {
        **deploy_values(dry_run),
        "secrets.PRODUCTION_READONLY_DATABASE_URL": plain,
        "secrets.PRODUCTION_DATABASE_URL": plain,
    }
    monkeypatch.setenv("MKS_DB_SCRATCH_URL", server_url)
    plan = rehearse(WORKFLOWS / "deploy-production.yml", "plan", checkout, values, {}, tmp=tmp_path)
    assert plan.failed is None, plan.failed
    assert "Migration plan for" in plan.summary and "f3a9c2d17b40" in plan.summary
    assert secret not in plan.summary
    deploy = rehearse(WORKFLOWS / "deploy-production.yml", "deploy", checkout, values, {}, tmp=tmp_path)
    assert deploy.failed is None, deploy.failed
    assert revision_of(production) == expected
    report = (checkout / "build/deploy-report.json").read_text()
    assert secret not in report
    assert ("dry run: nothing changed" in report) == (dry_run == "true")


def test_the_production_workflow_runs_only_from_main(checkout, production, tmp_path):
    values = {
        **deploy_values("true", ref="refs/heads/feature"),
        "secrets.PRODUCTION_READONLY_DATABASE_URL": "unused",
    }
    plan = rehearse(WORKFLOWS / "deploy-production.yml", "plan", checkout, values, {}, tmp=tmp_path)
    assert plan.failed and plan.failed.startswith("Only from main")
    assert "runs only from main" in plan.failed
