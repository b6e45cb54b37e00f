"""The models of another release of the project: what the code of a git commit reads and
writes, for the ``compat`` check.

The commit's tree is exported (``git archive``) to a temporary directory, and its own env.py
runs there, in a process of its own (its modules must not meet this checkout's), against an
empty scratch database, without migrating anything: env.py's ``target_metadata`` and the
classes mapped to its tables are what that release's application reads and writes. The
description comes back as JSON (``describe``).

    python -m mks_db.engine.release INI OPTIONS offline|URL   (run by ``Reading``, not by hand)
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Integer
from sqlalchemy.engine import make_url

from mks_db.database.server import Server, scratch_database
from mks_db.engine import git
from mks_db.engine.project import Project
from mks_db.errors import ConfigurationError


@dataclass(frozen=True)
class ModelColumn:
    name: str  # as the catalogue quotes it
    attribute: str  # Class.attribute, or table.column for a table no class maps
    primary_key: bool
    written: bool  # the application's INSERT names it (not left to the database's default)


@dataclass(frozen=True)
class ModelTable:
    name: str  # schema.table, as the catalogue quotes it
    model: str  # the class mapped to it, or the table's name
    columns: tuple[ModelColumn, ...]


@dataclass(frozen=True)
class Release:
    """A release's models: the tables its code reads and writes, and how to name it."""

    label: str  # the ref and its commit, for messages
    tables: tuple[ModelTable, ...]


class Reading:
    """The models of the commit ``ref`` names, being read by that commit's own env.py in a
    process of its own, started at once (offline: no database needed, so it runs while the
    walk does); ``result`` waits for them. Use as a context manager: the exported tree goes
    on exit. ``label`` names the release in messages (default: the ref and its commit)."""

    def __init__(self, project: Project, ref: str, label: str | None = None) -> None:
        top = git.root(project.root)
        commit = git.run(top, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()
        self.label = label or (f"{ref}, {commit[:12]}" if not commit.startswith(ref) else commit[:12])
        archive = subprocess.run(["git", "-C", str(top), "archive", commit], capture_output=True, check=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="mks-db-release-")
        tmp = Path(self._tmp.name)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        here = tmp / Path.cwd().resolve().relative_to(top) if _inside(Path.cwd(), top) else tmp
        ini = tmp / project.ini.resolve().relative_to(top) if _inside(project.ini, top) else None
        options = {
            "url_variables": list(project.url_variables),
            "base_metadata": project.base_metadata,
            "import_models": list(project.import_models),
        }
        if project.flask_app is not None:
            options["flask_app"] = os.environ.get("FLASK_APP")
            ini = None
        self._argv = [
            sys.executable,
            "-m",
            "mks_db.engine.release",
            str(ini) if ini and ini.is_file() else "",
            json.dumps(options),
        ]
        self._cwd = here if here.is_dir() else tmp
        self._offline = self._start("offline")

    def _start(self, where: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*self._argv, where],
            cwd=self._cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self, server: Server) -> Release:
        """The release's models; when env.py cannot run offline, read online on an empty
        scratch database of ``server``. ConfigurationError (one line) when they cannot be read."""
        out, err = self._offline.communicate(timeout=600)
        if self._offline.returncode != 0:
            with scratch_database(server, "release") as url:
                online = self._start(url.render_as_string(hide_password=False))
                out, err = online.communicate(timeout=600)
            if online.returncode != 0:
                last = (err.strip().splitlines() or ["no output"])[-1]
                raise ConfigurationError(
                    f"the models of {self.label} cannot be read with its own env.py: {last}"
                )
        tables = tuple(
            ModelTable(t["name"], t["model"], tuple(ModelColumn(**c) for c in t["columns"]))
            for t in json.loads(out)
        )
        return Release(self.label, tables)

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reading if it still runs, and remove the exported tree (twice is harmless)."""
        if self._offline.poll() is None:
            self._offline.kill()
            self._offline.wait()
        self._tmp.cleanup()


def models_at(project: Project, ref: str, server: Server, label: str | None = None) -> Release:
    """The models of the commit ``ref`` names (``Reading``), waited for."""
    with Reading(project, ref, label) as reading:
        return reading.result(server)


def _inside(path: Path, top: Path) -> bool:
    return path.resolve().is_relative_to(top)


def describe(metadata: object) -> list[dict]:
    """The tables of ``metadata`` (a MetaData or a list of them) as ``ModelTable`` fields, with
    the mapped classes' attribute names."""
    from sqlalchemy.orm import mapperlib

    from mks_db.engine.data import _ident

    attributes: dict[tuple[object, str], str] = {}
    models: dict[object, str] = {}
    for registry in list(mapperlib._mapper_registries):
        for mapper in registry.mappers:
            for table in mapper.tables:
                models.setdefault(table, mapper.class_.__name__)
            for prop in mapper.column_attrs:
                for column in prop.columns:
                    if getattr(column, "table", None) is not None:
                        attributes.setdefault(
                            (column.table, column.name), f"{mapper.class_.__name__}.{prop.key}"
                        )
    described = []
    for each in metadata if isinstance(metadata, list | tuple) else [metadata]:
        for table in getattr(each, "sorted_tables", []):
            columns = [
                {
                    "name": _ident(column.name),
                    "attribute": attributes.get((table, column.name), f"{table.name}.{column.name}"),
                    "primary_key": column.primary_key,
                    "written": not _left_to_the_database(table, column),
                }
                for column in table.columns
            ]
            described.append(
                {
                    "name": f"{_ident(table.schema or 'public')}.{_ident(table.name)}",
                    "model": models.get(table, table.name),
                    "columns": columns,
                }
            )
    return described


