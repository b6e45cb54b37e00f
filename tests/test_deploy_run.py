"""mks-db deploy against a real "production" database: failures leave it at the last revision
that committed (or roll back), locks are bounded, nothing runs without a verified backup, and
every run is recorded. Real PostgreSQL and real pg_dump, nothing mocked."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import subprocess
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from alembic_cases import Rev, make_project
from conftest import sql
from mks_db.cli import main
from mks_db.database.installs import SUPPORTED_MAJORS
from mks_db.database.libpq import tool
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import load_project
from mks_db.production.backup import backup
from mks_db.production.deploy import deploy
from mks_db.production.deploy_settings import DeploySettings
from mks_db.production.history import LOCK_KEY, DeployRefused

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

A1 = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("email", sa.String(100), nullable=False))',
    'op.drop_table("account")',
)
B2 = Rev(
    "b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', 'op.drop_column("account", "age")'
)
C3 = Rev(
    "c3",
    "b2",
    'op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("audit")',
)
D4_FAILS = Rev(
    "d4",
    "c3",
    'op.execute("ALTER TABLE account ADD COLUMN city text")\nop.execute("SELECT 1/0")',
    'op.drop_column("account", "city")',
)
D4 = Rev(
    "d4", "c3", 'op.add_column("account", sa.Column("city", sa.Text))', 'op.drop_column("account", "city")'
)


@pytest.fixture(autouse=True)
def outside_this_repository(tmp_path, monkeypatch):
    """Run in a directory of its own: this repository's pyproject.toml holds production's host
    settings (sudo systemctl, /var/backups), which these projects are not."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def project_at_a1(tmp_path, scratch_url):
    """A project with revisions a1..d4 and a database at a1 holding 50 accounts."""

    def build(last=D4):
        ini = make_project(tmp_path / "project", [A1, B2, C3, last])
        project = load_project(ini)
        from mks_db.engine.migrate import Migrator

        with Migrator(project, scratch_url) as migrator:
            migrator.upgrade(project.revision("a1"))
        sql(scratch_url, "INSERT INTO account (email) SELECT 'u' || g || '@x' FROM generate_series(1, 50) g")
        return project

    return build


def fingerprint(url):
    return sql(url, "SELECT count(*), md5(string_agg(email, ',' ORDER BY id)) FROM account")[0]


def revision(url):
    return sql(url, "SELECT version_num FROM alembic_version")


def settings(tmp_path, **kw):
    return DeploySettings(backup_dir=str(tmp_path / "backups"), lock_wait_seconds=1, **kw)


