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


@contextlib.contextmanager
def lent_engine(app: Any, engine: Any) -> Iterator[None]:
    """While the block runs, the application's default engine is ``engine`` (mks-db's scratch
    connection, which lends itself as an Engine does): Flask-Migrate's env.py migrates on it."""
    engines = app.extensions["migrate"].db.engines  # Flask-SQLAlchemy 3: this app's engines, by bind
    saved = engines.get(None)
    engines[None] = engine
    try:
        yield
    finally:
        if saved is None:
            engines.pop(None, None)
        else:
            engines[None] = saved
