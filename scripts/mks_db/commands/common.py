"""What several commands share: the project loaded with its revision graph checked, the
revisions chosen by ``--since``/``--revision``/``--all``, the checks' server with its time
bounds, the live progress line, and the finding for an env.py that does not run offline.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import Script

from mks_db.checks.heads import BROKEN_GRAPH, check_heads
from mks_db.commands import SQL_DIR
from mks_db.config import Settings
from mks_db.database.server import Server, open_server
from mks_db.engine import git
from mks_db.engine.project import Project, load_project
from mks_db.errors import ConfigurationError, Stop
from mks_db.report.model import Report
from mks_db.report.progress import Progress

# Where GitHub Actions walks every revision even with --since: merged revisions are walked
# there once more, against the chain as it now is.
WALK_ALL_EVENTS = ("push", "schedule", "workflow_dispatch")


def checked_project(settings: Settings, report: Report) -> Project:
    """The project with its revisions; call it once per command and pass the project on.

    The revision graph is read first, from the files' syntax (as ``heads`` does): duplicate
    ids, missing parents and cycles stop the command (``Stop``) with their findings in
    ``report``, before Alembic would silently keep one of two revisions of the same id.
    """
    graph = check_heads(
        load_project(
            settings.alembic_config,
            load_revisions=False,
            url_variables=settings.url_variables,
            base_metadata=settings.base_metadata,
            import_models=settings.import_models,
            flask_app=settings.flask_app,
        )
    )
    broken = [f for f in graph if f.rule in BROKEN_GRAPH]
    if broken:
        report.findings += [f for f in broken if f not in report.findings]
        raise Stop
    project = load_project(
        settings.alembic_config,
        url_variables=settings.url_variables,
        base_metadata=settings.base_metadata,
        import_models=settings.import_models,
        flask_app=settings.flask_app,
    )
    return project if settings.engine is None else project.for_engine(settings.engine)


@dataclass(frozen=True)
class Selection:
    """The revisions a command works on: ``--since REF``, ``--revision REV`` or ``--all``."""

    since: str | None = None
    revision: str | None = None
    all: bool = False

    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> Selection:
        """The command's selection flags; with none given, in a pull request (``GITHUB_BASE_REF``
        set), the revisions new against the target branch, ``origin/<base>``."""
        since, revision, all_ = (getattr(args, name, None) for name in ("since", "revision", "all"))
        if hasattr(args, "since") and not (since or revision or all_) and os.environ.get("GITHUB_BASE_REF"):
            since = f"origin/{os.environ['GITHUB_BASE_REF']}"
        return cls(since, revision, bool(all_))

    def revisions(self, project: Project) -> list[Script]:
        """The chosen revisions, in order (every revision by default)."""
        return choose_revisions(project, self.since, self.revision, self.all)

    def new(self, project: Project) -> set[str] | None:
        """The revisions a walk starts from: with ``--since``, those added or changed against
        it; None (every revision) without it, with ``--all``, and in a push or scheduled run."""
        if not self.since or self.all or os.environ.get("GITHUB_EVENT_NAME") in WALK_ALL_EVENTS:
            return None
        return {r.revision for r in choose_revisions(project, self.since)}


def choose_revisions(
    project: Project, since: str | None = None, revision: str | None = None, all_: bool = False
) -> list[Script]:
    """The revisions a command works on: ``--revision R``, ``--all``, or those whose files were
    added or changed against the git ref ``since`` (in the working tree)."""
    order = project.revisions_in_order()
    if revision:
        try:
            wanted = project.script.get_revision(revision)
        except Exception:
            raise ConfigurationError(
                f"no revision {revision!r} in this project; see `alembic history`"
            ) from None
        return [wanted]
    if all_ or not since:
        return order
    changed = git.changed_files(project.root, since, project.version_locations())
    return [r for r in order if Path(r.path).resolve() in changed]


def checks_server(
    database_url: str | None, settings: Settings, progress: Progress | None = None
) -> AbstractContextManager[Server]:
    """The server the checks make scratch databases on (``--database-url``, else
    ``$DATABASE_URL``, else the embedded server, of production's major where installed:
    ``--postgres``, ``[tool.mks-db] postgres``), under the checks' time bounds. A server of
    another major than production's is named in one warning line."""
    url = database_url or os.environ.get("DATABASE_URL")
    if progress:
        progress.say("connecting to PostgreSQL" if url else "starting the embedded PostgreSQL")
    source = "--database-url" if database_url else "DATABASE_URL"
    return open_server(
        url,
        settings.timeouts,
        major=settings.postgres,
        note=warn,
        source=source,
        extensions=settings.extensions,
    )


def warn(line: str) -> None:
    """A warning on standard error, at once (the report comes at the end, on standard output)."""
    print(f"mks-db: warning: {line}", file=sys.stderr, flush=True)


def progress_line(command: str, settings: Settings) -> Progress:
    """The live line on a terminal, for the human format (other formats are read by tools)."""
    progress = Progress(enabled=None if settings.format == "human" else False)
    progress.say(f"mks-db {command}: reading {settings.alembic_config or 'alembic.ini'}")
    return progress


def sql_dir(out: Path | None, project: Project) -> Path:
    """Where the rendered SQL goes: ``--out``, else ``SQL_DIR`` beside alembic.ini (``ignored``
    by git there: a repository that uses the hooks does not commit it by accident)."""
    return (out or ignored(project.root / SQL_DIR)).resolve()


def ignored(directory: Path) -> Path:
    """``directory``, created with a ``.gitignore`` of ``*`` inside (as pytest does for its cache):
    git ignores everything mks-db writes there, in any repository, with nothing to configure."""
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / ".gitignore"
    if not marker.exists():
        marker.write_text("# Written by mks-db (the rendered SQL and the lint cache): not to commit.\n*\n")
    return directory
