"""The deploy history survives the deploy's own death: a real ``mks-db deploy`` process is
killed with SIGKILL in the middle of a slow revision, on a real PostgreSQL. Nothing mocked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_cases import Rev, make_project
from conftest import run_json, sql, wait_for
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import load_project
from mks_db.production.deploy import deploy
from mks_db.production.deploy_settings import DeploySettings

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

MKS_DB = str(Path(sys.executable).parent / "mks-db")
A1 = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("account")',
)
B2 = Rev(
    "b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', 'op.drop_column("account", "age")'
)
C3_SLOW = Rev("c3", "b2", 'op.execute("SELECT pg_sleep(30)")', "pass")
C3_FAST = Rev("c3", "b2", 'op.execute("SELECT 1")', "pass")
SLEEP = "SELECT pg_sleep(30)%"


def sleepers(url) -> list[tuple]:
    """The killed deploy's statements still running on the server (the slow revision's sleep)."""
    return sql(
        url,
        "SELECT pid, state FROM pg_stat_activity WHERE datname = :db AND query LIKE :q "
        "AND pid <> pg_backend_pid()",
        db=url.database,
        q=SLEEP,
    )


@pytest.fixture
def project_at_a1(tmp_path, scratch_url):
    ini = make_project(tmp_path / "project", [A1, B2, C3_SLOW])
    project = load_project(ini)
    with Migrator(project, scratch_url) as migrator:
        migrator.upgrade(project.revision("a1"))
    return project


def start_deploy(project, url, server_url, tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MKS_DB_SCRATCH_URL")}
    command = [MKS_DB, "deploy", "-c", str(project.ini), "--backup-dir", str(tmp_path / "b")]
    command += ["--database-url", url.render_as_string(hide_password=False), "--scratch-url", server_url]
    return subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_deploy_killed_in_its_second_revision_leaves_a_history_that_names_the_first(
    project_at_a1, scratch_url, server_url, pg_server, tmp_path, capsys
):
    process = start_deploy(project_at_a1, scratch_url, server_url, tmp_path)
    try:
        found = wait_for(lambda: sleepers(scratch_url) or process.poll() is not None, 120)
        assert process.poll() is None, f"the deploy ended first: {process.communicate()}"
        assert found
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    killed_at = time.monotonic()
    # The server ends the statement whose client died (client_connection_check_interval).
    assert wait_for(lambda: not sleepers(scratch_url), 5), f"still running: {sleepers(scratch_url)}"
    ended = time.monotonic() - killed_at
    print(f"the killed deploy's statement ended {ended:.2f}s after SIGKILL", file=sys.stderr)
    capsys.readouterr()
    [(outcome, frm, to, steps, finished)] = sql(
        scratch_url,
        "SELECT outcome, revision_from, revision_to, steps, finished_at FROM mks_db.deploy_history",
    )
    assert (outcome, frm, to, finished) == ("running", "a1", "b2", None)
    assert [s["revision"] for s in steps] == ["b2"]
    assert sql(scratch_url, "SELECT version_num FROM alembic_version") == [("b2",)]

    # The next plan says so before anything else, and changes nothing (it is read only).
    plain = scratch_url.render_as_string(hide_password=False)
    args = ["plan", "-c", str(project_at_a1.ini), "--database-url", plain, "--scratch-url", server_url]
    code, report = run_json(capsys, *args)
    assert code == 0, report
    [line] = report["unfinished"]
    assert line.startswith("the previous deploy (started ")
    assert f"pid {process.pid})" in line
    assert "ended without finishing after revision b2" in line
    assert report["pending"] == ["c3"]
    assert sql(scratch_url, "SELECT outcome FROM mks_db.deploy_history") == [("running",)]

    # The next deploy marks it interrupted first, then deploys.
    (project_at_a1.root / "migrations/versions/c3.py").unlink()
    ini = make_project(tmp_path / "fixed", [A1, B2, C3_FAST])
    outcome = deploy(
        load_project(ini), scratch_url, pg_server, DeploySettings(backup_dir=str(tmp_path / "b"))
    )
    assert outcome.ok, outcome.message
    assert len(outcome.previous) == 1 and "after revision b2" in outcome.previous[0]
    assert "now marked interrupted" in outcome.previous[0]
    rows = sql(scratch_url, "SELECT outcome, revision_to, message FROM mks_db.deploy_history ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [("interrupted", "b2"), ("ok", "c3")]
    assert "ended without finishing after revision b2" in rows[0][2]


def test_the_plan_warns_on_standard_error_before_its_report(
    project_at_a1, scratch_url, server_url, tmp_path, capsys
):
    # A 'running' row whose deploy lock nobody holds: what a killed deploy leaves.
    sql(
        scratch_url,
        "CREATE SCHEMA mks_db; CREATE TABLE mks_db.deploy_history (id bigserial PRIMARY KEY, "
        "started_at timestamptz NOT NULL, finished_at timestamptz, revision_from text, "
        "revision_to text, target text, outcome text NOT NULL, steps jsonb NOT NULL, backup_file text, "
        "backup_sha256 text, git_commit text, actor text, message text);"
        "INSERT INTO mks_db.deploy_history (started_at, revision_from, revision_to, outcome, steps, actor) "
        "VALUES ('2026-01-02 03:04:05+00', 'a1', 'a1', 'running', '[]', 'ops')",
    )
    plain = scratch_url.render_as_string(hide_password=False)
    from mks_db.cli import main

    code = main(["plan", "-c", str(project_at_a1.ini), "--database-url", plain, "--scratch-url", server_url])
    captured = capsys.readouterr()
    assert code == 0
    assert (
        "mks-db: warning: the previous deploy (started 2026-01-02 03:04:05 UTC by ops) ended "
        "without finishing before committing any revision (the database stayed at a1)"
    ) in captured.err
    assert "plan: ok" in captured.out


def test_a_running_row_whose_lock_is_held_is_a_deploy_in_progress_not_an_unfinished_one(
    project_at_a1, scratch_url, pg_server
):
    from mks_db.production import history

    engine = create_engine(scratch_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as holder, engine.connect() as other:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": history.LOCK_KEY})
        history.start(
            holder,
            {"started": "2026-01-02T03:04:05Z", "frm": "a1", "target": "c3", "file": None, "sha": None},
        )
        assert history.unfinished(other) == []
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": history.LOCK_KEY})
        [run] = history.unfinished(other)
        assert run.revision_to == "a1"
    engine.dispose()


def test_a_deploy_stopped_by_sigterm_records_interrupted_and_states_where_production_is(
    project_at_a1, scratch_url, server_url, tmp_path
):
    process = start_deploy(project_at_a1, scratch_url, server_url, tmp_path)
    try:
        wait_for(lambda: sleepers(scratch_url) or process.poll() is not None, 120)
        assert process.poll() is None, f"the deploy ended first: {process.communicate()}"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, err
    assert "deploy INTERRUPTED: interrupted by a signal at revision b2" in err
    assert "applied 1 of 2 revisions, now at revision b2" in err
    assert "mks-db restore" in err
    assert sleepers(scratch_url) == []
    [(outcome, to, message)] = sql(
        scratch_url, "SELECT outcome, revision_to, message FROM mks_db.deploy_history"
    )
    assert (outcome, to) == ("interrupted", "b2") and "interrupted by a signal" in message