def _left_to_the_database(table: object, column: object) -> bool:
    """Whether the application's INSERT leaves ``column`` to the database: a serial or identity
    key, a computed column, or a server default without a default of its own."""
    if column.computed is not None or column.identity is not None:
        return True
    if column is table.autoincrement_column and isinstance(column.type, Integer):
        return True
    return column.server_default is not None and column.default is None


def main(argv: list[str]) -> int:
    """Print the models env.py gives Alembic as JSON: run offline (``where`` is "offline"), or
    online on the empty database ``where`` names."""
    from mks_db.engine.migrate import Migrator
    from mks_db.engine.project import load_project

    ini, options, where = argv
    options = json.loads(options)
    project = load_project(
        ini or None,
        load_revisions=False,
        url_variables=tuple(options.get("url_variables") or ()),
        base_metadata=options.get("base_metadata"),
        import_models=tuple(options.get("import_models") or ()),
        flask_app=options.get("flask_app"),
    )
    if where == "offline":
        metadata = _offline_metadata(project)
    else:
        with Migrator(project, make_url(where)) as migrator:
            migrator.run_env(lambda heads, context: [])
            metadata = migrator.target_metadata
    if metadata is None:
        print("env.py sets no target_metadata", file=sys.stderr)
        return 1
    print(json.dumps(describe(metadata)))
    return 0


def _offline_metadata(project: Project) -> object:
    """The ``target_metadata`` env.py gives Alembic when run offline (``--sql``), migrating
    nothing; raises what env.py raises."""
    from alembic.runtime.environment import EnvironmentContext

    from mks_db.engine.migrate import environment_variables, quiet_env_logging

    config = project.config()
    config.output_buffer = io.StringIO()
    config.set_main_option("sqlalchemy.url", "postgresql://")
    captured: dict[str, object] = {}

    def capture(heads: tuple, context: object) -> list:
        captured["metadata"] = context.opts.get("target_metadata")
        return []

    with (
        environment_variables(project.url_variables, "postgresql://"),
        quiet_env_logging(),
        EnvironmentContext(config, project.script, fn=capture, as_sql=True, starting_rev="base"),
    ):
        project.script.run_env()
    return captured.get("metadata")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