def test_a_failing_third_revision_leaves_the_second_applied_and_the_rows_intact(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    project = project_at_a1(D4_FAILS)
    before = fingerprint(scratch_url)
    outcome = deploy(project, scratch_url, pg_server, settings(tmp_path))
    assert not outcome.ok
    assert "revision d4 failed: division by zero" in outcome.message
    assert "the database is at c3" in outcome.message
    assert revision(scratch_url) == [("c3",)]
    assert fingerprint(scratch_url) == before
    assert [s["revision"] for s in outcome.applied] == ["b2", "c3"]
    assert outcome.backup and (tmp_path / "backups").is_dir()
    history = sql(scratch_url, "SELECT outcome, revision_from, revision_to FROM mks_db.deploy_history")
    assert history == [("failed", "a1", "c3")]


def test_on_failure_rollback_returns_to_the_starting_revision(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    project = project_at_a1(D4_FAILS)
    before = fingerprint(scratch_url)
    outcome = deploy(project, scratch_url, pg_server, settings(tmp_path, on_failure="rollback"))
    assert not outcome.ok
    assert "rolled back to the starting revision a1" in outcome.message
    assert revision(scratch_url) == [("a1",)]
    assert fingerprint(scratch_url) == before


def test_a_second_deploy_waits_a_bounded_time_and_changes_nothing(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    project = project_at_a1()
    holder = create_engine(scratch_url, poolclass=NullPool, isolation_level="AUTOCOMMIT").connect()
    holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
    try:
        with pytest.raises(DeployRefused, match="another deploy holds the lock"):
            deploy(project, scratch_url, pg_server, settings(tmp_path))
    finally:
        holder.close()
    assert revision(scratch_url) == [("a1",)]
    assert not (tmp_path / "backups").exists()


def test_a_lock_held_by_a_long_transaction_times_out_is_retried_then_fails_cleanly(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    project = project_at_a1()
    reader = create_engine(scratch_url, poolclass=NullPool).connect()
    reader.execute(text("SELECT count(*) FROM account"))  # an open transaction holding ACCESS SHARE
    try:
        outcome = deploy(
            project, scratch_url, pg_server, settings(tmp_path, lock_timeout="300ms", lock_retries=1)
        )
    finally:
        reader.close()
    assert not outcome.ok
    assert "lock timeout" in outcome.message and "after 2 attempts" in outcome.message
    assert revision(scratch_url) == [("a1",)]


def test_a_failing_backup_stops_the_deploy_before_any_ddl(project_at_a1, scratch_url, pg_server, tmp_path):
    project = project_at_a1()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(Exception, match="cannot create the backup directory"):
        deploy(project, scratch_url, pg_server, DeploySettings(backup_dir=str(blocker / "dir")))
    assert revision(scratch_url) == [("a1",)]


def test_a_schema_changed_by_hand_is_refused(project_at_a1, scratch_url, pg_server, tmp_path):
    project = project_at_a1()
    sql(scratch_url, "ALTER TABLE account ADD COLUMN hotfix text")
    outcome = deploy(project, scratch_url, pg_server, settings(tmp_path))
    assert not outcome.ok and "schema drift: + column public.account.hotfix" in outcome.message
    assert revision(scratch_url) == [("a1",)]


def test_dry_run_plans_and_changes_nothing(project_at_a1, scratch_url, pg_server, tmp_path):
    project = project_at_a1()
    outcome = deploy(project, scratch_url, pg_server, settings(tmp_path), dry_run=True)
    assert outcome.ok and [r.revision for r in outcome.plan.pending] == ["b2", "c3", "d4"]
    assert revision(scratch_url) == [("a1",)]
    assert not (tmp_path / "backups").exists()


def test_a_successful_deploy_reaches_head_and_records_the_run(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    project = project_at_a1()
    before = fingerprint(scratch_url)
    outcome = deploy(project, scratch_url, pg_server, settings(tmp_path))
    assert outcome.ok, outcome.message
    assert revision(scratch_url) == [("d4",)]
    assert fingerprint(scratch_url) == before
    [(result, steps, sha)] = sql(
        scratch_url, "SELECT outcome, steps, backup_sha256 FROM mks_db.deploy_history"
    )
    assert result == "ok" and [s["revision"] for s in steps] == ["b2", "c3", "d4"]
    assert sha == outcome.backup.sha256


class Health(http.server.BaseHTTPRequestHandler):
    status = 200
    revision = "d4"

    def do_GET(self):  # noqa: N802 - the handler API
        body = json.dumps({"database": {"revision": self.revision}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    servers = []

    def start(status):
        handler = type("H", (Health,), {"status": status})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/api/v1/health"

    yield start
    for server in servers:
        server.shutdown()


@pytest.mark.parametrize(("status", "ok"), [(200, True), (503, False)])
def test_the_health_check_decides_the_verdict_and_the_migration_stays(
    project_at_a1, scratch_url, pg_server, tmp_path, health_server, status, ok
):
    project = project_at_a1()
    url = health_server(status)
    outcome = deploy(
        project, scratch_url, pg_server, settings(tmp_path, health_url=url, health_timeout_seconds=2)
    )
    assert outcome.ok is ok
    assert revision(scratch_url) == [("d4",)]
    if not ok:
        assert "did not answer 200 with the target revision" in outcome.message
        assert "the migration stays applied" in outcome.message


def test_deploy_from_the_command_line_prints_steps_and_never_the_password(
    project_at_a1, scratch_url, server_url, tmp_path, capsys
):
    project = project_at_a1()
    plain = scratch_url.render_as_string(hide_password=False)
    code = main(
        [
            "deploy",
            "-c",
            str(project.ini),
            "--database-url",
            plain,
            "--scratch-url",
            server_url,
            "--backup-dir",
            str(tmp_path / "b"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "b2: applied in" in out and "deploy: applied 3 revisions" in out


def test_a_connection_killed_mid_revision_leaves_the_last_commit_and_a_second_deploy_finishes(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    slow = Rev(
        "d4",
        "c3",
        'op.add_column("account", sa.Column("city", sa.Text))\nop.execute("SELECT pg_sleep(3)")',
        'op.drop_column("account", "city")',
    )
    project = project_at_a1(slow)
    before = fingerprint(scratch_url)
    killer_engine = create_engine(scratch_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    finished = threading.Event()

    def kill_the_sleeper():  # however long the plan and backup take on a loaded machine
        with killer_engine.connect() as killer:
            while not finished.is_set():
                killed = killer.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'SELECT pg_sleep(3)%' AND pid <> pg_backend_pid()"
                    )
                ).all()
                if killed:
                    return
                finished.wait(0.1)

    killer = threading.Thread(target=kill_the_sleeper)
    killer.start()
    try:
        outcome = deploy(project, scratch_url, pg_server, settings(tmp_path))
    finally:
        finished.set()
        killer.join()
    killer_engine.dispose()
    assert not outcome.ok
    assert "revision d4 failed" in outcome.message and "the database is at c3" in outcome.message
    assert revision(scratch_url) == [("c3",)]
    assert fingerprint(scratch_url) == before
    again = deploy(project, scratch_url, pg_server, settings(tmp_path))
    assert again.ok, again.message
    assert revision(scratch_url) == [("d4",)]


def test_dry_run_from_the_command_line_prints_the_sql_it_would_run(
    project_at_a1, scratch_url, server_url, capsys
):
    project = project_at_a1()
    plain = scratch_url.render_as_string(hide_password=False)
    code = main(
        ["deploy", "--dry-run", "-c", str(project.ini), "--database-url", plain, "--scratch-url", server_url]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ALTER TABLE account ADD COLUMN age INTEGER" in out
    assert "deploy: dry run: nothing changed" in out
    assert revision(scratch_url) == [("a1",)]


def test_while_the_deploy_waits_for_a_lock_other_sessions_wait_no_longer_than_lock_timeout(
    project_at_a1, scratch_url, pg_server, tmp_path
):
    import time

    project = project_at_a1()
    holder = create_engine(scratch_url, poolclass=NullPool).connect()
    holder.execute(text("SELECT count(*) FROM account"))  # a long transaction: ACCESS SHARE held
    waits: list[float] = []
    done = threading.Event()

    def application():  # reads behind the deploy's queued ACCESS EXCLUSIVE request
        engine = create_engine(scratch_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SET statement_timeout = '10s'"))
            while not done.is_set():
                started = time.monotonic()
                connection.execute(text("SELECT count(*) FROM account"))
                waits.append(time.monotonic() - started)
                time.sleep(0.05)
        engine.dispose()

    reader = threading.Thread(target=application)
    reader.start()
    try:
        outcome = deploy(
            project, scratch_url, pg_server, settings(tmp_path, lock_timeout="500ms", lock_retries=2)
        )
    finally:
        done.set()
        reader.join()
        holder.close()
    assert not outcome.ok and "lock timeout" in outcome.message
    assert waits and max(waits) < 2.0, f"the application waited {max(waits):.2f}s"


def dump_listing(path) -> str:
    """``pg_restore --list`` of a dump: its header names the database, then one line per entry."""
    command = [tool("pg_restore", max(SUPPORTED_MAJORS)), "--list", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def socket_directory(pg_server, port) -> str:
    """The test server's Unix socket directory, or skip when the socket is not on this machine."""
    with create_engine(pg_server.url, poolclass=NullPool).connect() as connection:
        directory = connection.execute(text("SHOW unix_socket_directories")).scalar_one()
    directory = directory.split(",")[0].strip()
    if not os.path.exists(os.path.join(directory, f".s.PGSQL.{port}")):
        pytest.skip("the test server's Unix socket is not on this machine")
    return directory


@pytest.fixture
def socket_url(scratch_url, pg_server):
    """``scratch_url`` as ``postgresql://user@/db?host=/socket/dir&port=N``: over the Unix socket."""
    port = scratch_url.port or 5432
    return URL.create(
        "postgresql+psycopg2",
        username=scratch_url.username,
        password=scratch_url.password,
        database=scratch_url.database,
        query={"host": socket_directory(pg_server, port), "port": str(port)},
    )


def test_a_deploy_over_a_unix_socket_url_backs_up_and_migrates(
    project_at_a1, scratch_url, socket_url, pg_server, tmp_path
):
    project = project_at_a1()
    outcome = deploy(project, socket_url, pg_server, settings(tmp_path))
    assert outcome.ok, outcome.message
    assert revision(scratch_url) == [("d4",)]
    listing = dump_listing(outcome.backup.path)
    assert f"dbname: {scratch_url.database}" in listing and "TABLE DATA public account" in listing
    assert outcome.backup.rows["public.account"] == 50 and outcome.backup.revision == ["a1"]


@pytest.fixture
def decoy(pg_server):
    """Another database on the same server with a table of its own, and a role that may log in."""
    from mks_db.database.server import admin_engine, scratch_database

    with scratch_database(pg_server, "decoy") as url:
        sql(url, "CREATE TABLE decoy_only (id int)")
        with admin_engine(pg_server.url).connect() as connection:
            connection.execute(text("DROP ROLE IF EXISTS mks_decoy_role"))
            connection.execute(text("CREATE ROLE mks_decoy_role LOGIN"))
        try:
            yield url
        finally:
            with admin_engine(pg_server.url).connect() as connection:
                connection.execute(text("DROP ROLE IF EXISTS mks_decoy_role"))


def point_libpq_at(monkeypatch, url, user="mks_decoy_role"):
    monkeypatch.setenv("PGHOST", url.host or "")
    monkeypatch.setenv("PGPORT", str(url.port or 5432))
    monkeypatch.setenv("PGDATABASE", url.database)
    monkeypatch.setenv("PGUSER", user)


@pytest.mark.parametrize("form", ["host-port-database", "everything-in-the-query"])
def test_pg_variables_naming_another_database_do_not_change_what_is_backed_up_or_migrated(
    project_at_a1, scratch_url, pg_server, decoy, tmp_path, monkeypatch, form
):
    project = project_at_a1()
    url = scratch_url
    if form == "everything-in-the-query":  # postgresql://@/?host=/dir&port=N&dbname=D&user=U
        port = str(scratch_url.port or 5432)
        query = {"host": socket_directory(pg_server, port), "port": port}
        query |= {"dbname": scratch_url.database, "user": scratch_url.username}
        url = URL.create("postgresql+psycopg2", password=scratch_url.password, query=query)
    point_libpq_at(monkeypatch, decoy)
    outcome = deploy(project, url, pg_server, settings(tmp_path))
    assert outcome.ok, outcome.message
    listing = dump_listing(outcome.backup.path)
    assert f"dbname: {scratch_url.database}" in listing
    assert "TABLE DATA public account" in listing and "decoy_only" not in listing
    assert outcome.backup.database == scratch_url.database
    assert revision(scratch_url) == [("d4",)]
    assert sql(decoy, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(1,)]


def test_a_url_that_leaves_the_database_to_pgdatabase_is_refused_before_any_ddl(
    project_at_a1, scratch_url, server_url, tmp_path, monkeypatch, capsys
):
    project = project_at_a1()
    # No database in the URL: psycopg2 takes PGDATABASE (production), the client tools, which
    # never inherit PG* variables, the user's default database: two databases, so no deploy.
    monkeypatch.setenv("PGDATABASE", scratch_url.database)
    without_database = scratch_url._replace(database=None).render_as_string(hide_password=False)
    backups = tmp_path / "b"
    code = main(
        ["deploy", "-c", str(project.ini), "--database-url", without_database]
        + ["--scratch-url", server_url, "--backup-dir", str(backups)]
    )
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, captured.out
    assert f"reaches database {scratch_url.database} (oid" in err and "through SQLAlchemy but" in err
    assert "database postgres (oid" in err and "through the client tools" in err
    assert len([line for line in err.splitlines() if line.startswith("mks-db:")]) == 1
    assert revision(scratch_url) == [("a1",)]
    assert not backups.exists() or list(backups.iterdir()) == []


C3_REFERENCES_ACCOUNT = Rev(
    "c3",
    "b2",
    'op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id")))',
    'op.drop_table("audit")',
)


def databases_named(pg_server, pattern):
    with create_engine(pg_server.url, poolclass=NullPool).connect() as connection:
        query = text("SELECT datname FROM pg_database WHERE datname LIKE :p ORDER BY 1")
        return connection.execute(query, {"p": pattern}).scalars().all()


def test_restore_after_a_deploy_brings_back_the_revision_and_rows_and_removes_the_later_tables(
    tmp_path, scratch_url, pg_server, capsys
):
    ini = make_project(tmp_path / "project", [A1, B2, C3_REFERENCES_ACCOUNT, D4])
    project = load_project(ini)
    with Migrator(project, scratch_url) as migrator:
        migrator.upgrade(project.revision("a1"))
    sql(scratch_url, "INSERT INTO account (email) SELECT 'u' || g || '@x' FROM generate_series(1, 50) g")
    before = fingerprint(scratch_url)
    outcome = deploy(project, scratch_url, pg_server, settings(tmp_path))
    assert outcome.ok, outcome.message
    # After the deploy the application goes on: a row in the new table refers to an account.
    sql(scratch_url, "INSERT INTO audit (id, account_id) VALUES (1, 1); DELETE FROM account WHERE id > 40")
    sql(scratch_url, f"ALTER DATABASE \"{scratch_url.database}\" SET work_mem = '7MB'")
    plain = scratch_url.render_as_string(hide_password=False)
    assert main(["restore", outcome.backup.path, "--database-url", plain, "--yes"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    [kept] = databases_named(pg_server, f"{scratch_url.database}_before_restore_%")
    try:
        assert revision(scratch_url) == [("a1",)]
        assert fingerprint(scratch_url) == before
        tables = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        assert sql(scratch_url, tables) == [("account",), ("alembic_version",)]
        columns = "SELECT column_name FROM information_schema.columns WHERE table_name = 'account'"
        assert sql(scratch_url, columns) == [("id",), ("email",)]
        assert sql(scratch_url, "SHOW work_mem") == [("7MB",)]  # the database's own settings follow
        assert revision(scratch_url.set(database=kept)) == [("d4",)]  # kept until the operator drops it
        assert "revision a1" in out and f'DROP DATABASE "{kept}"' in out
        assert databases_named(pg_server, f"{scratch_url.database}_restore_%") == []
    finally:
        from mks_db.database.server import drop_database

        drop_database(pg_server, kept)


def test_a_restore_that_fails_shows_pg_restores_whole_error_and_leaves_the_target_as_it_was(
    project_at_a1, scratch_url, pg_server, decoy, tmp_path, capsys
):
    project_at_a1()
    sql(scratch_url, "GRANT SELECT ON account TO mks_decoy_role")
    record = backup(scratch_url, tmp_path / "b")
    sql(scratch_url, "REVOKE SELECT ON account FROM mks_decoy_role; DROP ROLE mks_decoy_role")
    sql(scratch_url, "DELETE FROM account WHERE id > 10")
    plain = scratch_url.render_as_string(hide_password=False)
    assert main(["restore", record.path, "--database-url", plain, "--yes"]) == 3
    err = capsys.readouterr().err
    assert "pg_restore into" in err and 'role "mks_decoy_role" does not exist' in err
    assert "Command was: GRANT SELECT ON TABLE public.account TO mks_decoy_role" in err
    assert sql(scratch_url, "SELECT count(*) FROM account") == [(10,)]
    assert databases_named(pg_server, f"{scratch_url.database}_%") == []


def cli_deploy(project, url, server_url, tmp_path, *extra):
    plain = url.render_as_string(hide_password=False)
    return main(
        ["deploy", "-c", str(project.ini), "--database-url", plain, "--scratch-url", server_url]
        + ["--backup-dir", str(tmp_path / "b"), *extra]
    )


def test_a_deploy_failing_at_the_third_revision_states_where_production_is_and_how_to_go_back(
    project_at_a1, scratch_url, server_url, tmp_path, capsys
):
    project = project_at_a1(D4_FAILS)
    assert cli_deploy(project, scratch_url, server_url, tmp_path) == 1
    out = capsys.readouterr().out
    [dump] = (tmp_path / "b").glob("*.dump")
    masked = scratch_url.render_as_string(hide_password=True)
    assert f"production ({masked}): applied 2 of 3 revisions, now at revision c3; backup {dump}" in out
    assert f"go back to the backup: mks-db restore {dump} --database-url {shlex.quote(masked)}" in out
    assert out.index("deploy FAILED: revision d4 failed") < out.index("production (")


def test_a_deploy_failing_at_the_first_revision_shows_the_plan_without_plan_ok(
    tmp_path, scratch_url, server_url, capsys
):
    fails = Rev("b2", "a1", 'op.execute("SELECT 1/0")', "pass")
    project = load_project(make_project(tmp_path / "project", [A1, fails]))
    with Migrator(project, scratch_url) as migrator:
        migrator.upgrade(project.revision("a1"))
    assert cli_deploy(project, scratch_url, server_url, tmp_path) == 1
    out = capsys.readouterr().out
    assert "to apply, in order (1):" in out and "plan: ok" not in out
    assert "deploy FAILED: revision b2 failed: division by zero" in out
    assert "applied 0 of 1 revisions, now at revision a1" in out
    assert "next: nothing is migrated" in out


def test_a_stop_command_that_fails_after_the_backup_states_production_unchanged_and_the_backup(
    project_at_a1, scratch_url, server_url, tmp_path, capsys, monkeypatch
):
    project = project_at_a1()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mks-db.deploy]\nstop-command = "false"\nstart-command = "true"\n'
    )
    monkeypatch.chdir(tmp_path)
    assert cli_deploy(project, scratch_url, server_url, tmp_path) == 3
    err = capsys.readouterr().err
    [dump] = (tmp_path / "b").glob("*.dump")
    assert "the stop command `false` failed" in err
    assert f"applied 0 of 3 revisions, now at revision a1; backup {dump}" in err
    assert "next: nothing is migrated" in err
    assert revision(scratch_url) == [("a1",)]
    assert sql(scratch_url, "SELECT outcome FROM mks_db.deploy_history") == [("failed",)]


@pytest.mark.parametrize("given", ["--database-url", "DATABASE_URL"])
def test_cannot_connect_names_the_target_and_where_it_came_from_never_the_password(
    project_at_a1, server_url, tmp_path, capsys, monkeypatch, given
):
    project = project_at_a1()
    unreachable = "postgresql://ops:s3cret@127.0.0.1:1/prod"
    args = ["deploy", "-c", str(project.ini), "--scratch-url", server_url]
    if given == "--database-url":
        args += ["--database-url", unreachable]
    else:
        monkeypatch.setenv("DATABASE_URL", unreachable)
    assert main(args) == 3
    err = capsys.readouterr().err
    assert f"cannot connect to postgresql+psycopg2://ops:***@127.0.0.1:1/prod (given by {given})" in err
    assert f"check {given}" in err and "s3cret" not in err
    other = "DATABASE_URL" if given == "--database-url" else "--database-url"
    assert other not in err
