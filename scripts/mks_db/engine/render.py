"""``mks-db sql``: each revision's offline SQL (Alembic's ``--sql`` mode), one file per revision
and direction, rendered by the project's own env.py.

Each file is rendered for exactly one step (``parent:revision`` up, ``revision:parent`` down),
so branches and merges render too, and starts with a header naming the revision file, so every
statement is traceable to it. Rendering is deterministic byte for byte; an autocommit block
stays visible as the ``COMMIT;`` / ``BEGIN;`` pair Alembic writes around it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from sqlalchemy.engine import make_url

from mks_db import __version__
from mks_db.engine.alembic_compat import down_revisions, engine_calls, record_op_execute
from mks_db.engine.migrate import (
    env_failures,
    environment_variables,
    migration_step,
    plain_alembic,
    quiet_env_logging,
)
from mks_db.engine.project import Project
from mks_db.errors import MksDbError

DIRECTIONS = ("upgrade", "downgrade")


@dataclass(frozen=True)
class Rendered:
    """One file of SQL; ``error`` says why there is none (the step cannot run offline)."""

    revision: Script
    direction: str
    path: Path
    sql: str
    error: str | None = None


def render_step(project: Project, revision: Script, direction: str) -> str:
    """The offline SQL of ``revision``'s ``direction``, with its header."""
    script = project.script
    step = migration_step(project, direction, revision)
    start = (down_revisions(revision) or "base") if direction == "upgrade" else revision.revision
    buffer = io.StringIO()
    config = project.config()
    config.output_buffer = buffer
    if not _postgresql_url(config.get_main_option("sqlalchemy.url")):
        # Offline rendering never connects; a stock env.py still wants a URL for its dialect
        # (and alembic.ini may still hold Alembic's placeholder, driver://user:pass@...).
        config.set_main_option("sqlalchemy.url", "postgresql://")
    for name in project.engines if project.flask_app is None else ():  # Alembic's multidb sections
        if not _postgresql_url(config.get_section_option(name, "sqlalchemy.url")):
            config.set_section_option(name, "sqlalchemy.url", "postgresql://")
    reached: list = []
    written: list[tuple[int, int]] = []  # where op.execute's text went in the buffer
    # A project of several databases: env.py writes each database's SQL to a file of its own,
    # given a buffer each here instead; the step runs in the checked database's run only.
    engines: list[str | None] = []
    buffers: list[io.StringIO] = []

    def steps(heads: tuple, context: MigrationContext) -> list:
        reached.append(True)
        if engines and engines[-1] != project.engine:
            return []
        record_op_execute(context.impl, buffers[-1] if buffers else buffer, written)
        return [step]

    with (
        # An application's own URL setting (url-variables): a URL of the dialect, never connected.
        environment_variables(project.url_variables, "postgresql://"),
        quiet_env_logging(),
        _aside(engines, buffers) if project.engine is not None else contextlib.nullcontext(),
        EnvironmentContext(
            config,
            script,
            fn=steps,
            as_sql=True,
            starting_rev=start,
            destination_rev=revision.revision,
        ),
        env_failures(
            project,
            reached,
            offline=True,
            plain=None if project.flask_app else lambda: plain_alembic(project, None),
        ),
    ):
        script.run_env()
    header = (
        f"-- mks-db sql: {direction} of revision {revision.revision}\n"
        f"-- source: {project.relpath(revision.path)}\n"
    )
    sql = buffers[engines.index(project.engine)].getvalue() if buffers else buffer.getvalue()
    if written:
        lines = _lines(sql, written, first=header.count("\n") + 2)
        header += WRITTEN_MARK + ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in lines) + "\n"
    return header + sql


