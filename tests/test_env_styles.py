"""mks-db runs on any Alembic project as its users wrote it, whatever its env.py convention.

Every project here is built by ``alembic init`` (see env_styles) and first proven valid with
``python -m alembic upgrade head`` / ``downgrade base``; then ``mks-db`` runs on it unchanged,
from its root, as a console script, with DATABASE_URL naming the test server.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from env_styles import (
    ADD_NAME,
    CREATE_ACCOUNT,
    DEFECTS,
    OWN_SETTING,
    STYLES,
    Project,
    Step,
    alembic,
    build,
    chain,
    explain,
    make_noisy,
    make_raising,
    one_line,
    report_of,
    require,
    run_mks_db,
    verify_with_alembic,
    write_revision,
)
from mks_db.database.server import Server, admin_engine, drop_database

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

ALL_STYLES = [*STYLES.values(), OWN_SETTING]
CHECK = ("check", "--format", "json")


def ids(style) -> str:
    return style.name


# --- the projects themselves are valid Alembic projects ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("defect", [None, *DEFECTS], ids=lambda d: d or "clean")
@pytest.mark.parametrize("style", ALL_STYLES, ids=ids)
def test_every_corpus_project_upgrades_and_downgrades_with_alembic_itself(
    tmp_path, scratch_url, style, defect
):
    require(style)
    project = build(tmp_path / "project", style, chain(defect))
    verify_with_alembic(project, scratch_url)


# --- check: a clean chain passes, a forgotten downgrade fails roundtrip --------------------


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES.values(), ids=ids)
def test_check_passes_a_clean_project_of_every_env_py_convention(tmp_path, server_url, style):
    require(style)
    project = build(tmp_path / "project", style, chain())
    proc = run_mks_db(project, server_url, *CHECK)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (0, True), explain(proc)
    assert report["revisions"] == len(project.revisions), explain(proc)


@pytest.mark.slow
@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize("style", STYLES.values(), ids=ids)
def test_check_fails_roundtrip_on_a_forgotten_downgrade_in_every_env_py_convention(
    tmp_path, server_url, style, defect
):
    require(style)
    project = build(tmp_path / "project", style, chain(defect))
    proc = run_mks_db(project, server_url, *CHECK)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (1, False), explain(proc)
    found = [(f["check"], f["revision"]) for f in report["findings"] if f["severity"] == "error"]
    assert ("roundtrip", project.head) in found, explain(proc)


# --- an env.py that migrates a database of its own choosing --------------------------------


@pytest.fixture
def decoy_url(pg_server: Server) -> Iterator[URL]:
    """A real database on the test server that is no scratch database of mks-db's."""
    name = f"corpus_decoy_{uuid.uuid4().hex[:10]}"
    with admin_engine(pg_server.url).connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield pg_server.database_url(name)
    finally:
        drop_database(pg_server, name)


def user_relations(url: URL) -> list[str]:
    with admin_engine(url).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND n.nspname NOT LIKE 'pg\\_%'"
            )
        )
        return sorted(rows.scalars())


@pytest.mark.slow
def test_check_refuses_an_env_py_that_migrates_its_own_database_and_leaves_it_untouched(
    tmp_path, server_url, decoy_url
):
    project = build(tmp_path / "project", OWN_SETTING, chain())
    decoy = decoy_url.render_as_string(hide_password=False)
    proc = run_mks_db(project, server_url, *CHECK, MYAPP_DB_URL=decoy)
    assert user_relations(decoy_url) == [], f"mks-db migrated the application's database\n{explain(proc)}"
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (2, False), explain(proc)
    assert one_line(proc.stderr) and "env.py" in proc.stderr, explain(proc)
    assert "[tool.mks-db] url-variables" in proc.stderr, explain(proc)
    assert "Traceback" not in proc.stderr, explain(proc)


@pytest.mark.slow
def test_an_env_py_reading_its_own_setting_declared_in_url_variables_is_checked_on_the_scratch_database(
    tmp_path, server_url, scratch_url
):
    project = build(tmp_path / "project", OWN_SETTING, chain("forgotten-drop-index"))
    verify_with_alembic(project, scratch_url)  # proven first as the application runs it
    (project.root / "pyproject.toml").write_text('[tool.mks-db]\nurl-variables = ["MYAPP_DB_URL"]\n')
    # Production, as the application's setting names it, is unreachable: it must never be tried.
    production = "postgresql+psycopg2://app:app-secret@127.0.0.1:1/production"
    proc = run_mks_db(project, server_url, *CHECK, MYAPP_DB_URL=production)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (1, False), explain(proc)
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["check"] == "roundtrip" and "ix_account_email" in finding["message"], explain(proc)
    assert "app-secret" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


# --- inputs that must end in a verdict, not a traceback -----------------------------------


