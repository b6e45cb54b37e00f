"""The GitHub workflows: valid against the workflow and action schemas, clean for zizmor, and
rehearsed locally step by step: they pass on this repository, fail on a bad migration, and the
production workflow plans and deploys a stand-in production database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_cases import Rev, revision_source
from app_service import Service
from conftest import REPO, alembic_config, git, repository_copy
from mks_db.database.installs import SUPPORTED_MAJORS
from workflow_rehearsal import rehearse

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

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
    dependabot = tool(
        "check-jsonschema", "--builtin-schema", "vendor.dependabot", str(REPO / ".github/dependabot.yml")
    )
    for result in (workflows, action, dependabot):
        assert result.returncode == 0, result.stdout + result.stderr


def test_required_checks_always_run_merge_queues_included():
    triggers = yaml.safe_load((WORKFLOWS / "migrations.yml").read_text())[True]  # YAML 1.1 reads `on` as True
    assert {"pull_request", "merge_group", "push"} <= set(triggers)
    for event, spec in triggers.items():
        filters = set(spec) if isinstance(spec, dict) else set()  # schedule is a list of crons
        assert not {"paths", "paths-ignore"} & filters, f"{event} is filtered by path"


def test_the_tests_run_once_per_run_and_the_checks_on_every_major():
    jobs = yaml.safe_load((WORKFLOWS / "migrations.yml").read_text())["jobs"]
    runs = {name: [step.get("run", "").strip() for step in job["steps"]] for name, job in jobs.items()}
    assert [name for name, steps in runs.items() if "pytest" in steps] == ["tests"]
    assert "strategy" not in jobs["tests"] and "matrix" in jobs["postgres"]["strategy"]


def test_production_installs_from_the_hash_locked_requirements_without_development_tools():
    from packaging.requirements import Requirement

    lock = (REPO / "requirements" / "deploy.txt").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.M))
    pinned = {name.lower().replace("_", "-"): version for name, version in pinned.items()}
    entries = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n((?:\s+--hash=sha256:\w+(?: \\)?\n)+)", lock, re.M)
    assert len(entries) == len(pinned), "every pinned package has its hashes"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    for requirement in map(Requirement, project["project"]["dependencies"]):
        name = requirement.name.lower().replace("_", "-")
        assert name in pinned, f"requirements/deploy.txt does not pin {name}"
        assert requirement.specifier.contains(pinned[name]), f"{name}=={pinned[name]} breaks {requirement}"
    tools = {
        "pytest",
        "ruff",
        "pre-commit",
        "zizmor",
        "check-jsonschema",
        "flask-migrate",
        "asyncpg",
    }
    assert not tools & set(pinned), "development tools in the production install"
    assert "setuptools" in pinned  # the build backend, for --no-build-isolation
    setup = yaml.safe_load((REPO / ".github/actions/setup/action.yml").read_text())
    deploy_steps = [
        step["run"] for step in setup["runs"]["steps"] if step.get("if") == "inputs.install == 'deploy'"
    ]
    assert deploy_steps and "--require-hashes -r requirements/deploy.txt" in deploy_steps[0]
    for job in yaml.safe_load((WORKFLOWS / "deploy-production.yml").read_text())["jobs"].values():
        [setup_step] = [step for step in job["steps"] if step.get("uses") == "./.github/actions/setup"]
        assert setup_step["with"]["install"] == "deploy"


def test_the_checks_run_on_every_supported_major_production_s_among_them():
    matrix = yaml.safe_load((WORKFLOWS / "migrations.yml").read_text())["jobs"]["postgres"]["strategy"][
        "matrix"
    ]
    assert [int(major) for major in matrix["postgres"]] == list(SUPPORTED_MAJORS)
    production = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mks-db"]["postgres"]
    assert int(production) in SUPPORTED_MAJORS
    documented = (REPO / "docs" / "postgresql.md").read_text()
    assert (
        f"supported majors are {', '.join(map(str, SUPPORTED_MAJORS[:-1]))} and {SUPPORTED_MAJORS[-1]}"
        in documented
    )


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


BASE_REF = (  # the expression, as the workflow writes it
    "github.event.merge_group.base_sha || "
    "github.base_ref && format('origin/{0}', github.base_ref) || 'HEAD~1'"
)
PULL_REQUEST = {
    BASE_REF: "origin/main",
    "github.event.pull_request.number || github.ref": "7",
    "github.base_ref": "main",
    "github.ref": "refs/pull/7/merge",
    "matrix.postgres": "16",
}


def rehearse_pull_request(checkout, server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    results = {}
    for job in ("static", "postgres", "tests"):
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


def test_the_pull_request_workflow_runs_every_check_on_a_change_to_the_docs_only(
    checkout, server_url, tmp_path, monkeypatch
):
    with (checkout / "docs" / "migrations.ja.md").open("a") as docs:
        docs.write("\n")
    git(checkout, "commit", "-q", "-am", "docs: a line", "--no-verify")
    results = rehearse_pull_request(checkout, server_url, tmp_path, monkeypatch)
    for job, result in results.items():
        assert result.failed is None, f"{job}: {result.failed}"
        assert not result.job_skipped, job
    assert results["static"].ran == ["pre-commit hooks", "One head", "Lint the new revisions' SQL"]
    assert results["postgres"].ran == ["Migration checks", "Rendered SQL"]
    assert results["tests"].skipped == ["pytest"]  # the test suite itself, from the test suite
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
def production_url(scratch_url):
    command.upgrade(alembic_config(scratch_url), "e1f2a3b4c5d6")
    return scratch_url


ON_MAIN = "github.ref == 'refs/heads/main'"
NOT_DRY_RUN = "${{ !inputs.dry_run }}"


def deploy_values(dry_run: str, ref: str = "refs/heads/main") -> dict[str, str]:
    return {
        "inputs.target": "head",
        "inputs.dry_run": dry_run,
        NOT_DRY_RUN: str(dry_run != "true").lower(),
        "inputs.allow_downgrade": "false",
        "inputs.service": "stop",
        "github.ref": ref,
        ON_MAIN: str(ref == "refs/heads/main").lower(),
    }


def revision_of(url):
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return found


# What is particular to the production host in [tool.mks-db.deploy], and its stand-in here.
HOST_SETTINGS = {
    "stop-command": "sudo -n systemctl stop mirai-knowledge-production.service",
    "start-command": "sudo -n systemctl start mirai-knowledge-production.service",
    "health-url": "http://localhost:8000/health",
    "backup-dir": "/var/backups/mks-db",
}


def on_this_host(checkout, tmp_path, database_url: str) -> Service:
    """The checkout's [tool.mks-db.deploy] as on the production host, with its service, health
    URL and backup directory replaced by this machine's stand-ins: the real health app as a
    service (``app_service``) and a temporary directory."""
    service = Service(tmp_path / "service", database_url)
    stand_ins = {
        "stop-command": service.command("stop"),
        "start-command": service.command("start"),
        "health-url": service.health_url,
        "backup-dir": str(tmp_path / "var-backups"),
    }
    pyproject = checkout / "pyproject.toml"
    content = pyproject.read_text()
    for key, value in HOST_SETTINGS.items():
        line = f"{key} = {json.dumps(value)}"
        assert line in content, f"pyproject.toml has no {line}"
        content = content.replace(line, f"{key} = {json.dumps(stand_ins[key])}")
    pyproject.write_text(content)
    return service


def test_the_production_workflow_runs_on_the_production_host_and_only_calls_mks_db():
    document = yaml.safe_load((WORKFLOWS / "deploy-production.yml").read_text())
    jobs = document["jobs"]
    assert set(jobs) == {"plan", "deploy"}
    for job in jobs.values():
        assert job["runs-on"] == ["self-hosted", "mks-production"]
        for step in job["steps"]:
            if "run" in step:  # one mks-db command, no shell logic
                script = step["run"].strip()
                assert script.startswith("mks-db ") and "\n" not in script, script
                assert not any(word in script for word in (";", "&&", "||", "|", "$(", "`", " if ")), script
    assert jobs["plan"]["if"] == ON_MAIN and jobs["deploy"]["needs"] == "plan"
    assert jobs["deploy"]["if"] == NOT_DRY_RUN  # a dry run waits for no approval
    assert jobs["plan"]["environment"] == "production-plan"
    assert jobs["deploy"]["environment"] == "production"
    assert jobs["deploy"]["concurrency"]["cancel-in-progress"] is False
    configured = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mks-db"]["deploy"]
    assert {key: configured[key] for key in HOST_SETTINGS} == HOST_SETTINGS
    assert configured["keep-backups"] >= 1 and configured["keep-days"] > 0


@pytest.mark.parametrize(("dry_run", "expected"), [("true", "e1f2a3b4c5d6"), ("false", "9d3f6b8e2c14")])
def test_the_production_workflow_plans_then_deploys(
    checkout, production_url, server_url, tmp_path, monkeypatch, dry_run, expected
):
    # The secret must not show: the server's password, or one the trusting embedded server ignores.
    secret = production_url.password or "s3cret-prod"
    plain = production_url.set(password=secret).render_as_string(hide_password=False)
    values = {
        **deploy_values(dry_run),
        "secrets.PRODUCTION_READONLY_DATABASE_URL": plain,
        "secrets.PRODUCTION_DATABASE_URL": plain,
    }
    monkeypatch.setenv("MKS_DB_SCRATCH_URL", server_url)
    with on_this_host(checkout, tmp_path, plain) as service:
        service.run("start")
        running = service.pid()
        plan = rehearse(WORKFLOWS / "deploy-production.yml", "plan", checkout, values, {}, tmp=tmp_path)
        assert plan.failed is None, plan.failed
        assert "Migration plan for" in plan.summary and "f3a9c2d17b40" in plan.summary
        assert secret not in plan.summary
        assert json.loads((checkout / "build/plan.json").read_text())["pending"][0] == "f3a9c2d17b40"
        deploy = rehearse(WORKFLOWS / "deploy-production.yml", "deploy", checkout, values, {}, tmp=tmp_path)
        assert deploy.failed is None, deploy.failed
        # A dry run is the plan job's, with no approval to wait for; the deploy job is skipped.
        dry_run_step = ["Plan against production", "Dry run of the deploy"]
        assert plan.ran == (dry_run_step if dry_run == "true" else dry_run_step[:1])
        assert deploy.job_skipped == (dry_run == "true")
        assert revision_of(production_url) == expected
        report = (checkout / "build/deploy-report.json").read_text()
        assert secret not in report
        assert ("dry run: nothing changed" in report) == (dry_run == "true")
        backups = list((tmp_path / "var-backups").glob("*.dump"))
        if dry_run == "true":  # nothing stopped, nothing backed up
            assert service.events() == [f"start {running}"] and backups == []
        else:  # stopped, migrated, started again and healthy at the head
            assert service.events() == [f"start {running}", f"stop {running}", f"start {service.pid()}"]
            status, body = service.health()
            assert status == 200 and json.loads(body)["database"]["revision"] == expected
            assert len(backups) == 1


def test_the_production_workflow_runs_only_from_main(checkout, production_url, tmp_path):
    values = {
        **deploy_values("true", ref="refs/heads/feature"),
        "secrets.PRODUCTION_READONLY_DATABASE_URL": "unused",
    }
    plan = rehearse(WORKFLOWS / "deploy-production.yml", "plan", checkout, values, {}, tmp=tmp_path)
    assert plan.job_skipped and plan.ran == []  # and the deploy job needs the plan job
