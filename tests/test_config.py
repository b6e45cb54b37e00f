"""The pipeline's settings (``mks_db.config``): [tool.mks-db] is read once, flags over it, one
line per bad value."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from conftest import pyproject
from mks_db import config
from mks_db.database.server import Timeouts


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


def test_url_variables_are_a_list_of_variable_names(tmp_path):
    names = ("MYAPP_DB_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    directory = pyproject(tmp_path, f"[tool.mks-db]\nurl-variables = {json.dumps(list(names))}\n")
    assert config.load_settings({}, directory).url_variables == names
    (tmp_path / "bad").mkdir()
    bad = pyproject(tmp_path / "bad", '[tool.mks-db]\nurl-variables = "MYAPP_DB_URL"\n')
    with pytest.raises(config.SettingsError, match=r"url-variables must be a list of environment variable"):
        config.load_settings({}, bad)
