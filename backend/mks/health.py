"""The backend's health check: ``GET /health`` and ``GET /api/v1/health``.

200 when the database answers and its schema revision is the migration head; 503 otherwise
(unreachable, or at another revision: the deploy is not finished). The body says which, and
never contains a password. It is what the production deploy polls after migrating.

Run it with ``flask --app mks.health run``.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, jsonify
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from mks.settings import SettingsError, load_settings, parse_database_url

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
CONNECT_TIMEOUT_SECONDS = 3


def migration_heads(alembic_ini: Path = ALEMBIC_INI) -> tuple[str, ...]:
    """The head revision(s) of the migration chain shipped with this code."""
    return tuple(sorted(ScriptDirectory.from_config(Config(str(alembic_ini))).get_heads()))


def database_status(url: URL | None) -> dict:
    """``{"reachable": bool, "revision": str | None, "error": str | None}`` for ``url``."""
    if url is None:
        return {"reachable": False, "revision": None, "error": "DATABASE_URL is not set"}
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError as exc:
        # The driver's message can repeat connection parameters: report only its kind.
        return {"reachable": False, "revision": None, "error": type(exc).__name__}
    finally:
        engine.dispose()
    return {"reachable": True, "revision": ",".join(sorted(heads)) or None, "error": None}


def _configured_url(database_url: URL | str | None) -> URL | None:
    if database_url is None:
        return load_settings().database_url
    if isinstance(database_url, URL):
        return database_url
    return parse_database_url(database_url)


def create_app(database_url: URL | str | None = None, alembic_ini: Path = ALEMBIC_INI) -> Flask:
    """The health app for ``database_url`` (default: the backend's settings)."""
    app = Flask(__name__)
    head = ",".join(migration_heads(alembic_ini))

    def health():
        try:
            status = database_status(_configured_url(database_url))
        except SettingsError as exc:  # its message names the variable, never the URL
            status = {"reachable": False, "revision": None, "error": str(exc)}
        at_head = status["reachable"] and status["revision"] == head
        if not status["reachable"]:
            state = "database unreachable"
        elif at_head:
            state = "ok"
        else:
            state = "database not at migration head"
        body = {"status": state, "head": head, "database": status}
        return jsonify(body), 200 if at_head else 503

    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/api/v1/health", "api_health", health)
    return app
