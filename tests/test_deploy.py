"""mks-db plan, backup and restore against a real "production" database (a scratch database
of the test server, migrated with plain Alembic as production was).

The tests that run pg_dump or pg_restore, or migrate production through the chain to plan,
are marked slow (the full suite's tier); the refusals that stop before that stay in the
fast tier."""

from __future__ import annotations

import dataclasses
import datetime
import json
import resource
import stat
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from conftest import REPO, alembic_config, run_json
from mks_db.cli import main
from mks_db.production.backup import backup, verify

INI = str(REPO / "alembic.ini")


def migrate(url, revision):
    command.upgrade(alembic_config(url), revision)


def execute(url, sql):
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        result = connection.execute(text(sql))
        rows = result.all() if result.returns_rows else None
    engine.dispose()
    return rows


def plan(capsys, url, server_url, *extra):
    plain = url.render_as_string(hide_password=False)
    return run_json(capsys, "plan", "-c", INI, "--database-url", plain, "--scratch-url", server_url, *extra)


@pytest.mark.slow
def test_plan_lists_the_pending_revisions_in_order_with_their_sql(scratch_url, server_url, capsys):
    migrate(scratch_url, "e1f2a3b4c5d6")
    code, report = plan(capsys, scratch_url, server_url)
    assert code == 0, report["problems"]
    assert report["current"] == ["e1f2a3b4c5d6"]
    assert report["pending"] == ["f3a9c2d17b40", "8b1e5d2c9a37", "2c7d4e9f1a58", "9d3f6b8e2c14"]
    assert "ALTER TABLE project_tasks ADD COLUMN end_date DATE" in report["sql"]["f3a9c2d17b40"]
    assert execute(scratch_url, "SELECT version_num FROM alembic_version") == [("e1f2a3b4c5d6",)]


@pytest.mark.slow
def test_plan_refuses_a_schema_changed_by_hand(scratch_url, server_url, capsys):
    migrate(scratch_url, "head")
    execute(scratch_url, "ALTER TABLE knowledge ADD COLUMN hotfix text")
    code, report = plan(capsys, scratch_url, server_url)
    assert code == 1
    assert "schema drift: + column public.knowledge.hotfix: text NULL" in report["problems"]


@pytest.mark.slow
def test_plan_refuses_an_unknown_revision(scratch_url, server_url, capsys):
    migrate(scratch_url, "head")
    execute(scratch_url, "UPDATE alembic_version SET version_num = 'abcdef123456'")
    code, report = plan(capsys, scratch_url, server_url)
    assert code == 1
    [problem] = report["problems"]
    assert "abcdef123456 (no branch or commit of this repository has its file)" in problem
    assert "Can't locate revision identified by" in problem and "alembic stamp REV" in problem


def test_plan_refuses_tables_without_a_version_table_and_says_how_to_stamp(scratch_url, server_url, capsys):
    migrate(scratch_url, "c1104acd2fa6")
    execute(scratch_url, "DROP TABLE alembic_version")
    code, report = plan(capsys, scratch_url, server_url)
    assert code == 1
    assert "no alembic_version" in report["problems"][0] and "alembic stamp" in report["problems"][0]


def test_plan_of_an_unreachable_database_exits_3_without_the_password(capsys, server_url):
    code = main(
        [
            "plan",
            "-c",
            INI,
            "--database-url",
            "postgresql://ops:s3cret@127.0.0.1:1/prod",
            "--scratch-url",
            server_url,
        ]
    )
    captured = capsys.readouterr()
    assert code == 3
    assert "s3cret" not in captured.err + captured.out


def count(url, table="auth.roles"):
    return execute(url, f"SELECT count(*) FROM {table}")[0][0]


@pytest.mark.slow
def test_backup_then_restore_brings_the_data_back(scratch_url, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # this repository's settings stop production's service
    migrate(scratch_url, "head")
    plain = scratch_url.render_as_string(hide_password=False)
    roles = count(scratch_url)
    assert main(["backup", "--database-url", plain, "--backup-dir", str(tmp_path)]) == 0
    [dump] = tmp_path.glob("*.dump")
    record = json.loads((tmp_path / f"{dump.name}.json").read_text())
    assert record["bytes"] == dump.stat().st_size and len(record["sha256"]) == 64
    execute(scratch_url, "DELETE FROM auth.role_permissions; DELETE FROM auth.roles")
    assert count(scratch_url) == 0
    assert main(["restore", str(dump), "--database-url", plain, "--yes"]) == 0
    assert count(scratch_url) == roles
    assert "restored" in capsys.readouterr().out


@pytest.mark.slow
def test_backup_goes_to_the_configured_backup_dir_unless_the_flag_says_otherwise(
    scratch_url, tmp_path, monkeypatch
):
    plain = scratch_url.render_as_string(hide_password=False)
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db.deploy]\nbackup-dir = "vault"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["backup", "--database-url", plain]) == 0
    assert len(list((tmp_path / "vault").glob("*.dump"))) == 1
    assert main(["backup", "--database-url", plain, "--backup-dir", str(tmp_path / "flag")]) == 0
    assert len(list((tmp_path / "flag").glob("*.dump"))) == 1
    assert not (tmp_path / "backups").exists()


@pytest.mark.slow
def test_restore_refuses_a_file_that_changed_since_its_backup(scratch_url, tmp_path, capsys):
    migrate(scratch_url, "c1104acd2fa6")
    plain = scratch_url.render_as_string(hide_password=False)
    assert main(["backup", "--database-url", plain, "--backup-dir", str(tmp_path)]) == 0
    [dump] = tmp_path.glob("*.dump")
    with dump.open("ab") as handle:
        handle.write(b"\0")
    assert main(["restore", str(dump), "--database-url", plain, "--yes"]) == 2
    assert "does not match its record" in capsys.readouterr().err


