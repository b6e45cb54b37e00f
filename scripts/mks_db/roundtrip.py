"""The roundtrip check: every revision upgrades, downgrades to exactly the schema it started
from, and upgrades again to exactly the same schema; rows in existing tables survive.

The walk runs in one scratch database, in topological order (branches and merge points
included), one revision at a time on one reused connection. For each revision R:

1. every empty table is filled with generated rows (``mks_db.data``);
2. R is upgraded; if that fails, the tables are emptied and R is tried again: success then
   means the upgrade fails only because rows exist (check ``upgrade``, cause named);
3. rows deleted, and tables or columns dropped while holding data, are ``data-loss`` unless
   the revision file declares the loss (``# mks-db: data-loss: <reason>``);
4. R is downgraded: its schema fingerprint must equal the one before step 2; then R is
   upgraded again and must equal the one after step 2 (check ``roundtrip``). A revision
   declared ``# mks-db: irreversible: <reason>`` gets a warning instead of an error.

A schema difference is explained object by object from full snapshots, built only then: the
expected state is rebuilt in a second scratch database. After a failure the walk goes on from
a freshly rebuilt database, so one bad revision does not hide the next one's problems. At the
end everything is downgraded to base, which must leave the database as empty as it started.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic.script import Script
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from mks_db import catalog, data, declarations, interrupt
from mks_db.findings import ERROR, WARNING, Finding
from mks_db.migrate import Migrator
from mks_db.project import Project
from mks_db.report import Report, Step
from mks_db.server import Server, describe_db_error, scratch_database

MAX_DIFF_LINES = 40


class Walk:
    """The state of one roundtrip walk: the scratch database, its migrator, the report."""

    def __init__(self, project: Project, server: Server, report: Report, with_data: bool) -> None:
        self.project = project
        self.server = server
        self.report = report
        self.with_data = with_data
        self._stack = contextlib.ExitStack()
        self.migrator: Migrator

    def __enter__(self) -> Walk:
        self._open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _open(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        url = self._stack.enter_context(scratch_database(self.server, "roundtrip"))
        self.migrator = self._stack.enter_context(Migrator(self.project, url))

    def fingerprint(self) -> str:
        with self.migrator.idle() as connection:
            return catalog.fingerprint(connection)

    def rebuild(self, applied: list[Script]) -> None:
        """Start again from a new scratch database with ``applied`` upgraded, without rows."""
        self._open()
        for revision in applied:
            self.migrator.upgrade(revision)

    def finding(
        self,
        check: str,
        revision: Script,
        message: str,
        severity: str = ERROR,
        line: int | None = None,
    ) -> None:
        self.report.findings.append(
            Finding(
                check,
                severity,
                revision.revision,
                message,
                self.project.relpath(revision.path),
                line,
            )
        )

    def timed(self, action: str, revision: Script, apply: Callable[[Script], None]) -> None:
        started = time.perf_counter()
        ok = False
        try:
            apply(revision)
            ok = True
        except Exception:
            interrupt.raise_if_requested()
            raise
        finally:
            self.report.steps.append(Step(revision.revision, action, time.perf_counter() - started, ok))


def roundtrip(
    project: Project,
    server: Server,
    report: Report,
    with_data: bool = True,
    at_head: Callable[[Migrator], None] | None = None,
) -> None:
    """Run the roundtrip walk over every revision of ``project`` and add findings to ``report``.

    ``at_head`` runs once every revision is applied, before the walk back down to base.
    """
    order = project.revisions_in_order()
    report.revisions = len(order)
    with Walk(project, server, report, with_data) as walk:
        empty = walk.fingerprint()
        applied: list[Script] = []
        for revision in order:
            if not _one_revision(walk, revision, applied):
                return
            applied.append(revision)
        if at_head:
            at_head(walk.migrator)
        _down_to_base(walk, applied, empty)


def _one_revision(walk: Walk, revision: Script, applied: list[Script]) -> bool:
    """Steps 1-4 for ``revision``; False when the walk cannot go on."""
    before = walk.fingerprint()
    with walk.migrator.idle() as connection:
        if walk.with_data:
            for problem in data.fill(connection):
                walk.finding("data-loss", revision, problem, WARNING)
        tables = data.read_tables(connection)
        held = data.inventory(connection, tables)

    outcome = _upgrade(walk, revision, held)
    if outcome is None:
        return False
    if outcome == "with rows" and any(t.rows for t in held.values()):
        with walk.migrator.idle() as connection:
            _data_loss(walk, revision, held, data.inventory(connection))
    after = walk.fingerprint()

    declared = declarations.of_file(revision.path).get("irreversible")
    severity = WARNING if declared and declared.reason else ERROR
    why = f" (declared irreversible: {declared.reason})" if severity == WARNING else ""

    try:
        walk.timed("downgrade", revision, walk.migrator.downgrade)
    except Exception as exc:
        if severity == WARNING:
            walk.finding("downgrade", revision, f"downgrade of {revision.revision} fails{why}", WARNING)
            return True  # the database is still at R: go on from there
        walk.report.findings.append(failure_finding("downgrade", revision, exc, walk.project))
        walk.rebuild([*applied, revision])
        return True
    if walk.fingerprint() != before:
        lines = _explain(walk, applied)
        walk.finding(
            "roundtrip",
            revision,
            f"downgrade of {revision.revision} does not restore the schema it started from{why}:"
            + _format(lines),
            severity,
        )
        walk.rebuild([*applied, revision])
        return True

    try:
        walk.timed("re-upgrade", revision, walk.migrator.upgrade)
    except Exception as exc:
        error = failure_finding("roundtrip", revision, exc, walk.project)
        walk.finding(
            "roundtrip",
            revision,
            f"upgrade of {revision.revision} fails after its own downgrade: "
            + error.message.split(": ", 1)[1]
            + " (the downgrade leaves something behind that the upgrade creates)",
            line=error.line,
        )
        walk.rebuild([*applied, revision])
        return True
    if walk.fingerprint() != after:
        lines = _explain(walk, [*applied, revision])
        walk.finding(
            "roundtrip",
            revision,
            f"upgrade of {revision.revision} after its downgrade builds a different schema:" + _format(lines),
        )
        walk.rebuild([*applied, revision])
    return True


def _upgrade(walk: Walk, revision: Script, held: dict[int, data.TableData]) -> str | None:
    """Upgrade with rows in place; on failure, tell a row-caused failure from any other.

    Returns "with rows", "emptied" (it passed only once the tables were emptied) or None.
    """
    try:
        walk.timed("upgrade", revision, walk.migrator.upgrade)
        return "with rows"
    except Exception as exc:
        first = failure_finding("upgrade", revision, exc, walk.project)
    if not any(t.rows for t in held.values()):
        walk.report.findings.append(first)
        return None
    with walk.migrator.idle() as connection:
        data.truncate_all(connection)
    try:
        walk.timed("upgrade", revision, walk.migrator.upgrade)
    except Exception as exc:
        walk.report.findings.append(failure_finding("upgrade", revision, exc, walk.project))
        return None
    cause = first.message.split(": ", 1)[1]
    walk.report.findings.append(
        Finding(
            "upgrade",
            ERROR,
            revision.revision,
            f"upgrade of {revision.revision} fails when the tables hold rows "
            f"(it passes on empty tables): {cause}",
            first.path,
            first.line,
        )
    )
    return True


def _data_loss(
    walk: Walk, revision: Script, held: dict[int, data.TableData], now: dict[int, data.TableData]
) -> None:
    declared = declarations.of_file(revision.path).get("data-loss")
    if declared and declared.reason:
        return
    by_name = {table.name: table for table in now.values()}
    losses = []
    for oid, before in held.items():
        if not before.rows:
            continue
        after = now.get(oid) or by_name.get(before.name)
        if after is None:
            losses.append(f"drops table {before.name}, which held {before.rows} rows")
            continue
        if after.rows < before.rows:
            losses.append(f"deletes {before.rows - after.rows} of {before.rows} rows from {before.name}")
        for attnum, (column, non_null) in before.columns.items():
            if non_null and attnum not in after.columns:
                losses.append(f"drops column {before.name}.{column}, which held data")
    for loss in losses:
        hint = "; declare it in the revision file with '# mks-db: data-loss: <reason>' if intended"
        walk.finding("data-loss", revision, f"upgrade of {revision.revision} {loss}{hint}")


def _reported(walk: Walk, revision: Script) -> bool:
    """Whether ``revision``'s downgrade already has a finding (the walk back repeats it)."""
    return any(
        f.revision == revision.revision and f.check in ("downgrade", "roundtrip")
        for f in walk.report.findings
    )