@contextlib.contextmanager
def _aside(engines: list[str | None], buffers: list[io.StringIO]) -> Iterator[None]:
    """Offline, a multi-database env.py opens a file per database in the working directory
    (``engine1.sql``, Flask-Migrate's ``.sql``): it runs in an empty temporary directory
    instead, with a buffer of mks-db's for each database (``alembic_compat.engine_calls``)."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="mks-db-render-") as directory, engine_calls(engines, buffers):
        os.chdir(directory)
        sys.path.insert(0, str(previous))  # "" on sys.path (python -m) named the project's root
        try:
            yield
        finally:
            sys.path.remove(str(previous))
            os.chdir(previous)


# The header line naming the lines of SQL that people wrote (op.execute's text), counted from
# the "-- mks-db sql:" line as line 1; the rest is what Alembic generated.
WRITTEN_MARK = "-- written in the revision (op.execute): lines "


def _lines(text: str, spans: list[tuple[int, int]], first: int) -> list[tuple[int, int]]:
    """The line ranges (numbered from ``first``) that the character ``spans`` of ``text`` cover."""
    ranges = []
    for start, end in spans:
        chunk = text[start:end].rstrip("\n")
        if chunk.strip():
            top = first + text.count("\n", 0, start)
            ranges.append((top, top + chunk.count("\n")))
    return ranges


def written_lines(sql: str) -> set[int] | None:
    """The line numbers of ``sql`` (a rendered file) that people wrote; None for a file rendered
    without the record (then every line counts)."""
    lines = sql.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("-- mks-db sql:")), None)
    if header is None:
        return None
    mark = next((line for line in lines[header : header + 4] if line.startswith(WRITTEN_MARK)), None)
    if mark is None:
        return set()
    found = set()
    for part in mark[len(WRITTEN_MARK) :].split(","):
        a, _, b = part.strip().partition("-")
        found |= set(range(int(a) + header, int(b or a) + header + 1))
    return found


def _postgresql_url(text: str | None) -> bool:
    try:
        return make_url(text or "").get_backend_name() == "postgresql"
    except Exception:  # empty, or not a URL at all
        return False


def source_hash(project: Project, revision: Script, versions: str) -> str:
    """What a revision's SQL depends on: its file, env.py, alembic.ini, the MKS_* environment
    and the ``versions`` of mks-db, Alembic and SQLAlchemy (``renderer()``). (Modules they
    import are not followed: `mks-db sql` after such a change, or removing build/, renders
    afresh.)"""
    digest = hashlib.sha256(versions.encode())
    # env.py may read settings from the environment (this repository's reads MKS_LOCK_TIMEOUT).
    digest.update(repr(sorted((k, v) for k, v in os.environ.items() if k.startswith("MKS_"))).encode())
    for path in (Path(revision.path), Path(project.script.dir) / "env.py", project.ini):
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def renderer() -> str:
    """The versions of what writes the SQL besides the project: mks-db, and the installed
    Alembic and SQLAlchemy (their DDL compilers)."""
    return f"mks-db {__version__} alembic {version('alembic')} sqlalchemy {version('sqlalchemy')}"


def _stamped(source: str, sql: str) -> str:
    """``sql`` as its file holds it: under a first line hashing ``source`` (``source_hash``)
    with ``sql`` itself, so a file cut short or edited no longer matches its stamp."""
    digest = hashlib.sha256(f"{source}\n".encode() + sql.encode())
    return f"-- source hash: {digest.hexdigest()}\n{sql}"


def _read(path: Path) -> str | None:
    """The text of ``path``; None when it is missing, unreadable or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader, or a run that stops midway, sees the old
    file or the new one in full, never part of one: a temporary file in the same directory
    (created with the umask's permissions), flushed and closed, then renamed over ``path``.
    No fsync: this is for files that can be made again (a cache, rendered SQL), whose reader
    treats an entry that does not check out as missing. OSError as ``open`` raises it, with the
    temporary file removed."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("x", encoding="utf-8") as out:
            out.write(text)
            out.flush()
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_sql(project: Project, revisions: list[Script], out_dir: Path) -> list[Rendered]:
    """Write ``<revision>.<direction>.sql`` for each revision under ``out_dir``, each file
    whole (``write_atomically``).

    A file whose stamp still matches what it was rendered from and its own SQL is reused
    without running env.py again; any other (stale, cut short, unreadable) is rendered afresh.
    """
    if project.engine is not None:  # a project of several databases: a directory for each
        out_dir = out_dir / project.engine_label
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    versions = renderer()
    for revision in revisions:
        source = source_hash(project, revision, versions)
        for direction in DIRECTIONS:
            path = out_dir / f"{revision.revision}.{direction}.sql"
            previous = _read(path)
            if previous is not None and previous == _stamped(source, previous.partition("\n")[2]):
                rendered.append(Rendered(revision, direction, path, previous))
                continue
            try:
                sql = _stamped(source, render_step(project, revision, direction))
            except MksDbError:
                raise  # env.py itself fails: no revision renders
            except Exception as exc:  # a step that raises offline: a finding, not a crash
                path.unlink(missing_ok=True)
                rendered.append(Rendered(revision, direction, path, "", f"{type(exc).__name__}: {exc}"))
                continue
            write_atomically(path, sql)
            rendered.append(Rendered(revision, direction, path, sql))
    return rendered
