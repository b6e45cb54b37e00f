"""The backend's settings (``backend/mks/settings.py``): backend/.env is read, the real
environment wins, bad values give one clear line."""

from __future__ import annotations

import os
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
