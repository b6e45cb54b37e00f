"""Flask-Migrate projects as they are: the application, found as ``flask`` finds it, gives the
migrations directory and the context its env.py runs in.

``flask db init`` writes ``migrations/`` with an alembic.ini that has no ``script_location``
(Flask-Migrate passes the directory in code) and an env.py that takes its engine and models
from the application (``current_app.extensions['migrate'].db``). So mks-db loads the
application through Flask's own discovery (``flask.cli.ScriptInfo``: ``--app``, else
``FLASK_APP``, else ``wsgi.py`` or ``app.py``, an application factory included), keeps its
context pushed for the command, reads the directory from the ``Migrate`` extension, and while
env.py runs, lends it the scratch database in place of the application's engine
(``lent_engine``): the database the application is configured with is never connected to.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mks_db.errors import ConfigurationError


def load(app_import_path: str | None) -> Any | None:
    """The Flask application of a Flask-Migrate project in the working directory, its context
    pushed for the rest of the process; None when Flask-Migrate is not installed or ``flask``
    would find no application (and none was named). ConfigurationError when the application
    named cannot be loaded, or has no Flask-Migrate."""
    if importlib.util.find_spec("flask_migrate") is None:
        if app_import_path:
            raise ConfigurationError(f"--app {app_import_path}: Flask-Migrate is not installed here")
        return None
    from flask.cli import NoAppException, ScriptInfo

    app_import_path = app_import_path or os.environ.get("FLASK_APP")  # as flask reads it
    try:
        app = ScriptInfo(app_import_path=app_import_path, set_debug_flag=False).load_app()
    except NoAppException as exc:
        if app_import_path:
            raise ConfigurationError(
                f"the Flask application {app_import_path!r} cannot be loaded: {exc}"
            ) from None
        return None
    except Exception as exc:  # the application's own code, at import or in its factory
        raise ConfigurationError(
            f"the Flask application ({app_import_path or 'app.py or wsgi.py'}) raised while loading: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if "migrate" not in app.extensions:
        raise ConfigurationError(
            f"the Flask application {app.import_name!r} has no Flask-Migrate (Migrate(app, db)): "
            "nothing to check; pass -c alembic.ini for a plain Alembic project"
        )
    app.app_context().push()  # env.py reads current_app; the context lasts as the command does
    return app


def migrations_directory(app: Any) -> Path:
    """The directory ``Migrate`` was given (``migrations`` by default), absolute."""
    return Path(app.extensions["migrate"].directory).resolve()


def bind_names(app: Any) -> list[str]:
    """The binds Flask-Migrate's ``--multidb`` env.py migrates besides the default engine, found
    as it finds them (``SQLALCHEMY_BINDS``, else the extension's ``bind_names()``)."""
    if app.config.get("SQLALCHEMY_BINDS") is not None:
        return list(app.config["SQLALCHEMY_BINDS"])
    found = getattr(app.extensions["migrate"].db, "bind_names", None)
    return list(found()) if found else []


@contextlib.contextmanager
def lent_engine(app: Any, engines: dict[str | None, Any]) -> Iterator[None]:
    """While the block runs, the application's engines are ``engines`` (by bind key, None the
    default: mks-db's scratch connection, which lends itself as an Engine does, or an engine of
    another scratch database): Flask-Migrate's env.py migrates on them."""
    current = app.extensions["migrate"].db.engines  # Flask-SQLAlchemy 3: this app's engines, by bind
    saved = {key: current.get(key) for key in engines}
    current.update(engines)
    try:
        yield
    finally:
        for key, engine in saved.items():
            if engine is None:
                current.pop(key, None)
            else:
                current[key] = engine
