"""The command line as users meet it: exit codes, one-line errors, formats, interruption.

The tests call ``main([...])`` in this process (the report on stdout, errors on stderr, as
``capsys`` reads them); a ``mks-db`` process is started only where the process is the point:
a signal, or what a fresh interpreter imports."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from alembic_cases import Rev, make_project
from conftest import scratch_databases
from mks_db.cli import main
from mks_db.database.server import SCRATCH_PREFIX, admin_engine

BASE = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("account")',
)


def mks_db(capsys, *args):
    """``mks-db ARGS`` in this process: its exit status, stdout and stderr."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def usage_error(capsys, *args):
    """``mks-db ARGS`` in this process, refused by argparse: its exit status and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return exited.value.code, capsys.readouterr().err


def test_missing_alembic_ini_is_a_usage_error_in_one_line(tmp_path, capsys):
    code, _, err = mks_db(capsys, "check", "-c", str(tmp_path / "nope.ini"))
    assert code == 2
    assert err.count("\n") == 1
    assert "no Alembic configuration at" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("jobs", ["0", "two"])
def test_a_bad_jobs_value_is_a_usage_error(jobs, capsys):
    code, err = usage_error(capsys, "roundtrip", "--jobs", jobs)
    assert code == 2
    assert f"argument --jobs/-j: must be a whole number of 1 or more, not '{jobs}'" in err
    assert "Traceback" not in err


def test_run_without_c_finds_alembic_ini_in_the_current_directory(tmp_path, server_url, capsys, monkeypatch):
    make_project(tmp_path, [BASE])
    monkeypatch.chdir(tmp_path)
    code, out, err = mks_db(capsys, "heads")
    assert code == 0, err
    assert "mks-db heads: ok: 1 revisions" in out


def test_revision_file_that_does_not_import_names_the_file(tmp_path, server_url, capsys):
    broken = Rev("b2", "a1", "pass", "pass", header="import no_such_module")
    ini = make_project(tmp_path, [BASE, broken])
    code, _, err = mks_db(capsys, "check", "-c", str(ini), "--database-url", server_url)
    assert code == 2
    assert "b2.py" in err and "does not import" in err
    assert "no_such_module" in err
    assert "Traceback" not in err


def test_unreachable_database_exits_3_and_masks_the_password(tmp_path, capsys):
    ini = make_project(tmp_path, [BASE])
    code, out, err = mks_db(
        capsys, "check", "-c", str(ini), "--database-url", "postgresql://ci:s3cret-pw@127.0.0.1:1/postgres"
    )
    assert code == 3
    assert "cannot reach PostgreSQL at postgresql+psycopg2://ci:***@127.0.0.1:1/postgres" in err
    assert "s3cret-pw" not in err + out
    assert err.count("\n") == 1
    # The guide's fix for "connection refused": is the server up, the host and port, or no URL at all.
    assert "pg_isready -h 127.0.0.1 -p 1" in err and "the host and port --database-url names" in err
    assert "unset it: mks-db then starts its own embedded server" in err


def test_github_format_annotates_the_revision_file_and_writes_the_step_summary(
    tmp_path, server_url, capsys, monkeypatch
):
    leaky = Rev("b2", "a1", 'op.create_index("ix_id", "account", ["id"])', "pass")
    ini = make_project(tmp_path / "project", [BASE, leaky])
    summary = tmp_path / "summary.md"
    report = tmp_path / "build" / "report.json"  # the same run's JSON, for the artifact
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = mks_db(
        capsys,
        "roundtrip",
        "-c",
        str(ini),
        "--format",
        "github",
        "--json-report",
        str(report),
        "--database-url",
        server_url,
    )
    assert code == 1
    annotation = next(line for line in out.splitlines() if line.startswith("::error"))
    assert "file=" in annotation and "b2.py" in annotation and ",line=" in annotation
    assert "%0A" in annotation  # the multi-line diff stays one workflow command
    assert "title=mks-db roundtrip b2" in annotation
    markdown = summary.read_text()
    assert "| error | roundtrip | b2 |" in markdown
    written = json.loads(report.read_text())
    assert written["ok"] is False
    assert [(f["check"], f["revision"]) for f in written["findings"]] == [("roundtrip", "b2")]


def test_heads_reports_a_missing_parent_duplicate_ids_and_cycles(tmp_path, capsys):
    ini = make_project(
        tmp_path,
        [BASE, Rev("b2", "zz"), Rev("c3", "d4"), Rev("d4", "c3")],
    )
    (tmp_path / "migrations" / "versions" / "a1_copy.py").write_text(
        (tmp_path / "migrations" / "versions" / "a1.py").read_text()
    )
    code = main(["heads", "-c", str(ini), "--format", "json"])
    messages = [f["message"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert code == 1
    assert any("revision id a1 is used by 2 files" in m for m in messages)
    assert any("b2 has down_revision 'zz', which no revision file defines" in m for m in messages)
    assert any("revisions form a cycle" in m for m in messages)


def sleeping(server) -> bool:
    """Whether a scratch database's session is running the slow revision's pg_sleep(60)."""
    with admin_engine(server.url).connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query LIKE 'SELECT pg_sleep(60)%' AND datname LIKE :scratch"
        )
        return bool(conn.execute(text(query), {"scratch": SCRATCH_PREFIX + "%"}).scalar())


@pytest.mark.parametrize(
    ("jobs", "signum", "whole_group"),
    [
        ("1", signal.SIGTERM, False),
        ("2", signal.SIGTERM, False),  # the slow revision is walked in a worker: it is passed on
        ("2", signal.SIGINT, True),  # Ctrl-C in a terminal reaches every process of the group
    ],
)
@pytest.mark.slow
def test_interrupted_check_drops_its_scratch_databases(
    tmp_path, pg_server, server_url, jobs, signum, whole_group
):
    slow = Rev("b2", "a1", 'op.execute("SELECT pg_sleep(60)")', "pass")
    ini = make_project(tmp_path, [BASE, slow])
    before = scratch_databases(pg_server)
    process = subprocess.Popen(
        [sys.executable, "-m", "mks_db", "check", "-c", str(ini), "--database-url", server_url, "-j", jobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not sleeping(pg_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleeping(pg_server), "the check never reached the slow upgrade"
    assert scratch_databases(pg_server) - before, "the check never created its scratch database"
    if whole_group:  # inside the slow upgrade now
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)  # the 60 s statement is cancelled, not awaited
    assert process.returncode == 128 + signum, stdout + stderr  # 143 for SIGTERM, 130 for Ctrl-C
    assert stderr.count("interrupted") == 1, stderr
    assert scratch_databases(pg_server) - before == set()


def test_pyproject_settings_choose_the_project_and_flags_override_them(tmp_path, capsys, monkeypatch):
    make_project(tmp_path / "db", [BASE])
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mks-db]\nalembic-config = "db/alembic.ini"\nformat = "json"\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = mks_db(capsys, "heads")
    assert code == 0, err
    assert json.loads(out)["revisions"] == 1
    assert mks_db(capsys, "heads", "--format", "human")[1].startswith("mks-db heads: ok")


def test_unknown_pyproject_setting_is_a_usage_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db]\nalembic_config = "x"\n')
    monkeypatch.chdir(tmp_path)
    code, _, err = mks_db(capsys, "heads")
    assert code == 2
    assert "unknown [tool.mks-db] setting alembic_config" in err


@pytest.mark.parametrize("flag", ["--statement-timeout", "--lock-timeout"])
def test_a_time_bound_that_is_not_a_duration_is_a_usage_error_in_one_line(tmp_path, capsys, flag):
    ini = make_project(tmp_path, [BASE])
    code = main(["roundtrip", "-c", str(ini), flag, "soon", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1
    assert f"{flag.removeprefix('--')} must be a positive duration" in captured.err
    report = json.loads(captured.out)  # the JSON report is still the whole of stdout
    assert report["ok"] is False and "positive duration" in report["error"]


def test_an_unwritable_json_report_is_a_usage_error_before_the_command_runs(tmp_path, capsys, server_url):
    ini = make_project(tmp_path, [BASE])
    blocker = tmp_path / "file.txt"
    blocker.write_text("")
    code = main(["heads", "-c", str(ini), "--json-report", str(blocker / "report.json"), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 2
    assert json.loads(captured.out)["error"].startswith("cannot write the JSON report")
    assert captured.err.count("\n") == 1 and "nothing was run" in captured.err


def test_every_bad_setting_is_its_own_error_line_and_the_report_keeps_its_format(
    tmp_path, capsys, monkeypatch
):
    make_project(tmp_path / "db", [BASE])
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mks-db]\nalembic-config = "db/alembic.ini"\nformat = "json"\noffline = "maybe"\n'
        'lock-timeout = "soon"\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = mks_db(capsys, "heads")
    assert code == 2
    assert err.splitlines() == [
        "mks-db: error: [tool.mks-db] offline must be true or false, not 'maybe'",
        "mks-db: error: [tool.mks-db] lock-timeout must be a positive duration such as 500ms, 30s, "
        "5min or 1h, not 'soon'",
    ]
    report = json.loads(out)
    assert report["ok"] is False and report["error"].count("\n") == 1


def test_the_help_states_the_walks_smallest_part(capsys, monkeypatch):
    from mks_db.limits import MIN_PART

    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag
    with pytest.raises(SystemExit) as exited:
        main(["roundtrip", "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert f"each of at least {MIN_PART} revisions" in help_text


IMPORTED = (
    "import sys, {module}; "
    "print(' '.join(sorted(m for m in sys.modules if m.startswith(('mks_db.', 'pglast')))))"
)


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        (
            "mks_db.cli",
            ("mks_db.commands.", "mks_db.production", "mks_db.checks.", "mks_db.engine.", "pglast"),
        ),
        (
            "mks_db.commands.heads",
            (
                "mks_db.production",
                "mks_db.checks.roundtrip",
                "mks_db.engine.chain_walk",
                "mks_db.engine.lock_probe",
            ),
        ),
        ("mks_db.commands.check", ("mks_db.production",)),
    ],
)
def test_a_command_imports_only_what_it_runs(module, absent):
    """Start-up time is every hook's and CI step's: parsing the flags imports no command, and a
    command imports no other command's machinery (check: not the production modules)."""
    imported = subprocess.run(
        [sys.executable, "-c", IMPORTED.format(module=module)], capture_output=True, text=True, check=True
    ).stdout.split()
    # The deploy settings are checked for every command: a module of plain values, no machinery.
    light = {"mks_db.production", "mks_db.production.deploy_settings"}
    assert [name for name in imported if name.startswith(absent) and name not in light] == []


def test_every_command_and_option_says_what_it_does():
    from mks_db.cli import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in commands.choices.items():
        assert command.description, f"mks-db {name} --help has no description"
        for action in command._actions:
            assert action.help, f"mks-db {name} {'/'.join(action.option_strings)} has no help"


@pytest.mark.parametrize(
    ("flags", "environment", "source"),
    [
        (
            ["--database-url", "mysql://u:s3cret@h/d"],
            {"DATABASE_URL": "postgresql://x@h/d"},
            "--database-url",
        ),
        ([], {"DATABASE_URL": "mysql://u:s3cret@h/d"}, "DATABASE_URL"),
    ],
)
def test_a_bad_url_is_named_after_where_it_came_from(
    tmp_path, capsys, monkeypatch, flags, environment, source
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    project = make_project(tmp_path / "project", [Rev("a1", None)])
    assert main(["roundtrip", "-c", str(project), *flags]) == 2
    err = capsys.readouterr().err
    assert f"mks-db: error: {source} names a 'mysql' database" in err and "s3cret" not in err, err
