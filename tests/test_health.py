"""/health: 200 at the migration head, 503 behind it or without a database, never a password."""

from __future__ import annotations

from alembic import command

from conftest import alembic_config
from mks.health import create_app, migration_heads


def get(url, path="/health"):
    client = create_app(url).test_client()
    return client.get(path)


def test_health_is_200_at_head_on_both_paths(scratch_url):
    command.upgrade(alembic_config(scratch_url), "head")
    for path in ("/health", "/api/v1/health"):
        response = get(scratch_url, path)
        assert response.status_code == 200
        body = response.get_json()
        assert body["status"] == "ok"
        assert body["database"]["revision"] == body["head"] == ",".join(migration_heads())


def test_health_is_503_one_revision_behind(scratch_url):
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.downgrade(config, "-1")
    response = get(scratch_url)
    assert response.status_code == 503
    assert response.get_json()["status"] == "database not at migration head"


def test_health_is_503_when_the_database_is_unreachable_and_hides_the_password():
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/mks"
    response = get(url)
    assert response.status_code == 503
    assert response.get_json()["status"] == "database unreachable"
    assert "s3cret-pw" not in response.get_data(as_text=True)
