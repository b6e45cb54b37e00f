"""An Alembic project as the pipeline sees it: its ``Config`` and its revision graph.

Loaded once per command. Any Alembic project works: the stock ``alembic init`` env.py (URL from
``sqlalchemy.url``) or one that takes a Connection from ``config.attributes["connection"]``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from mks_db.errors import ConfigurationError


@dataclass
class Project:
    """``ini`` is the alembic.ini; ``script`` the loaded revision graph."""

    ini: Path
    script: ScriptDirectory

    @property
    def root(self) -> Path:
        return self.ini.parent

    def config(self) -> Config:
        """A fresh Config for one Alembic command (attributes are not shared between commands)."""
        return _make_config(self.ini)

    def version_locations(self) -> list[Path]:
        """The directories holding revision files (``version_locations`` or ``versions/``)."""
        return [Path(p) for p in self.script._version_locations]

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


def _make_config(ini: Path) -> Config:
    config = Config(str(ini))
    # Alembic resolves script_location relative to the working directory unless %(here)s is used.
    location = config.get_main_option("script_location")
    if location and not os.path.isabs(location):
        config.set_main_option("script_location", str((ini.parent / location).resolve()))
    return config


def load_project(ini: str | Path | None = None, load_revisions: bool = True) -> Project:
    """Load the project of ``ini`` (default ``./alembic.ini``) and import all its revision files
    (unless ``load_revisions`` is false: then they load when first needed).

    Raises ConfigurationError, in one line naming the file, when the ini is missing or has no
    ``script_location``, or when a revision file does not import.
    """
    path = Path(ini) if ini else Path.cwd() / "alembic.ini"
    if path.is_dir():
        path = path / "alembic.ini"
    if not path.is_file():
        raise ConfigurationError(
            f"no Alembic configuration at {path}; run from the project's root or pass -c alembic.ini"
        )
    path = path.resolve()
    config = _make_config(path)
    if not config.get_main_option("script_location"):
        raise ConfigurationError(f"{path} has no [alembic] script_location; add one")
    try:
        script = ScriptDirectory.from_config(config)
        if load_revisions:
            script.revision_map.heads  # noqa: B018 - forces every revision file to load now
    except CommandError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    except Exception as exc:  # a revision file that raises at import
        raise ConfigurationError(_import_failure(exc, config)) from None
    return Project(ini=path, script=script)


def _import_failure(exc: BaseException, config: Config) -> str:
    versions = Path(config.get_main_option("script_location") or ".").resolve()
    culprit = getattr(exc, "filename", None)
    line = getattr(exc, "lineno", None)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve().is_relative_to(versions):
            culprit, line = frame.filename, frame.lineno
            break
    where = f"{culprit}:{line}" if culprit else str(versions)
    return f"revision file {where} does not import ({type(exc).__name__}: {exc}); fix it, then run again"
