"""Production never lies: faults and bad inputs against real servers, each the way an operator
met it. Nothing is written anywhere before the target is proven to be the database meant; every
exit leaves the service and the records true, and says so."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from alembic_cases import Rev, make_project
from app_service import Service
from conftest import sql
from mks_db.cli import main
from mks_db.database.server import admin_engine
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import load_project
from mks_db.production.history import LOCK_KEY
from test_deploy_run import A1, B2, C3, D4

pytestmark = pytest.mark.slow  # real deploys, backups and servers: the full suite's tier


def plain(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def has_history(url: URL) -> bool:
    return sql(url, "SELECT to_regnamespace('mks_db') IS NOT NULL")[0][0]


@pytest.fixture(autouse=True)
def outside_this_repository(tmp_path, monkeypatch):
    """This repository's pyproject.toml holds production's host settings (sudo systemctl)."""
    monkeypatch.chdir(tmp_path)
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE", "PGPASSFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project", [A1, B2, C3, D4])


@pytest.fixture
def database(pg_server, project):
    """A database ``ph`` of its own on the test server, at revision a1 with 20 accounts."""
    name = f"ph_{os.getpid()}_{id(project) % 100000}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.url.set(database=name)
    loaded = load_project(project)
    with Migrator(loaded, url) as migrator:
        migrator.upgrade(loaded.revision("a1"))
    sql(url, "INSERT INTO account (email) SELECT 'u' || g FROM generate_series(1, 20) g")
    yield url
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def deploy_args(project: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["deploy", "-c", str(project), "--backup-dir", str(tmp_path / "backups"), *extra]


def test_a_url_without_host_never_writes_to_the_server_pghost_names(
    database, project, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PGHOST", database.host)
    monkeypatch.setenv("PGPORT", str(database.port))
    monkeypatch.setenv("PGPASSWORD", database.password)
    hostless = f"postgresql+psycopg2://{database.username}@/{database.database}"
    code = main(deploy_args(project, tmp_path, "--database-url", hostless))
    err = capsys.readouterr().err
    assert code in (2, 3), err
    assert "nothing was read or changed" in err
    assert not has_history(database), "the history was written into the server PGHOST names"
    assert sql(database, "SELECT version_num FROM alembic_version") == [("a1",)]
    assert main(["plan", "-c", str(project), "--database-url", hostless]) in (2, 3)
    assert "nothing was read or changed" in capsys.readouterr().err


def test_a_url_without_database_name_never_writes_to_the_database_pgdatabase_names(
    database, project, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PGDATABASE", database.database)
    nameless = plain(database._replace(database=None))
    code = main(deploy_args(project, tmp_path, "--database-url", nameless))
    err = capsys.readouterr().err
    assert code == 2, err
    [line] = [line for line in err.splitlines() if line.startswith("mks-db: error:")]
    assert "leaves out what libpq then takes from PGHOST" in line and "nothing was read or changed" in line
    assert database.password not in err
    assert not has_history(database)
    assert not (tmp_path / "backups").exists(), "a backup was taken of the wrong database"


def test_the_first_deploy_to_an_empty_database_applies_every_revision(pg_server, project, tmp_path, capsys):
    name = f"fresh_{os.getpid()}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.url.set(database=name)
    try:
        assert main(["plan", "-c", str(project), "--database-url", plain(url), "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["pending"] == ["a1", "b2", "c3", "d4"]
        assert main(deploy_args(project, tmp_path, "--database-url", plain(url))) == 0
        assert "now at revision d4" in capsys.readouterr().out
        assert main(["plan", "-c", str(project), "--database-url", plain(url)]) == 0
    finally:
        with admin_engine(pg_server.url).connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_first_deploy_that_stopped_early_leaves_a_database_plan_and_deploy_still_take(
    pg_server, project, tmp_path, capsys
):
    name = f"early_{os.getpid()}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.url.set(database=name)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    try:
        args = ["deploy", "-c", str(project), "--database-url", plain(url), "--backup-dir", str(blocked)]
        assert main(args) == 3
        capsys.readouterr()
        assert main(["plan", "-c", str(project), "--database-url", plain(url)]) == 0
        assert main(deploy_args(project, tmp_path, "--database-url", plain(url))) == 0
    finally:
        with admin_engine(pg_server.url).connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_target_behind_the_database_is_refused_with_the_true_state(database, project, tmp_path, capsys):
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    capsys.readouterr()
    code = main(
        deploy_args(project, tmp_path, "--database-url", plain(database), "--to", "b2", "--format", "json")
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    assert any(
        "the database is at d4, which --to b2 does not contain (c3, d4 would have to be undone)" in line
        for line in report["messages"]
    ), report
    assert sql(database, "SELECT version_num FROM alembic_version") == [("d4",)]
    assert "--allow-downgrade" in " ".join(report["messages"])


def test_a_downgrade_asked_for_explicitly_runs_the_downgrades_behind_a_backup(
    database, project, tmp_path, capsys
):
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    capsys.readouterr()
    args = ["--database-url", plain(database), "--to", "b2", "--allow-downgrade"]
    assert main(["plan", "-c", str(project), *args, "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["direction"], plan["pending"]) == ("downgrade", ["d4", "c3"])
    assert "DROP TABLE audit" in plan["sql"]["c3"] and "DROP COLUMN city" in plan["sql"]["d4"]
    assert main(deploy_args(project, tmp_path, *args)) == 0
    out = capsys.readouterr().out
    assert "undone 2 of 2 revisions, now at revision b2" in out, out
    assert sql(database, "SELECT version_num FROM alembic_version") == [("b2",)]
    assert sql(database, "SELECT to_regclass('audit') IS NULL, count(*) FROM account") == [(True, 20)]
    [(outcome, frm, to, steps, file)] = sql(
        database,
        "SELECT outcome, revision_from, revision_to, steps, backup_file FROM mks_db.deploy_history"
        " ORDER BY id DESC LIMIT 1",
    )
    assert (outcome, frm, to) == ("ok", "d4", "b2")
    assert [(s["revision"], s.get("direction")) for s in steps] == [("d4", "downgrade"), ("c3", "downgrade")]
    assert Path(file).is_file(), "the downgrade ran without a backup of what it drops"


def test_a_downgrade_that_fails_rolls_back_to_where_it_started(database, tmp_path, capsys):
    c3_cannot_go_back = Rev("c3", "b2", C3.upgrade, 'op.drop_table("audit")\nop.execute("SELECT 1/0")')
    project = make_project(tmp_path / "other", [A1, B2, c3_cannot_go_back, D4])
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    capsys.readouterr()
    args = ["--database-url", plain(database), "--to", "b2", "--allow-downgrade", "--on-failure", "rollback"]
    assert main(deploy_args(project, tmp_path, *args)) == 1
    out = capsys.readouterr().out
    assert "revision c3 failed" in out and "rolled back to the starting revision d4" in out, out
    assert sql(database, "SELECT version_num FROM alembic_version") == [("d4",)]
    assert sql(database, "SELECT count(*) FROM account WHERE city IS NULL") == [(20,)]


def test_a_database_at_a_revision_whose_file_was_deleted_names_the_file_and_the_ways_out(
    database, project, tmp_path, capsys
):
    from conftest import git

    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    root = project.parent
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "d4")
    kept = git_output(root, "rev-parse", "HEAD")[:12]
    (root / "migrations/versions/d4.py").unlink()  # the guide's "never delete a merged revision"
    git(root, "commit", "-q", "-am", "d4 deleted")
    capsys.readouterr()
    assert main(["plan", "-c", str(project), "--database-url", plain(database), "--format", "json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert (
        f"d4 (migrations/versions/d4.py, in commit {kept}: restore it with git checkout {kept} --" in problem
    )
    assert "python3 -m alembic stamp REV" in problem, problem


def git_output(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def history_rows(url: URL) -> list[tuple]:
    return sql(
        url,
        "SELECT outcome, started_at <= finished_at, finished_at - started_at < interval '1 hour'"
        " FROM mks_db.deploy_history ORDER BY id",
    )


@pytest.fixture
def runner_a_day_behind(monkeypatch):
    """The runner's clock a day behind the database server's, for every clock mks-db's modules
    read through ``datetime`` (the server's clock is the real one)."""

    class Behind(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) - datetime.timedelta(days=1)

    shifted = types.SimpleNamespace(**{**vars(datetime), "datetime": Behind})
    for name, module in list(sys.modules.items()):
        if name.startswith("mks_db") and getattr(module, "datetime", None) is datetime:
            monkeypatch.setattr(module, "datetime", shifted)


def test_history_times_are_the_server_s_whatever_the_runner_s_clock_says(
    database, project, tmp_path, runner_a_day_behind
):
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    [(outcome, ordered, short)] = sql(
        database,
        "SELECT outcome, started_at <= finished_at, finished_at - started_at < interval '1 hour' "
        "FROM mks_db.deploy_history",
    )
    assert (outcome, ordered, short) == ("ok", True, True)


def service_settings(tmp_path: Path, service, **extra) -> None:
    lines = [
        "[tool.mks-db.deploy]",
        f"stop-command = {json.dumps(service.command('stop'))}",
        f"start-command = {json.dumps(service.command('start'))}",
        *(f"{key} = {json.dumps(value)}" for key, value in extra.items()),
    ]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")


def test_a_revision_that_fails_before_committing_anything_starts_the_application_again(
    database, tmp_path, capsys
):
    failing = make_project(tmp_path / "failing", [A1, Rev("b2", "a1", 'op.execute("SELECT 1/0")', "pass")])
    with Service(tmp_path / "service", plain(database)) as service:
        service.run("start")
        service_settings(tmp_path, service)
        assert main(deploy_args(failing, tmp_path, "--database-url", plain(database))) == 1
        out = capsys.readouterr().out
        assert service.pid() is not None, out
        assert [event.split()[0] for event in service.events()] == ["start", "stop", "start"]
    assert f"the application was started again (`{service.command('start')}`)" in out


def test_a_revision_that_fails_after_others_committed_leaves_the_application_down_and_says_so(
    database, tmp_path, capsys
):
    failing = make_project(
        tmp_path / "failing", [A1, B2, Rev("c3", "b2", 'op.execute("SELECT 1/0")', "pass")]
    )
    with Service(tmp_path / "service", plain(database)) as service:
        service.run("start")
        service_settings(tmp_path, service)
        assert main(deploy_args(failing, tmp_path, "--database-url", plain(database))) == 1
        out = capsys.readouterr().out
        assert service.pid() is None
    assert (
        f"the application is DOWN: the deploy stopped it; start it with `{service.command('start')}` "
        "once the database fits the code it runs (the revision above)"
    ) in out
    assert "now at revision b2" in out


def test_a_stop_command_that_hangs_is_killed_after_its_time_limit(database, project, tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.mks-db.deploy]\nstop-command = \"{sys.executable} -c 'import time; time.sleep(60)'\"\n"
        'start-command = "true"\ncommand-timeout-seconds = 1\n'
    )
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 3
    err = capsys.readouterr().err
    assert "did not finish within 1s (command-timeout-seconds); it was killed" in err
    assert sql(database, "SELECT version_num FROM alembic_version") == [("a1",)]