@pytest.mark.slow
def test_env_py_raising_at_import_is_a_configuration_error_naming_env_py(tmp_path, server_url):
    project = build(tmp_path / "project", "generic", chain())
    make_raising(project)
    proc = run_mks_db(project, server_url, *CHECK)
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (2, False), explain(proc)
    assert "env.py" in proc.stderr and "RuntimeError" in proc.stderr, explain(proc)
    # What plain Alembic does is said because it was run, not assumed.
    assert (
        "plain Alembic fails too (python -m alembic current, on an empty database: RuntimeError"
        in proc.stderr
    )


@pytest.mark.slow
def test_an_env_py_that_connects_without_with_runs_as_plain_alembic_runs_it(tmp_path, server_url):
    """env.py opens its connection by hand (``connectable.connect()``, closed in ``finally``) and
    hands it to Alembic: it runs as it does under plain Alembic, and nothing claims otherwise."""
    project = build(tmp_path / "project", "connect-without-with", chain())
    proc = run_mks_db(project, server_url, *CHECK)
    assert (proc.returncode, report_of(proc)["ok"]) == (0, True), explain(proc)
    assert "fails" not in proc.stderr, explain(proc)


@pytest.mark.slow
def test_printing_and_logging_to_stdout_in_env_py_and_revisions_leave_one_json_report(
    tmp_path, server_url, scratch_url
):
    project = build(tmp_path / "project", "generic", chain())
    make_noisy(project)
    verify_with_alembic(project, scratch_url)
    proc = run_mks_db(project, server_url, *CHECK)
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (0, True), explain(proc)


SLEEP = Step("b2", "a1", "wait forever", 'op.execute("SELECT pg_sleep(3600)")')


def test_the_sleeping_revision_runs_with_alembic_until_a_statement_timeout_stops_it(tmp_path, scratch_url):
    project = build(tmp_path / "project", "generic", [CREATE_ACCOUNT, SLEEP])
    proc = alembic(project, scratch_url, "upgrade", "head", PGOPTIONS="-c statement_timeout=2s")
    assert proc.returncode != 0 and "statement timeout" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_statement_timeout_ends_a_revision_that_never_finishes_with_a_finding(tmp_path, server_url):
    project = build(tmp_path / "project", "generic", [CREATE_ACCOUNT, SLEEP])
    proc = run_mks_db(project, server_url, *CHECK, "--statement-timeout", "2s", timeout=240)
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    assert proc.returncode == 1, explain(proc)
    timed_out = [f for f in report["findings"] if f["revision"] == "b2" and "timeout" in f["message"].lower()]
    assert timed_out, explain(proc)


@pytest.mark.slow
@pytest.mark.parametrize(
    "content",
    [
        random.Random(7).randbytes(600),
        b"script_location = migrations\nsqlalchemy.url = postgresql://localhost/app\n",
    ],
    ids=["random-bytes", "no-section-header"],
)
def test_garbage_alembic_ini_is_a_configuration_error_in_one_line(tmp_path, server_url, content):
    project = build(tmp_path / "project", "generic", chain())
    project.ini.write_bytes(content)
    proc = run_mks_db(project, server_url, *CHECK)
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (2, False), explain(proc)
    assert one_line(proc.stderr), explain(proc)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["roundtrip", "lint", "check"])
def test_duplicate_revision_ids_are_a_heads_finding_in_every_command(tmp_path, server_url, command):
    project = build(tmp_path / "project", "generic", chain()[:2])
    twin = Step("b2", "a1", "index account email", chain()[2].upgrade, chain()[2].downgrade)
    write_revision(project.script_dir, twin)
    assert len(list((project.script_dir / "versions").glob("b2_*.py"))) == 2
    proc = run_mks_db(project, server_url, command, "--format", "json")
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    assert (proc.returncode, report["ok"]) == (1, False), explain(proc)
    rules = [(f["check"], f["rule"]) for f in report["findings"]]
    assert ("heads", "duplicate-id") in rules, explain(proc)


@pytest.mark.slow
def test_unwritable_github_step_summary_is_a_configuration_error_naming_it(tmp_path, server_url):
    project = build(tmp_path / "project", "generic", chain())
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file, not a directory\n")
    proc = run_mks_db(
        project,
        server_url,
        "check",
        "--format",
        "github",
        GITHUB_STEP_SUMMARY=str(blocker / "summary.md"),
    )
    assert "Traceback" not in proc.stderr, explain(proc)
    assert proc.returncode == 2, explain(proc)
    assert one_line(proc.stderr) and "GITHUB_STEP_SUMMARY" in proc.stderr, explain(proc)


# --- lock analysis under the stock env.py, which opens its own connection ------------------

LOCK_CHAIN = [
    Step(
        "a1",
        None,
        "create t",
        """
        op.create_table(
            "t",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("n", sa.Integer(), nullable=True),
        )
        """,
        'op.drop_table("t")',
    ),
    Step(
        "b2",
        "a1",
        "widen t n",
        'op.alter_column("t", "n", type_=sa.BigInteger())',
        'op.alter_column("t", "n", type_=sa.Integer())',
    ),
    Step(
        "c3",
        "b2",
        "index t n",
        """
        with op.get_context().autocommit_block():
            op.create_index("ix", "t", ["n"], postgresql_concurrently=True)
        """,
        """
        with op.get_context().autocommit_block():
            op.drop_index("ix", table_name="t", postgresql_concurrently=True)
        """,
    ),
]


