"""/health: 200 at the migration head, 503 behind it, without a database or without a migration
chain, never a password; one engine per app, made on the first request and reused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.engine import URL

from conftest import REPO, alembic_config, sql
from mks.health import APPLICATION_NAME, create_app, migration_heads

CHAIN = ScriptDirectory.from_config(alembic_config())
HEAD = CHAIN.get_current_head()
BEFORE_HEAD = CHAIN.get_revision(HEAD).down_revision


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Health apps the test makes; their pooled connections are closed afterwards."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["mks.health"].dispose()


@pytest.fixture
def make_app(apps):
    def make(*args, **kwargs) -> Flask:
        apps.append(create_app(*args, **kwargs))
        return apps[-1]

    return make


def get(app: Flask, path: str = "/health"):
    return app.test_client().get(path)


def health_sessions(url: URL) -> list[int]:
    """The backend pids of the health check's sessions on ``url``'s database."""
    return [
        pid
        for (pid,) in sql(
            url,
            "SELECT pid FROM pg_stat_activity WHERE datname = :db AND application_name = :app",
            db=url.database,
            app=APPLICATION_NAME,
        )
    ]


def chain_without_its_head(root: Path) -> Path:
    """A copy of alembic.ini and migrations/ under ``root`` without the head revision: a
    chain elsewhere than the source checkout, whose head is BEFORE_HEAD."""
    shutil.copy2(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "migrations" / "versions" / Path(CHAIN.get_revision(HEAD).path).name).unlink()
    return root / "alembic.ini"


def test_health_is_200_at_head_on_both_paths(scratch_url, make_app):
    command.upgrade(alembic_config(scratch_url), "head")
    app = make_app(scratch_url)
    for path in ("/health", "/api/v1/health"):
        response = get(app, path)
        assert response.status_code == 200
        body = response.get_json()
        assert body["status"] == "ok"
        assert body["database"]["revision"] == body["head"] == ",".join(migration_heads()) == HEAD


def test_health_is_503_one_revision_behind(scratch_url, make_app):
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.downgrade(config, "-1")
    response = get(make_app(scratch_url))
    assert response.status_code == 503
    assert response.get_json()["status"] == "database not at migration head"


def test_health_is_503_when_the_database_is_unreachable_and_hides_the_password(make_app):
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/mks"
    response = get(make_app(url))
    assert response.status_code == 503
    assert response.get_json()["status"] == "database unreachable"
    assert "s3cret-pw" not in response.get_data(as_text=True)


def test_one_engine_made_on_the_first_request_serves_every_request(scratch_url, make_app):
    command.upgrade(alembic_config(scratch_url), "head")
    app = make_app(scratch_url)
    assert health_sessions(scratch_url) == []  # the app connects on its first request, not before
    assert get(app).status_code == 200
    first = health_sessions(scratch_url)
    assert len(first) == 1
    for path in ("/health", "/api/v1/health", "/health"):
        assert get(app, path).status_code == 200
    assert health_sessions(scratch_url) == first  # the same pooled session answered them all


def test_a_session_the_server_ended_is_replaced_not_reported(scratch_url, make_app):
    command.upgrade(alembic_config(scratch_url), "head")
    app = make_app(scratch_url)
    assert get(app).status_code == 200
    [ended] = health_sessions(scratch_url)
    assert sql(scratch_url, "SELECT pg_terminate_backend(:pid)", pid=ended) == [(True,)]
    response = get(app)  # pool_pre_ping finds the pooled session dead and opens another
    assert response.status_code == 200, response.get_json()
    assert ended not in health_sessions(scratch_url)


def test_no_migration_chain_is_a_503_naming_the_path_and_the_variable(scratch_url, make_app, tmp_path):
    command.upgrade(alembic_config(scratch_url), "head")
    missing = tmp_path / "alembic.ini"
    response = get(make_app(scratch_url, alembic_ini=missing))
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "migration chain not found"
    assert body["head"] is None
    assert f"no alembic.ini at {missing}; set MKS_ALEMBIC_CONFIG" in body["error"]
    assert body["database"] == {"reachable": True, "revision": HEAD, "error": None}


def test_an_unreadable_migration_chain_is_a_503_naming_the_path(scratch_url, make_app, tmp_path):
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s/nowhere\n")
    body = get(make_app(scratch_url, alembic_ini=ini)).get_json()
    assert body["status"] == "migration chain not found"
    assert body["error"].startswith(f"cannot read the migration chain of {ini} (")


def test_mks_alembic_config_names_the_chain_to_compare_with(scratch_url, make_app, tmp_path, monkeypatch):
    ini = chain_without_its_head(tmp_path)
    command.upgrade(alembic_config(scratch_url), BEFORE_HEAD)
    assert get(make_app(scratch_url)).status_code == 503  # the source checkout's head is HEAD
    monkeypatch.setenv("MKS_ALEMBIC_CONFIG", str(ini))
    response = get(make_app(scratch_url))
    assert response.status_code == 200
    assert response.get_json()["head"] == BEFORE_HEAD


# The health app as an installed package runs it: mks/ alone in a directory standing for
# site-packages, so the source checkout's alembic.ini is not next to it.
INSTALLED = """
import json, os, sys
import mks.health
from mks.health import create_app
assert mks.health.__file__.startswith(sys.argv[1]), mks.health.__file__
results = []
for ini in (None, sys.argv[2]):
    if ini:
        os.environ["MKS_ALEMBIC_CONFIG"] = ini
    response = create_app().test_client().get("/health")
    results.append([response.status_code, response.get_json()])
print(json.dumps(results))
"""


def test_an_installed_package_finds_the_chain_through_mks_alembic_config(scratch_url, tmp_path):
    command.upgrade(alembic_config(scratch_url), "head")
    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "backend" / "mks", site / "mks", ignore=shutil.ignore_patterns("__pycache__"))
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MKS_")},
        "PYTHONPATH": str(site),
        "DATABASE_URL": scratch_url.render_as_string(hide_password=False),
    }
    result = subprocess.run(
        [sys.executable, "-c", INSTALLED, str(site), str(REPO / "alembic.ini")],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (unset_status, unset), (set_status, configured) = json.loads(result.stdout)
    assert unset_status == 503 and unset["status"] == "migration chain not found"
    assert "set MKS_ALEMBIC_CONFIG" in unset["error"]
    assert set_status == 200 and configured["head"] == HEAD