@pytest.mark.slow
def test_restore_asks_before_replacing_and_refuses_without_a_terminal(
    scratch_url, tmp_path, capsys, monkeypatch
):
    migrate(scratch_url, "c1104acd2fa6")
    plain = scratch_url.render_as_string(hide_password=False)
    main(["backup", "--database-url", plain, "--backup-dir", str(tmp_path)])
    [dump] = tmp_path.glob("*.dump")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["restore", str(dump), "--database-url", plain]) == 2
    assert "pass --yes to confirm" in capsys.readouterr().err


def test_a_backup_of_an_unreachable_database_names_it_and_leaves_no_file_and_no_password(tmp_path, capsys):
    code = main(
        [
            "backup",
            "--database-url",
            "postgresql://ops:s3cret@127.0.0.1:1/prod",
            "--backup-dir",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot connect to postgresql+psycopg2://ops:***@127.0.0.1:1/prod" in err
    assert "s3cret" not in err
    assert list(tmp_path.iterdir()) == []


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_backups_are_private_files_in_a_private_directory(scratch_url, tmp_path):
    migrate(scratch_url, "c1104acd2fa6")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    record = backup(scratch_url, shared)
    dump = Path(record.path)
    assert mode(shared) == 0o700
    assert mode(dump) == 0o600 and mode(Path(f"{dump}.json")) == 0o600
    assert sorted(p.name for p in shared.iterdir()) == [dump.name, f"{dump.name}.json"]


@pytest.mark.slow
def test_two_backups_in_the_same_second_keep_both_files(scratch_url, tmp_path, monkeypatch):
    migrate(scratch_url, "c1104acd2fa6")
    moment = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    monkeypatch.setattr("mks_db.production.backup.now", lambda: moment)
    execute(scratch_url, "CREATE TABLE notes AS SELECT g AS id FROM generate_series(1, 3) g")
    first = backup(scratch_url, tmp_path)
    execute(scratch_url, "DELETE FROM notes")
    second = backup(scratch_url, tmp_path)
    assert Path(first.path).name == f"{scratch_url.database}-20250102T030405Z.dump"
    assert Path(second.path).name == f"{scratch_url.database}-20250102T030405Z-2.dump"
    assert verify(Path(first.path)) == first and verify(Path(second.path)) == second
    assert first.rows["public.notes"] == 3 and second.rows["public.notes"] == 0


def test_a_backup_directory_that_cannot_be_written_fails_in_one_line_leaving_nothing(
    scratch_url, tmp_path, capsys
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    plain = scratch_url.render_as_string(hide_password=False)
    assert main(["backup", "--database-url", plain, "--backup-dir", str(blocker / "sub")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create the backup directory" in err and "--backup-dir" in err
    assert list(tmp_path.iterdir()) == [blocker]


@pytest.mark.slow
def test_a_backup_that_runs_out_of_space_leaves_neither_dump_nor_record(scratch_url, tmp_path, capsys):
    migrate(scratch_url, "head")
    plain = scratch_url.render_as_string(hide_password=False)
    # The largest file this process and pg_dump may write: a full disk, as root too.
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, limits[1]))
    try:
        code = main(["backup", "--database-url", plain, "--backup-dir", str(tmp_path / "b")])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    assert code == 3
    err = capsys.readouterr().err
    assert "pg_dump of" in err and "failed (killed by SIGXFSZ)" in err
    assert list((tmp_path / "b").iterdir()) == []


def test_restoring_a_missing_file_says_so_in_one_line(scratch_url, tmp_path, capsys):
    plain = scratch_url.render_as_string(hide_password=False)
    assert main(["restore", str(tmp_path / "gone.dump"), "--database-url", plain, "--yes"]) == 2
    err = capsys.readouterr().err
    missing = tmp_path / "gone.dump"
    assert err == f"mks-db: error: no backup file {missing}; name a .dump written by mks-db backup\n"


def test_plan_refuses_tables_in_any_schema_without_a_version_table(scratch_url, server_url, capsys):
    # Only the auth and audit schemas hold tables: the default schema's alone would look empty.
    execute(scratch_url, "CREATE SCHEMA auth")
    execute(scratch_url, "CREATE TABLE auth.roles (id integer PRIMARY KEY)")
    code, report = plan(capsys, scratch_url, server_url)
    assert code == 1
    assert "the database has 1 tables but no alembic_version" in report["problems"][0]


@pytest.mark.slow
def test_a_backup_is_proven_by_restoring_it_into_a_scratch_database(
    scratch_url, server_url, tmp_path, capsys
):
    migrate(scratch_url, "head")
    plain = scratch_url.render_as_string(hide_password=False)
    args = ["backup", "--database-url", plain, "--backup-dir", str(tmp_path), "--scratch-url", server_url]
    assert main(args) == 0
    assert "restored into a scratch database: revision and row counts match" in capsys.readouterr().out
    assert main([*args, "--verify", "list"]) == 0
    assert "read back with pg_restore --list" in capsys.readouterr().out


@pytest.mark.slow
def test_a_backup_that_does_not_restore_to_what_was_read_fails_verification(scratch_url, pg_server, tmp_path):
    from mks_db.errors import InfrastructureError
    from mks_db.production.restore import verify_restorable

    migrate(scratch_url, "head")
    record = backup(scratch_url, tmp_path)
    # As if the snapshot pg_dump read had held one more role than the file does.
    tampered = dataclasses.replace(record, rows={**record.rows, "auth.roles": record.rows["auth.roles"] + 1})
    with pytest.raises(InfrastructureError, match="does not match the backup's record: auth.roles"):
        verify_restorable(tampered, pg_server, "restore")