def lock_project(tmp_path) -> Project:
    return build(tmp_path / "project", "generic", LOCK_CHAIN, models=False)


def test_the_lock_project_upgrades_and_downgrades_with_alembic_itself(tmp_path, scratch_url):
    verify_with_alembic(lock_project(tmp_path), scratch_url)


@pytest.mark.slow
def test_locks_reports_access_exclusive_and_a_rewrite_under_the_stock_env_py(tmp_path, server_url):
    project = lock_project(tmp_path)
    proc = run_mks_db(project, server_url, "locks", "--revision", "b2", "--rows", "2000", "--format", "json")
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    # A lock within the time budget is a warning (exit 0), over it an error (exit 1).
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert proc.returncode == (1 if errors else 0), explain(proc)
    messages = [f["message"] for f in report["findings"] if f["check"] == "locks" and f["revision"] == "b2"]
    assert any("ACCESS EXCLUSIVE" in m and "rewritten" in m for m in messages), explain(proc)


@pytest.mark.slow
def test_locks_finishes_on_a_concurrent_index_in_an_autocommit_block_under_the_stock_env_py(
    tmp_path, server_url
):
    project = lock_project(tmp_path)
    proc = run_mks_db(
        project,
        server_url,
        "locks",
        "--revision",
        "c3",
        "--rows",
        "2000",
        "--format",
        "json",
        timeout=240,
    )
    assert "Traceback" not in proc.stderr, explain(proc)
    report = report_of(proc)
    # SHARE UPDATE EXCLUSIVE blocks neither reads nor writes: no finding, and the run ends.
    assert (proc.returncode, report["findings"]) == (0, []), explain(proc)


@pytest.mark.slow
def test_an_asyncpg_database_url_serves_the_async_project_and_mks_db_itself(tmp_path, server_url):
    style = STYLES["async"]
    require(style)
    project = build(tmp_path / "project", style, chain())
    asyncpg_url = server_url.replace("postgresql+psycopg2://", "postgresql+asyncpg://", 1)
    assert asyncpg_url.startswith("postgresql+asyncpg://")
    proc = run_mks_db(project, asyncpg_url, "roundtrip", "--format", "json")
    assert "Traceback" not in proc.stderr, explain(proc)
    assert (proc.returncode, report_of(proc)["ok"]) == (0, True), explain(proc)


PLAIN_INDEX = Step(
    "c3",
    "b2",
    "index account name",
    'op.create_index("ix_account_name", "account", ["name"])',
    'op.drop_index("ix_account_name", table_name="account")',
)


def test_a_clean_project_without_any_lint_configuration_exits_0(tmp_path, server_url):
    """An `alembic init` project as its users have it: no .sqlfluff, no .squawk.toml, no
    [tool.mks-db]; a plain index is lock advice (a warning), not a defect."""
    steps = [CREATE_ACCOUNT, ADD_NAME, PLAIN_INDEX]
    project = build(tmp_path / "project", "generic", steps, models=False)
    for name in (".sqlfluff", ".squawk.toml"):
        (project.root / name).unlink()
    proc = run_mks_db(project, server_url, *CHECK)
    report = report_of(proc)
    assert [f for f in report["findings"] if f["severity"] == "error"] == [], explain(proc)
    assert proc.returncode == 0, explain(proc)
    assert not [f for f in report["findings"] if f["check"] == "sql-style"], explain(proc)


def test_squawk_timeout_rules_follow_what_the_migrating_session_really_had(tmp_path, server_url):
    """squawk reads the timeout rules off each file's SQL; the walk measures the session env.py
    migrates on: a lock_timeout env.py sets answers require-lock-timeout, the statement_timeout
    it does not set stays a warning that says it was measured."""
    project = build(tmp_path / "project", "generic", [CREATE_ACCOUNT, ADD_NAME, PLAIN_INDEX], models=False)
    env = project.env_py.read_text()
    opening = "    with connectable.connect() as connection:\n"
    assert opening in env, "the generic template changed"
    project.env_py.write_text(
        env.replace(opening, opening + "        connection.exec_driver_sql(\"SET lock_timeout = '5s'\")\n")
    )
    report = report_of(proc := run_mks_db(project, server_url, *CHECK))
    rules = {f["rule"]: f for f in report["findings"] if f["check"] == "safety"}
    assert "require-lock-timeout" not in rules, explain(proc)
    unset = rules.get("require-statement-timeout")
    assert unset is not None, explain(proc)
    assert unset["severity"] == "warning"
    assert "measured: env.py ran the migrations without statement_timeout" in unset["message"]
