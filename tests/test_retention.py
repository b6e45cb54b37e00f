"""Backup retention after a deploy (keep-backups, keep-days): real deploys, real pg_dump files
and their records in the backup directory; ages are set in the records, as a backup taken days
ago would have them (or a runner whose clock was wrong)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_cases import Rev, make_project
from mks_db.cli import main
from mks_db.database.server import scratch_database
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import load_project
from mks_db.production.backup import backup, record_path
from mks_db.production.deploy import deploy
from mks_db.production.deploy_settings import DeploySettings

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

A1 = Rev("a1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))', "pass")
B2 = Rev("b2", "a1", 'op.add_column("t", sa.Column("x", sa.Integer))', 'op.drop_column("t", "x")')
B2_FAILS = Rev("b2", "a1", 'op.execute("SELECT 1/0")', "pass")


def at_a1(tmp_path, url, last=B2):
    project = load_project(make_project(tmp_path / "project", [A1, last]))
    with Migrator(project, url) as migrator:
        migrator.upgrade(project.revision("a1"))
    return project


def aged(record, days: float, *, old_record: bool = False):
    """Backdate a backup's record by ``days`` (as if it had been taken then; negative: a date
    ahead). ``old_record``: as written before records had the server's time (``created``,
    the runner's clock, only)."""
    path = record_path(Path(record.path))
    document = json.loads(path.read_text())
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    document["created"] = when.strftime("%Y%m%dT%H%M%SZ")
    if old_record:
        document.pop("server_time", None)
    elif "server_time" in document:
        document["server_time"] = when.isoformat()
    path.write_text(json.dumps(document))
    return record.path


def name(path: str) -> str:
    return Path(path).name


@pytest.fixture
def backups(tmp_path, scratch_url, pg_server):
    """The backup directory with earlier backups of the database (10, 5 and 1 days old), one
    of another database, a dump without a record and one whose record is not JSON."""
    directory = tmp_path / "b"
    earlier = {days: aged(backup(scratch_url, directory), days) for days in (10, 5, 1)}
    with scratch_database(pg_server, "other") as other:
        elsewhere = aged(backup(other, directory), 30)
    (directory / "orphan.dump").write_bytes(b"PGDMP")
    (directory / "garbled.dump").write_bytes(b"PGDMP")
    (directory / "garbled.dump.json").write_text("{not json")
    return directory, earlier, elsewhere


def dumps(directory) -> set[str]:
    return {p.name for p in directory.glob("*.dump")}


def test_keep_backups_keeps_the_newest_and_never_another_databases_or_an_unreadable_one(
    tmp_path, scratch_url, pg_server, backups
):
    directory, earlier, elsewhere = backups
    project = at_a1(tmp_path, scratch_url)
    outcome = deploy(
        project, scratch_url, pg_server, DeploySettings(backup_dir=str(directory), keep_backups=2)
    )
    assert outcome.ok, outcome.message
    names = dumps(directory)
    assert outcome.backup.path.rsplit("/", 1)[1] in names  # the one just taken
    assert earlier[1].rsplit("/", 1)[1] in names  # the newest earlier one: two kept in all
    assert earlier[5].rsplit("/", 1)[1] not in names and earlier[10].rsplit("/", 1)[1] not in names
    assert not record_path(Path(earlier[10])).exists()
    assert elsewhere.rsplit("/", 1)[1] in names  # another database's backup is not counted
    assert {"orphan.dump", "garbled.dump"} <= names
    [removed, *kept] = outcome.retention
    assert removed.startswith("retention (keep-backups = 2): removed 2 older backups: ")
    assert any("orphan.dump (its record orphan.dump.json is missing or unreadable" in k for k in kept)
    assert any("garbled.dump (its record garbled.dump.json is missing or unreadable" in k for k in kept)


def test_keep_days_removes_only_what_is_older(tmp_path, scratch_url, pg_server, backups):
    directory, earlier, _ = backups
    project = at_a1(tmp_path, scratch_url)
    outcome = deploy(project, scratch_url, pg_server, DeploySettings(backup_dir=str(directory), keep_days=7))
    assert outcome.ok, outcome.message
    names = dumps(directory)
    assert earlier[10].rsplit("/", 1)[1] not in names
    assert {earlier[5].rsplit("/", 1)[1], earlier[1].rsplit("/", 1)[1]} <= names