def _explain(walk: Walk, expected_revisions: list[Script]) -> list[str]:
    """Diff the current schema against ``expected_revisions`` rebuilt in a second database."""
    with walk.migrator.idle() as connection:
        actual = catalog.snapshot(connection)
    with (
        _reference(walk, expected_revisions) as url,
        Migrator(walk.project, url) as reference,
        reference.idle() as connection,
    ):
        expected = catalog.snapshot(connection)
    return catalog.diff(expected, actual)


@contextlib.contextmanager
def _reference(walk: Walk, revisions: list[Script]) -> Iterator[URL]:
    with scratch_database(walk.server, "reference") as url:
        with Migrator(walk.project, url) as migrator:
            for revision in revisions:
                migrator.upgrade(revision)
        yield url


def _format(lines: list[str]) -> str:
    shown = lines[:MAX_DIFF_LINES]
    more = len(lines) - len(shown)
    return "\n  " + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")


def _down_to_base(walk: Walk, applied: list[Script], empty: str) -> None:
    for revision in reversed(applied):
        try:
            walk.timed("downgrade", revision, walk.migrator.downgrade)
        except Exception as exc:
            declared = declarations.of_file(revision.path).get("irreversible")
            if not (declared and declared.reason) and not _reported(walk, revision):
                walk.report.findings.append(failure_finding("downgrade", revision, exc, walk.project))
            return
    if walk.fingerprint() != empty and not any(_reported(walk, r) for r in applied):
        with walk.migrator.idle() as connection:
            leftovers = catalog.diff({}, catalog.snapshot(connection))
        irreversible = [r.revision for r in applied if declarations.of_file(r.path).get("irreversible")]
        walk.finding(
            "roundtrip",
            applied[0],
            "downgrading every revision to base leaves objects behind"
            + (f" (irreversible: {', '.join(irreversible)})" if irreversible else "")
            + ":"
            + _format(leftovers),
            WARNING if irreversible else ERROR,
        )


def failure_finding(check: str, revision: Script, exc: BaseException, project: Project) -> Finding:
    """A finding naming the revision, the step and the database's (or Python's) error."""
    error = describe_db_error(exc) if isinstance(exc, DBAPIError) else f"{type(exc).__name__}: {exc}"
    return Finding(
        check=check,
        severity=ERROR,
        revision=revision.revision,
        message=f"{check} of {revision.revision} failed: {error}",
        path=project.relpath(revision.path),
        line=_line_in(revision.path, exc),
    )


def _line_in(path: str, exc: BaseException) -> int | None:
    """The line of ``path`` where ``exc`` passed through, if it did."""
    target = Path(path).resolve()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == target:
            return frame.lineno
    return None
