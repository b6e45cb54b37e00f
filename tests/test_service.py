"""The guide's procedure with a real application: the backend's health app served by a real
WSGI server, stopped and started by the deploy's stop-command and start-command (a service
script and a pid file, as systemd does), around a real deploy of this repository's migrations
to a real database; the health URL must come back healthy at the target revision."""

from __future__ import annotations

import json
import shlex

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from app_service import Service
from conftest import REPO, alembic_config
from mks_db.cli import main
from mks_db.engine.project import load_project
from mks_db.production.deploy import deploy
from mks_db.production.deploy_settings import DeploySettings

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
BEFORE = "e1f2a3b4c5d6"  # production's revision in the guide's example, four revisions behind


def production_at(url, revision=BEFORE):
    command.upgrade(alembic_config(url), revision)
    return url


def test_the_application_is_stopped_migrated_under_and_started_healthy_at_the_target(
    scratch_url, pg_server, tmp_path
):
    production_at(scratch_url)
    plain = scratch_url.render_as_string(hide_password=False)
    with Service(tmp_path / "service", plain) as service:
        service.run("start")
        status, body = service.health()
        assert status == 503 and json.loads(body)["database"]["revision"] == BEFORE
        first = service.pid()
        settings = DeploySettings(
            backup_dir=str(tmp_path / "b"),
            stop_command=service.command("stop"),
            start_command=service.command("start"),
            health_url=service.health_url,
            health_timeout_seconds=30,
        )
        outcome = deploy(load_project(REPO / "alembic.ini"), scratch_url, pg_server, settings)
        assert outcome.ok, outcome.message
        status, body = service.health()
        assert status == 200, body
        assert json.loads(body)["database"]["revision"] == HEAD == json.loads(body)["head"]
        second = service.pid()
        assert service.events() == [f"start {first}", f"stop {first}", f"start {second}"]
        assert second != first


def test_an_application_that_does_not_come_back_fails_the_deploy_with_the_state_and_the_restore_command(
    scratch_url, server_url, tmp_path, capsys, monkeypatch
):
    production_at(scratch_url)
    plain = scratch_url.render_as_string(hide_password=False)
    # The application comes back pointed at a database that does not exist: 503, unreachable.
    broken = scratch_url.set(database="mks_no_such_database").render_as_string(hide_password=False)
    with Service(tmp_path / "service", broken) as service:
        (tmp_path / "pyproject.toml").write_text(
            "[tool.mks-db.deploy]\n"
            f"stop-command = {json.dumps(service.command('stop'))}\n"
            f"start-command = {json.dumps(service.command('start'))}\n"
            f'health-url = "{service.health_url}"\n'
            "health-timeout-seconds = 3\n"
        )
        monkeypatch.chdir(tmp_path)
        code = main(
            ["deploy", "-c", str(REPO / "alembic.ini"), "--database-url", plain]
            + ["--scratch-url", server_url, "--backup-dir", str(tmp_path / "b")]
        )
        out = capsys.readouterr().out
        assert code == 1, out
        assert service.health()[0] == 503
    [dump] = (tmp_path / "b").glob("*.dump")
    masked = scratch_url.render_as_string(hide_password=True)
    assert (
        f"the health check {service.health_url} did not answer 200 with the target revision within 3s "
        "(last: HTTP 503); the migration stays applied"
    ) in out
    assert f"production ({masked}): applied 4 of 4 revisions, now at revision {HEAD}; backup {dump}" in out
    assert (
        "next: every revision is applied and stays so; fix what failed after them (above), or go back "
        f"to the backup: mks-db restore {dump} --database-url {shlex.quote(masked)}"
    ) in out
