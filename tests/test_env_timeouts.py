"""migrations/env.py's session timeouts: MKS_LOCK_TIMEOUT and MKS_STATEMENT_TIMEOUT are validated,
then set with their values bound (online) or rendered as literals (offline), never pasted."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from conftest import REPO, alembic_config


def test_the_timeouts_reach_the_migrating_session(scratch_url, monkeypatch):
    monkeypatch.setenv("MKS_LOCK_TIMEOUT", "1234ms")
    monkeypatch.setenv("MKS_STATEMENT_TIMEOUT", "2min")
    config = alembic_config(scratch_url)
    with create_engine(scratch_url, poolclass=NullPool).connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "c1104acd2fa6")
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "1234ms"
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "2min"


def test_offline_sql_sets_the_timeouts_before_the_first_transaction(monkeypatch):
    monkeypatch.setenv("MKS_LOCK_TIMEOUT", "250ms")
    monkeypatch.delenv("MKS_STATEMENT_TIMEOUT", raising=False)
    output = io.StringIO()
    command.upgrade(alembic_config(output=output), "c1104acd2fa6", sql=True)
    sql = output.getvalue()
    assert sql.index("SET lock_timeout = '250ms';") < sql.index("BEGIN;")
    assert sql.index("SET statement_timeout = '5min';") < sql.index("BEGIN;")  # the default


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MKS_LOCK_TIMEOUT", "5s'; DROP TABLE auth.users; --"),
        ("MKS_STATEMENT_TIMEOUT", "5 minutes"),
    ],
)
def test_a_malformed_timeout_stops_alembic_with_one_line_naming_it(tmp_path, variable, value):
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head", "--sql"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), variable: value},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # not one statement rendered
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {variable}=")
    assert "expected an integer with an optional unit ms, s, min, h or d" in line