def test_both_rules_keep_what_either_keeps(tmp_path, scratch_url, pg_server, backups):
    directory, earlier, _ = backups
    project = at_a1(tmp_path, scratch_url)
    settings = DeploySettings(backup_dir=str(directory), keep_backups=1, keep_days=7)
    assert deploy(project, scratch_url, pg_server, settings).ok
    names = dumps(directory)  # 1 newest (the new one), and whatever is younger than 7 days
    assert earlier[10].rsplit("/", 1)[1] not in names
    assert {earlier[5].rsplit("/", 1)[1], earlier[1].rsplit("/", 1)[1]} <= names


def test_keep_backups_orders_by_the_database_servers_clock_not_a_runners_clock_years_ahead(
    tmp_path, scratch_url, pg_server, monkeypatch
):
    directory = tmp_path / "b"
    project = at_a1(tmp_path, scratch_url)
    ahead = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=700)
    with monkeypatch.context() as runner_clock_ahead:
        runner_clock_ahead.setattr("mks_db.production.backup.now", lambda: ahead)
        far_future = backup(scratch_url, directory)
    normal = backup(scratch_url, directory)
    outcome = deploy(
        project, scratch_url, pg_server, DeploySettings(backup_dir=str(directory), keep_backups=2)
    )
    assert outcome.ok, outcome.message
    assert dumps(directory) == {name(outcome.backup.path), name(normal.path)}
    assert outcome.retention == [
        f"retention (keep-backups = 2): removed 1 older backups: {name(far_future.path)}"
    ]


def test_an_old_record_dated_in_the_future_is_kept_named_and_not_counted(tmp_path, scratch_url, pg_server):
    directory = tmp_path / "b"
    project = at_a1(tmp_path, scratch_url)
    future = aged(backup(scratch_url, directory), -700, old_record=True)
    recent = aged(backup(scratch_url, directory), 1, old_record=True)
    old = aged(backup(scratch_url, directory), 5, old_record=True)
    outcome = deploy(
        project, scratch_url, pg_server, DeploySettings(backup_dir=str(directory), keep_backups=2)
    )
    assert outcome.ok, outcome.message
    assert dumps(directory) == {name(outcome.backup.path), name(recent), name(future)}
    created = json.loads(record_path(Path(future)).read_text())["created"]
    dated = datetime.datetime.strptime(created, "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ")
    [removed, kept] = outcome.retention
    assert removed == f"retention (keep-backups = 2): removed 1 older backups: {name(old)}"
    assert kept.startswith(
        f"retention: kept {future} (its record dates it {dated}, after the database server's time now, "
    )
    assert kept.endswith(
        "): the clock that dated it was wrong, so its age is unknown; remove it by hand if it is not needed"
    )


def test_a_failed_deploy_removes_no_backup(tmp_path, scratch_url, pg_server, backups):
    directory, _, _ = backups
    before = dumps(directory)
    project = at_a1(tmp_path, scratch_url, last=B2_FAILS)
    outcome = deploy(
        project, scratch_url, pg_server, DeploySettings(backup_dir=str(directory), keep_backups=1)
    )
    assert not outcome.ok and outcome.retention == []
    assert dumps(directory) == before | {outcome.backup.path.rsplit("/", 1)[1]}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("keep-backups = 0", "keep-backups must be a whole number of 1 or more, not 0"),
        ('keep-backups = "3"', "keep-backups must be a whole number of 1 or more, not '3'"),
        ("keep-days = -1", "keep-days must be a number of days above 0, not -1"),
    ],
)
def test_a_bad_retention_setting_is_one_line_and_nothing_is_done(
    tmp_path, scratch_url, server_url, capsys, monkeypatch, setting, message
):
    project = at_a1(tmp_path, scratch_url)
    (tmp_path / "pyproject.toml").write_text(f"[tool.mks-db.deploy]\n{setting}\n")
    monkeypatch.chdir(tmp_path)
    plain = scratch_url.render_as_string(hide_password=False)
    code = main(
        ["deploy", "-c", str(project.ini), "--database-url", plain, "--scratch-url", server_url]
        + ["--backup-dir", str(tmp_path / "b")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("mks-db:")] == [
        f"mks-db: error: [tool.mks-db.deploy] {message}"
    ]
    assert not (tmp_path / "b").exists()
    engine = create_engine(scratch_url, poolclass=NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "a1"
    engine.dispose()
