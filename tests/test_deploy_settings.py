"""The deploy settings (``mks_db.production.deploy_settings``): every one checked for every
command, one line each; the right types taken as written."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from pathlib import Path

import pytest

from conftest import REPO, pyproject
from mks_db.errors import ConfigurationError
from mks_db.production import deploy_settings


def mks_db_in(directory: Path, *args: str) -> tuple[int, str]:
    """``mks-db ARGS`` run in ``directory`` (in this process): exit status and error output."""
    from mks_db.cli import main

    cwd = os.getcwd()
    os.chdir(directory)
    try:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(list(args))
        return code, err.getvalue()
    finally:
        os.chdir(cwd)


def test_every_deploy_setting_is_checked_for_every_command_one_line_each(tmp_path):
    directory = pyproject(
        tmp_path,
        '[tool.mks-db.deploy]\nlock-retries = "3"\non-failure = "rolback"\nverify = "full"\n'
        'keep-days = 0\nlock-timeout = "soon"\nhealth-url = "localhost:8000"\nstop-command = "true"\n'
        "backup-dirr = 1\n",
    )
    code, err = mks_db_in(directory, "heads", "-c", str(REPO / "alembic.ini"))
    assert code == 2
    known = ", ".join(
        sorted(field.name.replace("_", "-") for field in dataclasses.fields(deploy_settings.DeploySettings))
    )
    assert err.splitlines() == [
        "mks-db: error: [tool.mks-db.deploy] lock-retries must be a whole number of 0 or more, not '3'",
        "mks-db: error: [tool.mks-db.deploy] on-failure must be one of stop, rollback, not 'rolback'",
        "mks-db: error: [tool.mks-db.deploy] verify must be one of restore, list, auto, not 'full'",
        "mks-db: error: [tool.mks-db.deploy] keep-days must be a number of days above 0, not 0",
        "mks-db: error: [tool.mks-db.deploy] lock-timeout must be a duration such as 500ms, 5s or 5min, "
        "not 'soon'",
        "mks-db: error: [tool.mks-db.deploy] health-url must be an http:// or https:// URL, "
        "not 'localhost:8000'",
        f"mks-db: error: unknown [tool.mks-db.deploy] setting backup-dirr; known: {known}",
        "mks-db: error: [tool.mks-db.deploy] stop-command and start-command go together: a deploy that "
        "stops the application must be able to start it again",
    ]


def test_deploy_settings_of_the_right_types_are_taken_as_written(tmp_path):
    settings = deploy_settings.from_table(
        {"lock-retries": 0, "keep-days": 1.5, "client-check-interval": "", "lock-wait-seconds": 0}
    )
    assert (settings.lock_retries, settings.keep_days, settings.client_check_interval) == (0, 1.5, "")
    with pytest.raises(
        ConfigurationError, match="lock-retries must be a whole number of 0 or more, not True"
    ):
        deploy_settings.from_table({"lock-retries": True})
