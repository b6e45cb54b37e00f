"""Settings: backend/.env is read, the real environment wins, bad values give one clear line;
the pipeline's [tool.mks-db] is read once, flags over it, one line per bad value."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from mks.settings import (
    SettingsError,
    configured_alembic_ini,
    load_settings,
    migration_timeouts,
    parse_duration,
)
from mks_db import config
from mks_db.database.server import Timeouts
from mks_db.errors import ConfigurationError
from mks_db.production import deploy_settings


def write_env(tmp_path, text):
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_env_file_is_read(tmp_path):
    env = write_env(tmp_path, "DATABASE_URL=postgresql://app:pw@db:5432/mks\nMKS_USE_POSTGRESQL=true\n")
    settings = load_settings(environ={}, env_file=env)
    assert settings.database_url.host == "db"
    assert settings.database_url.database == "mks"
    assert settings.use_postgresql is True


def test_environment_overrides_env_file(tmp_path):
    env = write_env(tmp_path, "DATABASE_URL=postgresql://app:pw@file-host/mks\nMKS_USE_POSTGRESQL=false\n")
    settings = load_settings(
        environ={"DATABASE_URL": "postgresql://app:pw@env-host/mks", "MKS_USE_POSTGRESQL": "1"},
        env_file=env,
    )
    assert settings.database_url.host == "env-host"
    assert settings.use_postgresql is True


def test_mks_database_url_is_accepted(tmp_path):
    settings = load_settings(environ={"MKS_DATABASE_URL": "postgres://a:b@h/d"}, env_file=None)
    assert settings.database_url.drivername == "postgresql+psycopg2"
    assert settings.database_url.database == "d"


def test_nothing_set_means_no_database(tmp_path):
    settings = load_settings(environ={}, env_file=tmp_path / "missing.env")
    assert settings.database_url is None
    assert settings.use_postgresql is False


def test_masked_url_hides_the_password():
    settings = load_settings(environ={"DATABASE_URL": "postgresql://app:s3cret@h/d"}, env_file=None)
    assert "s3cret" not in settings.masked_database_url
    assert "***" in settings.masked_database_url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not a url s3cret", "DATABASE_URL is not a database URL"),
        ("mysql://u:s3cret@h/d", "names a 'mysql' database"),
        ("postgresql://u:s3cret@h", "names no database"),
    ],
)
def test_malformed_url_is_one_clear_line_without_the_password(value, expected):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"DATABASE_URL": value}, env_file=None)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_malformed_url_for_alembic_is_one_line_not_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "current"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": "not a url s3cret", "HOME": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL is not a database URL" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_bad_boolean_is_named():
    with pytest.raises(SettingsError, match="MKS_USE_POSTGRESQL='maybe' is not a boolean"):
        load_settings(environ={"MKS_USE_POSTGRESQL": "maybe"}, env_file=None)


def test_mks_alembic_config_is_read_like_the_other_settings(tmp_path):
    env = write_env(tmp_path, "MKS_ALEMBIC_CONFIG=/srv/file/alembic.ini\n")
    assert configured_alembic_ini(environ={}, env_file=env) == Path("/srv/file/alembic.ini")
    environ = {"MKS_ALEMBIC_CONFIG": "/srv/env/alembic.ini"}
    assert configured_alembic_ini(environ=environ, env_file=env) == Path("/srv/env/alembic.ini")
    assert configured_alembic_ini(environ={"MKS_ALEMBIC_CONFIG": " "}, env_file=None) is None


def test_mks_alembic_config_is_read_despite_a_malformed_database_url():
    environ = {"DATABASE_URL": "not a url", "MKS_ALEMBIC_CONFIG": "/srv/alembic.ini"}
    assert configured_alembic_ini(environ=environ, env_file=None) == Path("/srv/alembic.ini")


def test_migration_timeouts_default_when_unset_or_empty():
    expected = {"lock_timeout": "5s", "statement_timeout": "5min"}
    assert migration_timeouts(environ={}) == expected
    assert migration_timeouts(environ={"MKS_LOCK_TIMEOUT": " ", "MKS_STATEMENT_TIMEOUT": ""}) == expected


def test_migration_timeouts_come_from_their_variables():
    timeouts = migration_timeouts(environ={"MKS_LOCK_TIMEOUT": "750ms", "MKS_STATEMENT_TIMEOUT": " 1h "})
    assert timeouts == {"lock_timeout": "750ms", "statement_timeout": "1h"}


@pytest.mark.parametrize("value", ["0", "1500", "500ms", "5s", "5min", "2h", "1d", "24d"])
def test_postgresql_durations_are_accepted_as_written(value):
    assert parse_duration(value, "MKS_LOCK_TIMEOUT") == value


@pytest.mark.parametrize(
    "value",
    ["5s'; DROP TABLE auth.users; --", "5 s", "1.5s", "-1", "5S", "5sec", "10us", "s", "", "5s\n"],
)
def test_a_malformed_duration_is_one_line_naming_the_variable_and_the_form(value):
    with pytest.raises(SettingsError) as caught:
        parse_duration(value, "MKS_LOCK_TIMEOUT")
    message = str(caught.value)
    assert message.startswith("MKS_LOCK_TIMEOUT=")
    assert "expected an integer with an optional unit ms, s, min, h or d" in message
    assert "\n" not in message


def test_a_duration_over_postgresqls_limit_is_named():
    assert parse_duration("2147483647", "MKS_STATEMENT_TIMEOUT") == "2147483647"
    with pytest.raises(SettingsError, match=r"MKS_STATEMENT_TIMEOUT='25d' is too long; .* 2147483647ms"):
        migration_timeouts(environ={"MKS_STATEMENT_TIMEOUT": "25d"})


# --- the pipeline's settings: [tool.mks-db] in pyproject.toml, then flags (mks_db.config) ---


def pyproject(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


def test_without_pyproject_the_settings_are_the_defaults(tmp_path):
    settings = config.load_settings({}, tmp_path)
    assert settings == config.Settings()
    assert settings.format == "human" and settings.alembic_config is None and settings.offline is False
    assert settings.timeouts == Timeouts(60_000, 10_000)
    assert settings.locks == config.LockLimits(100_000, 2.0, 1_000_000)


def test_pyproject_values_are_read_with_their_meanings(tmp_path):
    directory = pyproject(
        tmp_path,
        '[tool.mks-db]\nalembic-config = "db/alembic.ini"\nformat = "json"\nbase-ref = "origin/main"\n'
        'offline = true\nstatement-timeout = "90s"\nlock-timeout = 500\n'
        '[tool.mks-db.locks]\nrows = 1000\nbudget-seconds = 0.5\nproduction-rows = {"public.account" = 5}\n'
        '[tool.mks-db.deploy]\nbackup-dir = "vault"\n',
    )
    settings = config.load_settings({}, directory)
    assert settings.alembic_config == str(tmp_path / "db" / "alembic.ini")  # beside pyproject.toml
    assert (settings.format, settings.base_ref, settings.offline) == ("json", "origin/main", True)
    assert settings.timeouts == Timeouts(90_000, 500_000)  # a bare number is seconds
    assert settings.locks == config.LockLimits(1000, 0.5, 1_000_000, {"public.account": 5})
    assert dict(settings.deploy) == {"backup-dir": "vault"}


def test_flags_override_pyproject(tmp_path):
    directory = pyproject(
        tmp_path,
        '[tool.mks-db]\nalembic-config = "db/alembic.ini"\nformat = "json"\nbase-ref = "origin/main"\n'
        'lock-timeout = "1s"\n[tool.mks-db.locks]\nrows = 1000\n[tool.mks-db.deploy]\nbackup-dir = "vault"\n',
    )
    flags = {
        "config": "other.ini",
        "format": "github",
        "base": "origin/release",
        "lock_timeout": "2min",
        "statement_timeout": None,  # a flag not given leaves the file's value
        "rows": 10,
        "backup_dir": "elsewhere",
        "lock_wait": 5.0,
    }
    settings = config.load_settings(flags, directory)
    assert (settings.alembic_config, settings.format, settings.base_ref) == (
        "other.ini",
        "github",
        "origin/release",
    )
    assert settings.timeouts == Timeouts(60_000, 120_000)
    assert settings.locks.rows == 10
    assert dict(settings.deploy) == {"backup-dir": "elsewhere", "lock-wait-seconds": 5.0}


def test_every_bad_value_is_one_line_and_the_report_keeps_the_files_format(tmp_path):
    directory = pyproject(
        tmp_path,
        '[tool.mks-db]\nformat = "json"\noffline = "yes"\nstatement-timeout = "soon"\n'
        '[tool.mks-db.locks]\nrows = "many"\nproduction-rows = 5\nrowz = 1\n',
    )
    with pytest.raises(config.SettingsError) as caught:
        config.load_settings({"lock_timeout": "0"}, directory)
    assert str(caught.value).splitlines() == [
        "[tool.mks-db] offline must be true or false, not 'yes'",
        "[tool.mks-db] statement-timeout must be a positive duration such as 500ms, 30s, 5min or 1h, "
        "not 'soon'",
        "--lock-timeout must be a positive duration such as 500ms, 30s, 5min or 1h, not '0'",
        "[tool.mks-db.locks] rows must be a whole number of rows, not 'many'",
        '[tool.mks-db.locks] production-rows must be a table of "schema.table" = rows, not 5',
        "unknown [tool.mks-db.locks] setting rowz",
    ]
    assert caught.value.report_format == "json"


def test_a_bad_format_is_named_and_the_report_is_human(tmp_path):
    directory = pyproject(tmp_path, '[tool.mks-db]\nformat = "xml"\n')
    with pytest.raises(
        config.SettingsError, match=r"^\[tool.mks-db\] format must be one of human, json"
    ) as caught:
        config.load_settings({}, directory)
    assert caught.value.report_format == "human"


def test_an_unknown_key_names_the_known_ones_and_the_table_is_not_trusted(tmp_path):
    directory = pyproject(tmp_path, '[tool.mks-db]\nalembic_config = "x"\nformat = "json"\n')
    with pytest.raises(config.SettingsError) as caught:
        config.load_settings({}, directory)
    assert str(caught.value) == (
        f"{directory / 'pyproject.toml'}: unknown [tool.mks-db] setting alembic_config; known: "
        "alembic-config, format, base-ref, linear-history, forward-only, release-tags, offline, "
        "statement-timeout, lock-timeout, url-variables, flask-app, base-metadata, import-models, "
        "extensions, postgres, deploy, locks"
    )
    assert caught.value.report_format == "human"  # the misspelt key might have been the format


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.mks-db]\nformat = {a = 1}\n", "[tool.mks-db] format must be a value, not a table"),
        ('[tool.mks-db]\ndeploy = "x"\n', "[tool.mks-db] deploy must be a table ([tool.mks-db.deploy])"),
    ],
)
def test_a_table_where_a_value_belongs_and_the_reverse_are_named(tmp_path, text, message):
    with pytest.raises(config.SettingsError, match=re.escape(message)):
        config.load_settings({}, pyproject(tmp_path, text))


def test_release_tags_take_a_tag_pattern(tmp_path):
    settings = config.load_settings({}, pyproject(tmp_path, '[tool.mks-db]\nrelease-tags = "v*"\n'))
    assert settings.release_tags == "v*"
    with pytest.raises(config.SettingsError, match=re.escape("release-tags must be a tag pattern such as")):
        config.load_settings({}, pyproject(tmp_path, '[tool.mks-db]\nrelease-tags = "--all"\n'))


def test_a_pyproject_that_is_not_toml_is_one_line(tmp_path):
    directory = pyproject(tmp_path, "[tool.mks-db\n")
    with pytest.raises(config.SettingsError) as caught:
        config.load_settings({"format": "json"}, directory)
    assert "pyproject.toml is not valid TOML" in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.report_format == "json"


def test_the_settings_cannot_be_changed_once_loaded(tmp_path):
    settings = config.load_settings({}, pyproject(tmp_path, "[tool.mks-db.deploy]\nbackup-dir = 'v'\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.format = "json"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.deploy["backup-dir"] = "w"  # type: ignore[index]


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


def test_url_variables_are_a_list_of_variable_names(tmp_path):
    names = ("MYAPP_DB_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    directory = pyproject(tmp_path, f"[tool.mks-db]\nurl-variables = {json.dumps(list(names))}\n")
    assert config.load_settings({}, directory).url_variables == names
    (tmp_path / "bad").mkdir()
    bad = pyproject(tmp_path / "bad", '[tool.mks-db]\nurl-variables = "MYAPP_DB_URL"\n')
    with pytest.raises(config.SettingsError, match=r"url-variables must be a list of environment variable"):
        config.load_settings({}, bad)