@pytest.mark.parametrize("where", ["PGPASSWORD", "PGPASSFILE"])
def test_a_password_libpq_finds_outside_the_url_reaches_the_client_tools_too(
    database, project, tmp_path, monkeypatch, capsys, where
):
    if where == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", database.password)
    else:
        passfile = tmp_path / "pgpass"
        passfile.write_text(
            f"{database.host}:{database.port}:{database.database}:{database.username}:{database.password}\n"
        )
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
    without_password = plain(database._replace(password=None))
    assert main(["backup", "--database-url", without_password, "--backup-dir", str(tmp_path / "b")]) == 0, (
        capsys.readouterr().err
    )
    assert main(deploy_args(project, tmp_path, "--database-url", without_password)) == 0
    assert sql(database, "SELECT version_num FROM alembic_version") == [("d4",)]


MKS_DB = str(Path(sys.executable).parent / "mks-db")  # the console script, as operators run it


def deploy_process(project: Path, tmp_path: Path, database: URL) -> subprocess.Popen:
    """``mks-db deploy`` of ``project`` to ``database`` in a process of its own (to be signalled)."""
    return subprocess.Popen(
        [MKS_DB, *deploy_args(project, tmp_path, "--database-url", plain(database))],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_plan_blocked_by_a_lock_stops_in_bounded_time_naming_the_lock(database, project, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db.deploy]\nlock-timeout = "2s"\n')
    engine = create_engine(database, poolclass=NullPool)
    with engine.connect() as holder:
        holder.execute(text("LOCK TABLE account IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        result = subprocess.run(
            [MKS_DB, "plan", "-c", str(project), "--database-url", plain(database)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        waited = time.monotonic() - started
        holder.rollback()
    engine.dispose()
    assert result.returncode == 3, result.stderr
    assert waited < 60
    [line] = [line for line in result.stderr.splitlines() if line.startswith("mks-db: error:")]
    assert (
        "waited lock-timeout (2s) for a lock" in line and "AccessExclusiveLock on account held by pid" in line
    )
    assert "nothing was changed" in line and database.password not in result.stderr


def test_a_plan_interrupted_by_sigterm_says_production_is_unchanged(database, project, tmp_path):
    engine = create_engine(database, poolclass=NullPool)
    with engine.connect() as holder:
        holder.execute(text("LOCK TABLE account IN ACCESS EXCLUSIVE MODE"))
        process = subprocess.Popen(
            [MKS_DB, "plan", "-c", str(project), "--database-url", plain(database)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4)  # the embedded scratch server is up and the plan waits for the lock
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        holder.rollback()
    engine.dispose()
    assert process.returncode == 143, err
    assert "plan only reads: production is unchanged" in err


NEEDS_A_CONNECTION = Rev(
    "b2",
    "a1",
    "from alembic import context\n"
    "if context.is_offline_mode():\n"
    '    raise RuntimeError("this data migration reads rows: it needs a connection")\n'
    'op.add_column("account", sa.Column("age", sa.Integer))',
    'op.drop_column("account", "age")',
)


def test_a_revision_that_cannot_render_offline_is_named_in_the_plan_and_deployed_unless_offline(
    database, tmp_path, capsys
):
    project = make_project(tmp_path / "offline", [A1, NEEDS_A_CONNECTION])
    assert main(["plan", "-c", str(project), "--database-url", plain(database)]) == 0
    captured = capsys.readouterr()
    assert (
        "revision b2 cannot be rendered as SQL offline (RuntimeError: this data migration reads rows: "
        "it needs a connection); the plan shows no SQL for it"
    ) in captured.err
    (tmp_path / "pyproject.toml").write_text("[tool.mks-db]\noffline = true\n")
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 1
    out = capsys.readouterr().out
    assert "offline = true says production runs the rendered SQL" in out
    assert "now at revision a1; no backup taken" in out and "Traceback" not in out
    (tmp_path / "pyproject.toml").unlink()
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    assert sql(database, "SELECT version_num FROM alembic_version") == [("b2",)]


def test_a_read_only_plan_credential_keeps_planning_after_the_first_deploy(
    database, project, tmp_path, capsys
):
    role = f"mks_ro_{os.getpid()}"
    sql(database, f"CREATE ROLE {role} LOGIN PASSWORD 'ro-secret'")
    sql(database, f'GRANT CONNECT ON DATABASE "{database.database}" TO {role}')
    sql(
        database,
        f"GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    )
    readonly = database.set(username=role, password="ro-secret")
    try:
        assert main(deploy_args(project, tmp_path, "--database-url", plain(database), "--to", "b2")) == 0
        capsys.readouterr()
        assert main(["plan", "-c", str(project), "--database-url", plain(readonly), "--format", "json"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["pending"] == ["c3", "d4"]
        assert f"{role} may not read mks_db.deploy_history" in captured.err
        assert f"GRANT USAGE ON SCHEMA mks_db TO {role}" in captured.err and "ro-secret" not in captured.err
    finally:
        sql(database, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_a_dry_run_with_the_read_only_credential_plans_and_changes_nothing(
    database, project, tmp_path, capsys
):
    role = f"mks_dry_{os.getpid()}"
    sql(database, f"CREATE ROLE {role} LOGIN PASSWORD 'ro-secret'")
    sql(database, f'GRANT CONNECT ON DATABASE "{database.database}" TO {role}')
    sql(
        database,
        f"GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    )
    readonly = database.set(username=role, password="ro-secret")
    try:
        assert main(deploy_args(project, tmp_path, "--database-url", plain(database), "--to", "b2")) == 0
        capsys.readouterr()
        code = main(deploy_args(project, tmp_path, "--database-url", plain(readonly), "--dry-run"))
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "dry run: nothing changed" in captured.out and "ro-secret" not in captured.out + captured.err
        assert f"{role} may not read mks_db.deploy_history" in captured.out + captured.err
        assert sql(database, "SELECT version_num FROM alembic_version") == [("b2",)]
    finally:
        sql(database, f"DROP OWNED BY {role}; DROP ROLE {role}")


CONCURRENT_INDEX = Rev(
    "b2",
    "a1",
    "with op.get_context().autocommit_block():\n"
    '    op.create_index("ix_account_email", "account", ["email"], postgresql_concurrently=True)',
    "with op.get_context().autocommit_block():\n"
    '    op.drop_index("ix_account_email", table_name="account", postgresql_concurrently=True)',
)


def invalid_indexes(url: URL) -> list[str]:
    return [
        name for (name,) in sql(url, "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
    ]


def test_a_concurrent_index_build_stopped_by_a_lock_timeout_is_named_and_leaves_no_invalid_index(
    database, tmp_path, capsys
):
    project = make_project(tmp_path / "concurrent", [A1, CONCURRENT_INDEX])
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db.deploy]\nlock-timeout = "1s"\nlock-retries = 1\n')
    writer = create_engine(database, poolclass=NullPool).connect()
    writer.execute(text("UPDATE account SET email = email WHERE id = 1"))  # a transaction left open
    try:
        assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 1
        out = capsys.readouterr().out
    finally:
        writer.rollback()
        writer.close()
    assert (
        "revision b2 failed: canceling statement due to lock timeout (after 1 attempt; lock-timeout 1s)"
        in out
    )
    assert "already exists" not in out
    # The open transaction still held the table when the deploy tried to drop what it left:
    # named, with the command.
    assert "it left the INVALID index public.ix_account_email, which could not be dropped" in out
    assert "run DROP INDEX CONCURRENTLY IF EXISTS public.ix_account_email; then deploy again" in out
    assert main(["plan", "-c", str(project), "--database-url", plain(database)]) == 1
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.ix_account_email" in capsys.readouterr().out
    sql(database, "DROP INDEX CONCURRENTLY IF EXISTS public.ix_account_email")
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    assert invalid_indexes(database) == []


def test_a_concurrent_index_build_retried_after_the_blocker_ends_drops_what_it_left_and_passes(
    database, tmp_path, capsys
):
    project = make_project(tmp_path / "concurrent", [A1, CONCURRENT_INDEX])
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db.deploy]\nlock-timeout = "1s"\nlock-retries = 3\n')
    writer = create_engine(database, poolclass=NullPool).connect()
    writer.execute(text("UPDATE account SET email = email WHERE id = 1"))
    ends = threading.Timer(1.5, lambda: (writer.rollback(), writer.close()))  # during the first back-off
    ends.start()
    try:
        assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0
    finally:
        ends.join()
    assert "b2: applied in" in capsys.readouterr().out
    assert invalid_indexes(database) == []


def test_sigterm_during_a_concurrent_index_build_drops_what_it_left_or_names_it(database, tmp_path):
    project = make_project(tmp_path / "concurrent", [A1, CONCURRENT_INDEX])
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db.deploy]\nlock-timeout = "60s"\n')
    writer = create_engine(database, poolclass=NullPool).connect()
    writer.execute(text("UPDATE account SET email = email WHERE id = 1"))
    try:
        process = deploy_process(project, tmp_path, database)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "public.ix_account_email" not in invalid_indexes(database):
            time.sleep(0.2)  # the build has started and waits for the open transaction
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert time.monotonic() - signalled < 30
    finally:
        writer.rollback()
        writer.close()
    assert process.returncode == 143, err
    assert "deploy INTERRUPTED: interrupted by a signal at revision a1" in err
    if invalid_indexes(database):  # the transaction still held the table: named, with the command
        assert "run DROP INDEX CONCURRENTLY IF EXISTS public.ix_account_email" in err
    sql(database, "DROP INDEX CONCURRENTLY IF EXISTS public.ix_account_email")
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 0


def test_an_unwritable_json_report_stops_the_deploy_before_anything_runs(database, project, tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    report = blocked / "report.json"
    args = deploy_args(project, tmp_path, "--database-url", plain(database), "--json-report", str(report))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"cannot write the JSON report to {report}" in err and "nothing was run" in err
    assert sql(database, "SELECT version_num FROM alembic_version") == [("a1",)]
    assert not has_history(database)


def backup_of(url: URL, tmp_path: Path, capsys) -> str:
    assert main(["backup", "--database-url", plain(url), "--backup-dir", str(tmp_path / "b")]) == 0
    [path] = re.findall(r"^backup (\S+\.dump):", capsys.readouterr().out, re.MULTILINE)
    return path


def test_a_backup_of_another_database_is_not_restored_over_this_one_unless_asked(
    database, pg_server, tmp_path, capsys
):
    other = database.set(database=f"{database.database}_b")
    sql(database, f'CREATE DATABASE "{other.database}"')
    try:
        path = backup_of(database, tmp_path, capsys)
        assert main(["restore", path, "--database-url", plain(other), "--yes"]) == 2
        err = capsys.readouterr().err
        assert f"is a backup of database {database.database}, and" in err and "nothing was restored" in err
        assert sql(other, "SELECT to_regclass('account') IS NULL") == [(True,)]
        assert main(["restore", path, "--database-url", plain(other), "--yes", "--other-database"]) == 0
        assert sql(other, "SELECT count(*) FROM account") == [(20,)]
    finally:
        for name in [
            r[0]
            for r in sql(
                database, "SELECT datname FROM pg_database WHERE datname LIKE :p", p=f"{other.database}%"
            )
        ]:
            sql(database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_restore_waits_for_the_deploy_lock_and_changes_nothing_while_a_deploy_holds_it(
    database, tmp_path, capsys
):
    path = backup_of(database, tmp_path, capsys)
    (tmp_path / "pyproject.toml").write_text("[tool.mks-db.deploy]\nlock-wait-seconds = 1\n")
    holder = create_engine(database, poolclass=NullPool, isolation_level="AUTOCOMMIT").connect()
    holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})  # a deploy between revisions
    try:
        assert main(["restore", path, "--database-url", plain(database), "--yes"]) == 1
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert (
        "a deploy or another restore holds the lock on this database (waited 1s); nothing was changed" in err
    )
    assert (
        sql(database, "SELECT datname FROM pg_database WHERE datname LIKE :p", p=f"{database.database}_%")
        == []
    )


def test_a_restore_blocked_by_another_role_s_sessions_says_so_and_leaves_nothing_behind(
    database, tmp_path, capsys
):
    suffix = os.getpid()
    deployer, app = f"mks_deployer_{suffix}", f"mks_app_{suffix}"
    sql(database, f"CREATE ROLE {deployer} LOGIN CREATEDB PASSWORD 'd'; CREATE ROLE {app} LOGIN PASSWORD 'a'")
    sql(database, f'ALTER DATABASE "{database.database}" OWNER TO {deployer}')
    sql(database, f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {deployer}")
    as_deployer = database.set(username=deployer, password="d")
    path = backup_of(database, tmp_path, capsys)
    application = create_engine(database.set(username=app, password="a"), poolclass=NullPool).connect()
    try:
        assert main(["restore", path, "--database-url", plain(as_deployer), "--yes"]) == 3
        err = capsys.readouterr().err
        assert f"sessions of other roles are connected to {database.database} ({app} (pid" in err
        assert f"GRANT pg_signal_backend TO {deployer}" in err and "nothing was restored" in err
        assert (
            sql(database, "SELECT datname FROM pg_database WHERE datname LIKE :p", p=f"{database.database}_%")
            == []
        )
    finally:
        application.close()
        sql(database, f'ALTER DATABASE "{database.database}" OWNER TO CURRENT_USER')
        sql(database, f"DROP OWNED BY {deployer}; DROP ROLE {deployer}; DROP ROLE {app}")


def test_a_restore_stops_the_application_around_the_swap_and_starts_it_again(database, tmp_path, capsys):
    path = backup_of(database, tmp_path, capsys)
    sql(database, "DELETE FROM account")
    with Service(tmp_path / "service", plain(database)) as service:
        service.run("start")
        service_settings(tmp_path, service)
        assert main(["restore", path, "--database-url", plain(database), "--yes"]) == 0
        assert service.pid() is not None
        assert [event.split()[0] for event in service.events()] == ["start", "stop", "start"]
    assert sql(database, "SELECT count(*) FROM account") == [(20,)]
    for (name,) in sql(
        database, "SELECT datname FROM pg_database WHERE datname LIKE :p", p=f"{database.database}_%"
    ):
        sql(database, f'DROP DATABASE "{name}"')


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE mks_db.deploy_history DROP COLUMN steps",
        "ALTER TABLE mks_db.deploy_history ALTER COLUMN message TYPE integer USING 0",
        "ALTER TABLE mks_db.deploy_history ADD CONSTRAINT no_ok CHECK (outcome <> 'ok') NOT VALID",
    ],
)
def test_a_history_table_changed_by_hand_stops_the_deploy_before_anything_changes(
    database, project, tmp_path, capsys, change
):
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database), "--to", "b2")) == 0
    sql(database, change)
    capsys.readouterr()
    assert main(deploy_args(project, tmp_path, "--database-url", plain(database))) == 3
    err = capsys.readouterr().err
    assert "mks_db.deploy_history cannot take this deploy's records" in err
    assert "nothing was changed" in err
    assert sql(database, "SELECT version_num FROM alembic_version") == [("b2",)]
    assert sql(database, "SELECT count(*) FROM mks_db.deploy_history WHERE outcome = 'running'") == [(0,)]


SLEEPER = (
    "import sys, time; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n'); time.sleep(float(sys.argv[3]))"
)
C3_SLEEPS = Rev("c3", "b2", 'op.execute("SELECT pg_sleep(60)")', "pass")


def sleeper(log: Path, event: str, seconds: float) -> str:
    """A stop or start command that logs ``event`` and then takes ``seconds``."""
    return f"{sys.executable} -c {json.dumps(SLEEPER)} {log} {event} {seconds}"


def sleeping_in_the_database(url: URL) -> bool:
    return sql(url, "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")[0][0]


PHASES = {
    # phase: (stop takes, start takes, the revision c3, health answers, when to signal)
    "stop command": (60, 0, C3, None, lambda log, url: "stop" in log.read_text()),
    "migration": (0, 0, C3_SLEEPS, None, lambda log, url: sleeping_in_the_database(url)),
    "start command": (0, 60, C3, None, lambda log, url: "start" in log.read_text()),
    "health check": (0, 0, C3, 503, lambda log, url: "start" in log.read_text()),
}


@pytest.mark.parametrize("phase", PHASES)
def test_sigterm_at_every_phase_of_a_deploy_leaves_a_true_state_and_record(
    phase, database, tmp_path, health_503
):
    stop_takes, start_takes, c3, health, signalled_when = PHASES[phase]
    project = make_project(tmp_path / "signals", [A1, B2, c3])
    log = tmp_path / "service.log"
    log.write_text("")
    settings = {
        "stop-command": sleeper(log, "stop", stop_takes),
        "start-command": sleeper(log, "start", start_takes),
    }
    if health:
        settings.update({"health-url": health_503, "health-timeout-seconds": 60})
    (tmp_path / "pyproject.toml").write_text(
        "[tool.mks-db.deploy]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    )
    process = deploy_process(project, tmp_path, database)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and not signalled_when(log, database):
        time.sleep(0.1)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, out + err
    [(at,)] = sql(database, "SELECT version_num FROM alembic_version")
    assert f"deploy INTERRUPTED: interrupted by a signal at revision {at}" in err
    assert f"now at revision {at};" in err
    assert sql(database, "SELECT outcome, revision_to FROM mks_db.deploy_history") == [("interrupted", at)]
    events = log.read_text().split()
    if at == "a1":  # nothing committed: the application runs again
        assert events[-1] == "start" and "the application was started again" in err, (events, err)
    elif phase != "health check":  # migrated, the application not (known to be) started: said so
        assert "the application is DOWN" in err, err
    else:  # started, then the signal came while its health was polled
        assert events == ["stop", "start"] and "DOWN" not in err


@pytest.fixture
def health_503():
    class Unhealthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unhealthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/health"
    server.shutdown()
