"""An Alembic project as the pipeline sees it: its ``Config`` and its revision graph.

Loaded once per command, the way ``python -m alembic -c alembic.ini`` run from the project's
root loads it: the working directory is on ``sys.path`` (as ``python -m`` puts it there),
``prepend_sys_path`` is applied, ``script_location`` may be a path (relative to the working
directory, or to alembic.ini's folder when only that exists), ``%(here)s/...`` or
``package:path``, and ``[tool.alembic]`` in pyproject.toml is read as Alembic reads it.
"""

from __future__ import annotations

import configparser
import dataclasses
import importlib
import os
import re
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from mks_db.engine import flask_app as flask_app_module
from mks_db.engine.alembic_compat import version_locations
from mks_db.errors import ConfigurationError, ProjectCodeError

# env.py builds an asyncio engine: its URL must name an async driver.
_ASYNC_ENV = re.compile(r"\b(async_engine_from_config|create_async_engine|AsyncEngine)\b")
_SYNC_DRIVERS = ("postgresql", "postgresql+psycopg2")


@dataclass
class Project:
    """``ini`` is the alembic.ini; ``script`` the loaded revision graph."""

    ini: Path
    script: ScriptDirectory
    # Environment variables the application's env.py reads its database URL from
    # ([tool.mks-db] url-variables): each is set to the scratch database's URL while env.py runs.
    url_variables: tuple[str, ...] = ()
    # "package.module:metadata" ([tool.mks-db] base-metadata): the schema the application
    # creates itself (metadata.create_all) before its first revision runs.
    base_metadata: str | None = None
    # Modules the application imports before it migrates ([tool.mks-db] import-models).
    import_models: tuple[str, ...] = ()
    # A Flask-Migrate project: its application (context pushed), whose Migrate extension names
    # the migrations directory (the script_location its alembic.ini leaves out).
    flask_app: Any = None
    script_location: str | None = None
    # A project of several databases (``engines``): the one a command checks, its scratch
    # database the one followed; the others get scratch databases of their own, not migrated.
    engine: str | None = None

    @cached_property
    def engines(self) -> tuple[str, ...]:
        """The databases of a multi-database env.py (one that calls
        ``context.run_migrations(engine_name=...)``), in the order it migrates them: Alembic's
        ``multidb`` template reads them from ``databases`` in alembic.ini; Flask-Migrate's
        ``--multidb`` migrates the application's default engine (``""``) then each bind of
        ``SQLALCHEMY_BINDS``. Empty for a project of one database."""
        source = self.env_py.read_text(encoding="utf-8") if self.env_py.is_file() else ""
        if "engine_name" not in source:
            return ()
        if self.flask_app is not None:
            return ("", *flask_app_module.bind_names(self.flask_app))
        names = self.config().get_main_option("databases") or ""
        return tuple(name for name in re.split(r",\s*", names.strip()) if name)

    def for_engine(self, engine: str) -> Project:
        """This project, checking database ``engine`` (one of ``engines``)."""
        return dataclasses.replace(self, engine=engine)

    @property
    def engine_label(self) -> str:
        """How reports name the database under check: ``engine1``; ``default`` for a Flask
        application's own engine; empty for a project of one database."""
        if self.engine is None:
            return ""
        return self.engine or "default"

    def create_base(self, connection: Connection) -> None:
        """Create the ``base_metadata`` schema on ``connection`` (nothing without one), as the
        application does before its chain; ConfigurationError (one line) when it cannot be
        imported or is not a MetaData (or a declarative base that has one)."""
        if not self.base_metadata:
            return
        module_name, _, attribute = self.base_metadata.partition(":")
        try:
            found = importlib.import_module(module_name)
            for part in attribute.split("."):
                found = getattr(found, part)
        except Exception as exc:  # the application's own import
            raise ConfigurationError(
                f"[tool.mks-db] base-metadata {self.base_metadata!r} cannot be imported "
                f"({type(exc).__name__}: {exc}); name a MetaData as package.module:attribute"
            ) from None
        metadata = getattr(found, "metadata", found)
        if not isinstance(metadata, MetaData):
            raise ConfigurationError(
                f"[tool.mks-db] base-metadata {self.base_metadata!r} is a {type(found).__name__}, "
                "not a MetaData (or a declarative base with one)"
            )
        metadata.create_all(connection)

    @property
    def root(self) -> Path:
        return self.ini.parent

    def config(self) -> Config:
        """A fresh Config for one Alembic command (attributes are not shared between commands)."""
        return _make_config(self.ini, self.script_location)

    @property
    def env_py(self) -> Path:
        return Path(self.script.dir) / "env.py"

    @cached_property
    def _configured_driver(self) -> str | None:
        """The PostgreSQL driver the project names: in ``sqlalchemy.url``, else an async one
        when env.py builds an asyncio engine; None when it names none."""
        from sqlalchemy.engine import make_url

        with_driver = None
        try:
            url = make_url(self.config().get_main_option("sqlalchemy.url") or "")
            if url.get_backend_name() == "postgresql":
                with_driver = url.drivername
        except Exception:  # empty, Alembic's placeholder, or not a URL: it names no driver
            pass
        if with_driver and with_driver != "postgresql":
            return with_driver
        source = self.env_py.read_text(encoding="utf-8") if self.env_py.is_file() else ""
        return "postgresql+asyncpg" if _ASYNC_ENV.search(source) else None

    def driver(self, named: str) -> str:
        """The driver env.py is given a URL with: ``named`` when the user named one on the
        command line or in DATABASE_URL, else the one the project names (asyncpg stays
        asyncpg), else psycopg2."""
        if named not in _SYNC_DRIVERS:
            return named
        return self._configured_driver or named

    def version_locations(self) -> list[Path]:
        """The directories holding revision files (``version_locations`` or ``versions/``)."""
        return version_locations(self.script)

    def revisions_in_order(self) -> list[Script]:
        """Every revision, each after all of its parents (base first)."""
        return list(reversed(list(self.script.walk_revisions("base", "heads"))))

    def ancestry(self, heads: Iterable[str]) -> set[str]:
        """The ids of ``heads`` and of all their ancestors."""
        return {r.revision for head in heads for r in self.script.iterate_revisions(head, "base")}

    def in_order(self, ids: set[str]) -> list[Script]:
        """The revisions of ``ids``, each after all of its parents."""
        return [r for r in self.revisions_in_order() if r.revision in ids]

    def revision(self, rev_id: str) -> Script:
        return self.script.get_revision(rev_id)

    def relpath(self, path: str | Path) -> str:
        """``path`` relative to the working directory when it is inside it (for annotations)."""
        absolute = Path(path).resolve()
        try:
            return str(absolute.relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(absolute)


def _make_config(ini: Path, script_location: str | None = None) -> Config:
    """The Config ``alembic -c ini`` builds, with ``script_location`` made absolute (so that
    no later change of directory matters); ``script_location`` given: that one (Flask-Migrate's,
    which its alembic.ini leaves out)."""
    toml = ini.parent / "pyproject.toml"
    if not toml.is_file():
        toml = Path.cwd() / "pyproject.toml"  # where the alembic command looks for it
    if ini.name == "pyproject.toml":
        config = Config(toml_file=str(ini))
    else:
        config = Config(str(ini), toml_file=str(toml) if toml.is_file() else None)
    if script_location:
        config.set_main_option("script_location", script_location)
    location = config.get_alembic_option("script_location")
    if location and ":" not in location and not os.path.isabs(location):
        # Alembic resolves it against the working directory; alembic.ini's folder serves
        # too, for a project checked from elsewhere with -c.
        here = Path.cwd() / location
        chosen = here if here.exists() or not (ini.parent / location).exists() else ini.parent / location
        config.set_main_option("script_location", str(chosen.resolve()))
    return config


def _on_sys_path(directory: Path) -> None:
    """Put ``directory`` first on ``sys.path``, as ``python -m alembic`` run there has it."""
    entry = str(directory)
    if entry not in sys.path and "" not in sys.path:
        sys.path.insert(0, entry)


def load_project(
    ini: str | Path | None = None,
    load_revisions: bool = True,
    url_variables: tuple[str, ...] = (),
    base_metadata: str | None = None,
    flask_app: str | None = None,
    import_models: tuple[str, ...] = (),
) -> Project:
    """Load the project of ``ini`` (default ``./alembic.ini``) and import all its revision files
    (unless ``load_revisions`` is false: then they load when first needed).

    ``import_models``: modules the application imports before it runs its migrations
    ([tool.mks-db] import-models), imported first: their models join env.py's
    ``target_metadata`` as they do when the application migrates.

    Raises ConfigurationError, in one line naming the file, when the ini is missing or has no
    ``script_location``, or when a revision file (or one of ``import_models``) does not import.
    """
    path = _configuration_path(ini)
    app = script_location = None
    if flask_app or (not ini and not path.is_file()):  # a Flask-Migrate project, as flask finds it
        app, path, script_location = _flask_migrate_project(ini, path, flask_app)
    if not path.is_file():
        raise ConfigurationError(
            f"no Alembic configuration at {path}; run from the project's root or pass -c alembic.ini "
            "(a Flask-Migrate project: name its application with --app, as for flask)"
        )
    path = path.resolve()
    _on_sys_path(Path.cwd())
    _import_models(import_models)
    config = _checked_config(path, script_location)
    script = _script_directory(config, path, load_revisions)
    return Project(
        ini=path,
        script=script,
        url_variables=tuple(url_variables),
        base_metadata=base_metadata,
        import_models=tuple(import_models),
        flask_app=app,
        script_location=script_location,
    )


def _configuration_path(ini: str | Path | None) -> Path:
    """The file ``ini`` names (a directory: its alembic.ini; default ./alembic.ini, else
    ./pyproject.toml when only that configures Alembic), whether or not it exists."""
    path = Path(ini) if ini else Path.cwd() / "alembic.ini"
    if path.is_dir():
        path = path / "alembic.ini"
    if not path.is_file() and not ini and _has_tool_alembic(Path.cwd() / "pyproject.toml"):
        path = Path.cwd() / "pyproject.toml"  # a project configured in pyproject.toml alone
    return path


def _flask_migrate_project(
    ini: str | Path | None, path: Path, flask_app: str | None
) -> tuple[Any, Path, str | None]:
    """The Flask application ``flask_app`` names (or flask finds), with the configuration file
    and script location of its migrations directory; without an application: None, ``path``
    and None."""
    _on_sys_path(Path.cwd())
    app = flask_app_module.load(flask_app)
    if app is None:
        return None, path, None
    directory = flask_app_module.migrations_directory(app)
    return app, Path(ini) if ini else directory / "alembic.ini", str(directory)


def _import_models(modules: Iterable[str]) -> None:
    """Import each of ``modules`` ([tool.mks-db] import-models), as the application does before
    it migrates; ConfigurationError naming the first that does not import."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # the application's own import
            raise ConfigurationError(
                f"[tool.mks-db] import-models names {module!r}, which cannot be imported "
                f"({type(exc).__name__}: {exc}); name a module of the application as package.module"
            ) from None


def _checked_config(path: Path, script_location: str | None) -> Config:
    """The Config of ``path`` (see ``_make_config``); ConfigurationError when the file does not
    parse or names no script_location."""
    try:
        config = _make_config(path, script_location)
        location = config.get_alembic_option("script_location")
    except (configparser.Error, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"{path} is not a valid Alembic configuration ({first}); fix it") from None
    if not location:
        raise ConfigurationError(f"{path} has no [alembic] script_location; add one")
    return config


def _script_directory(config: Config, path: Path, load_revisions: bool) -> ScriptDirectory:
    """The revision graph of ``config``, every revision file imported when ``load_revisions``;
    ConfigurationError naming ``path`` when Alembic refuses it, ProjectCodeError naming the
    revision file that does not import."""
    try:
        script = ScriptDirectory.from_config(config)
        if load_revisions:
            script.revision_map.heads  # noqa: B018 - forces every revision file to load now
    except CommandError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    except Exception as exc:  # a revision file that raises at import
        raise _import_failure(exc, config) from None
    return script


def _has_tool_alembic(toml: Path) -> bool:
    return toml.is_file() and "[tool.alembic]" in toml.read_text(encoding="utf-8", errors="replace")


def _import_failure(exc: BaseException, config: Config) -> ProjectCodeError:
    location = config.get_alembic_option("script_location") or "."
    try:
        from alembic.util import coerce_resource_to_filename

        versions = Path(coerce_resource_to_filename(location)).resolve()
    except Exception:
        versions = Path(location).resolve()
    culprit = getattr(exc, "filename", None)
    line = getattr(exc, "lineno", None)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve().is_relative_to(versions):
            culprit, line = frame.filename, frame.lineno
            break
    where = f"{culprit}:{line}" if culprit else str(versions)
    return ProjectCodeError(
        f"revision file {where} does not import ({type(exc).__name__}: {exc}); fix it, then run again",
        str(culprit) if culprit else None,
        line,
    )
