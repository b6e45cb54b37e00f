"""The backend's health check: ``GET /health`` and ``GET /api/v1/health``.

200 when the database answers and its schema revision is the migration head; 503 otherwise
(unreachable, at another revision: the deploy is not finished, or no migration chain to compare
with). The body says which, and never contains a password. It is what the production deploy
polls after migrating.

The head is read from the migration chain the code is deployed with: the alembic.ini that
``MKS_ALEMBIC_CONFIG`` names (needed when the package is installed, since an installed package
carries no migrations), else the source checkout's. The app keeps one engine, made on its first
request: the process serves one app, so that is one engine per process.

Run it with ``flask --app mks.health run``.
"""

from __future__ import annotations

import configparser
import threading
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask, jsonify
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from mks.settings import (
    ALEMBIC_CONFIG_VARIABLE,
    SettingsError,
    configured_alembic_ini,
    load_settings,
    parse_database_url,
)

SOURCE_ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
CONNECT_TIMEOUT_SECONDS = 3
# How the health check's sessions show in pg_stat_activity.
APPLICATION_NAME = "mks-health"


class ChainNotFound(Exception):
    """No migration chain at the configured alembic.ini; the message says where and the fix."""


def alembic_ini_path() -> Path:
    """``MKS_ALEMBIC_CONFIG`` (environment over backend/.env), else the source checkout's."""
    return configured_alembic_ini() or SOURCE_ALEMBIC_INI


def migration_heads(alembic_ini: Path | None = None) -> tuple[str, ...]:
    """The head revision(s) of the migration chain of ``alembic_ini`` (default:
    ``alembic_ini_path()``), or ChainNotFound: a health check without a head to compare with
    can only say why."""
    path = alembic_ini or alembic_ini_path()
    fix = f"set {ALEMBIC_CONFIG_VARIABLE} to the alembic.ini of the migrations deployed with this code"
    if not path.is_file():
        raise ChainNotFound(f"no alembic.ini at {path}; {fix}")
    try:
        heads = ScriptDirectory.from_config(Config(str(path))).get_heads()
    except (CommandError, configparser.Error, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ChainNotFound(f"cannot read the migration chain of {path} ({reason}); {fix}") from None
    if not heads:
        raise ChainNotFound(f"the migration chain of {path} has no revisions; {fix}")
    return tuple(sorted(heads))


def _configured_url(database_url: URL | str | None) -> URL | None:
    if database_url is None:
        return load_settings().database_url
    if isinstance(database_url, URL):
        return database_url
    return parse_database_url(database_url)


class Database:
    """The health check's engine: one per app, made on the first request, reused by the rest.

    Not made with the app: a server that imports the app and then forks its workers gives each
    worker its own pool (a pool must not cross a fork), and a setting that is wrong at start is
    read again at the next request instead of failing the start. pool_pre_ping replaces a pooled
    connection the server has closed (a restart, an idle timeout) instead of answering 503.
    """

    def __init__(self, database_url: URL | str | None = None) -> None:
        self._database_url = database_url
        self._engine: Engine | None = None
        self._lock = threading.Lock()  # two first requests at once still make one engine

    def engine(self) -> Engine | None:
        """The engine; None while no database URL is configured. Raises SettingsError."""
        with self._lock:
            if self._engine is None:
                url = _configured_url(self._database_url)
                if url is not None:
                    self._engine = create_engine(
                        url,
                        pool_pre_ping=True,
                        # a busy pool answers 503 as fast as an unreachable server
                        pool_timeout=CONNECT_TIMEOUT_SECONDS,
                        connect_args={
                            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                            "application_name": APPLICATION_NAME,
                        },
                    )
            return self._engine

    def status(self) -> dict:
        """``{"reachable": bool, "revision": str | None, "error": str | None}``."""
        try:
            engine = self.engine()
        except SettingsError as exc:  # its message names the variable, never the URL
            return _unreachable(str(exc))
        if engine is None:
            return _unreachable("DATABASE_URL is not set")
        try:
            with engine.connect() as connection:
                heads = MigrationContext.configure(connection).get_current_heads()
        except SQLAlchemyError as exc:
            # The driver's message can repeat connection parameters: report only its kind.
            return _unreachable(type(exc).__name__)
        return {"reachable": True, "revision": ",".join(sorted(heads)) or None, "error": None}

    def dispose(self) -> None:
        """Close the pooled connections (the engine is made again on the next request)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _unreachable(error: str) -> dict:
    return {"reachable": False, "revision": None, "error": error}


def _chain_head(alembic_ini: Path | None) -> tuple[str | None, str | None]:
    """``(head, None)``, or ``(None, why)`` when there is no chain to read the head from."""
    try:
        return ",".join(migration_heads(alembic_ini)), None
    except ChainNotFound as exc:
        return None, str(exc)


def _state(head: str | None, database: dict) -> str:
    if head is None:
        return "migration chain not found"
    if not database["reachable"]:
        return "database unreachable"
    return "ok" if database["revision"] == head else "database not at migration head"


def create_app(database_url: URL | str | None = None, alembic_ini: Path | None = None) -> Flask:
    """The health app for ``database_url`` (default: the backend's settings) and the migration
    chain of ``alembic_ini`` (default: ``alembic_ini_path()``), read once: the deploy restarts
    the app with new code. Its Database is ``app.extensions["mks.health"]``."""
    app = Flask(__name__)
    database = app.extensions["mks.health"] = Database(database_url)
    head, chain_error = _chain_head(alembic_ini)

    def health():
        status = database.status()
        state = _state(head, status)
        body = {"status": state, "head": head, "database": status}
        if chain_error:
            body["error"] = chain_error
        return jsonify(body), 200 if state == "ok" else 503

    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/api/v1/health", "api_health", health)
    return app
