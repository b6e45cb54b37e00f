"""The upgrade check: every revision's upgrade passes on a database at its parents that holds
rows.

**The problem.** An upgrade that fails on a real database: it alters an object that does not
exist, it has a typo in raw SQL, or, most often, it only works on empty tables. On a
developer's fresh database ``ADD COLUMN ... NOT NULL`` without a default succeeds; on
production, where the table holds rows, it fails.

**Unsafe**::

    def upgrade():
        op.add_column("account", sa.Column("age", sa.Integer(), nullable=False))

**Safe**: give existing rows a value (a server default, or nullable, backfilled, then NOT
NULL)::

    def upgrade():
        op.add_column("account", sa.Column("age", sa.Integer(), nullable=False, server_default="0"))

How it is judged, once the walk reports an upgrade's failure (``StepFailure``): with rows in
place, the tables are emptied and the upgrade tried again (``without_rows``). Passing then, it
fails because of the rows: an error when a constraint refused them (the schema change cannot
be applied to a table with data), a warning when the revision's own code choked on a generated
value. A failure raised in the application's code that the revision calls, rather than by the
database or the revision, is a warning (``failure_finding``). The chain's first revision
altering objects nobody created is an error, as ``alembic upgrade head`` on a fresh database
fails the same way; an application that creates them itself declares that schema
(``[tool.mks-db] base-metadata``) and the chain is checked on it. A revision that cannot be
upgraded on its own is reached the way ``alembic upgrade head`` reaches it, in one run with the
revisions before it, so that the walk checks the ones after it (``reach_in_one_run``); when even that
fails, the rest are named as unchecked.
"""

from __future__ import annotations

import os
import re
import sysconfig
import traceback
from dataclasses import replace
from pathlib import Path

import alembic
import sqlalchemy
from alembic.script import Script
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mks_db.engine import revision_source
from mks_db.engine.alembic_compat import down_revisions
from mks_db.engine.project import Project
from mks_db.engine.walk import Program, Step, StepFailure, Walk, sqlstate
from mks_db.errors import InfrastructureError
from mks_db.findings import ERROR, WARNING, Finding, at_most

_MISSING_EXTENSION = re.compile(
    r'extension "([^"]+)" is not available|could not open extension control file "[^"]*/([^"/]+)\.control"'
)
# SQLSTATEs of an object that does not exist: undefined table, undefined object, undefined schema
_MISSING_OBJECT = {"42P01", "42704", "3F000"}


def without_rows(walk: Walk, failure: StepFailure, found: list[Finding]) -> Program[bool]:
    """After the upgrade of ``failure.revision`` failed with rows in place: empty the tables and
    try again. Its finding goes to ``found``; returns whether the revision is now upgraded (the
    rows caused the failure), False when it cannot be upgraded at all."""
    revision = failure.revision
    missing = missing_extension(failure)
    if missing:
        raise InfrastructureError(
            f'revision {revision.revision} creates the extension "{missing}", which the scratch '
            f"server does not have, so it cannot be checked there: set DATABASE_URL (or "
            f"--database-url) to a PostgreSQL server that has {missing}, or point MKS_DB_PG_BIN at "
            "PostgreSQL binaries that include it"
        )
    first = failure_finding("upgrade", failure, walk.project)
    outside = _made_outside_the_chain(walk.project, failure, first)
    if outside or not (walk.rows and walk.rows.generated) or failure.time_bound:  # rows are no cause
        found.append(outside or first)
        return False
    # What the revision's code was handed, read again before the generated rows go.
    handed = walk.rows_read_last() if not failure.sqlstate else None
    walk.empty_tables()
    retried = yield Step("upgrade", revision)
    if isinstance(retried, StepFailure):
        found.append(failure_finding("upgrade", retried, walk.project))
        return False
    found.append(_rows_caused(failure, first, handed))
    return True


def _made_outside_the_chain(project: Project, failure: StepFailure, first: Finding) -> Finding | None:
    """``first``, saying why, when the upgrade failed on an object the chain never creates: the
    chain begins with revisions that do nothing (a warning: they stand for a schema made outside
    the migrations, the application's create_all and stamp, which no empty database has), or
    its first revision alters such an object (``alembic upgrade head`` on a fresh database fails
    the same way). A base the application creates itself is declared with base-metadata, and the
    chain checked on it. None for any other failure."""
    if failure.sqlstate not in _MISSING_OBJECT:
        return None
    placeholders = _placeholders_before(project, failure.revision)
    if placeholders:
        return replace(
            first,
            severity=WARNING,
            message=first.message + f" (the revisions before it, {', '.join(placeholders)}, do "
            "nothing: the chain starts from a schema its migrations do not create, so it cannot "
            "be checked from an empty database; if the application creates that schema itself, "
            'declare it in [tool.mks-db] base-metadata = "package.module:metadata")',
        )
    if not down_revisions(failure.revision):
        return replace(
            first,
            message=first.message + " (the chain's first revision expects objects created "
            "outside its migrations: alembic upgrade head fails on a fresh database; if the "
            "application creates them itself, declare that schema in [tool.mks-db] "
            'base-metadata = "package.module:metadata" and every revision is checked on it)',
        )
    return None


def _rows_caused(failure: StepFailure, first: Finding, handed: str | None) -> Finding:
    """The finding on an upgrade that failed with rows and passed on empty tables: an error when
    the schema could not take rows (``structural``), a warning when the revision's own code, or
    a cast it makes, could not take a generated value (with the row it read last, ``handed``)."""
    revision = failure.revision.revision
    if structural(failure):
        message = f"upgrade of {revision} fails when the tables hold rows (it passes on empty tables)"
        severity = ERROR
    else:
        message = (
            f"upgrade of {revision} fails on the generated rows' content, not on the schema "
            "(it passes on empty tables; make sure it handles every value the application writes)"
        )
        severity = WARNING
    message = f"{message}: {failure.reason}"
    if handed:  # a cast's error names the value itself; the revision's own code may not
        message += f" (the row it read last: {handed})"
    return Finding("upgrade", severity, revision, message, first.path, first.line)


def _placeholders_before(project: Project, revision: Script) -> list[str]:
    """The revisions before ``revision``, when it has some and every one of them does nothing
    (``revision_source.does_nothing``); else none."""
    before = project.in_order(project.ancestry(down_revisions(revision)))
    if before and all(revision_source.does_nothing(r.path) for r in before):
        return [r.revision for r in before]
    return []


def missing_extension(failure: StepFailure) -> str | None:
    """The extension a failure says the server lacks (``extension "x" is not available``,
    PostgreSQL 17 and newer, or ``could not open extension control file ".../x.control"``),
    else None."""
    match = _MISSING_EXTENSION.search(failure.reason)
    return next(group for group in match.groups() if group) if match else None


def structural(failure: StepFailure) -> bool:
    """Whether a failure with rows in place is the schema's (a constraint refused the rows:
    SQLSTATE class 23, NOT NULL, unique, foreign key, check, exclusion), not the content's
    (the revision's code or a cast choking on a generated value)."""
    return failure.sqlstate.startswith("23")


def reach_in_one_run(
    walk: Walk,
    revision: Script,
    applied: list[Script],
    later: list[Script],
    stopped_by_time: bool,
    found: list[Finding],
) -> bool:
    """After ``revision`` could not be upgraded on its own, reach it the way ``alembic upgrade
    head`` would, in one env.py run with the revisions before it (``applied``), so the walk
    judges its downgrade there and goes on to the ``later`` revisions; False, with a warning
    naming them as unchecked, when even that fails. ``found``: the revision's findings so far,
    whose upgrade failures then say that it passes in one run."""
    # A revision the time bound stopped would only be waited for again: it is not retried.
    if not stopped_by_time and walk.rebuild([*applied, revision]) is None:
        for index, finding in enumerate(found):  # the same revision passes in one run: say so
            if finding.revision == revision.revision and finding.check == "upgrade":
                found[index] = replace(
                    finding,
                    message=finding.message + " (it passes when upgraded in one run with the revisions "
                    "before it, as `alembic upgrade head` does: it fails only when run apart from its "
                    "parent)",
                )
        return True
    if not later:
        return False
    names = ", ".join(at_most([r.revision for r in later], 10))
    found.append(
        Finding(
            "upgrade",
            WARNING,
            revision.revision,
            f"{len(later)} later revisions were not checked ({names}): {revision.revision} "
            + (
                "ran past the time bound"
                if stopped_by_time
                else "cannot be upgraded, not even in one run with the revisions before it"
            ),
            walk.project.relpath(revision.path),
        )
    )
    return False


def failure_finding(check: str, failure: StepFailure, project: Project, note: str = "") -> Finding:
    """A finding naming the revision, the step and the database's (or Python's) error.

    An error, unless the step failed in the application's own code rather than on the
    database or in the revision (see ``_raised_by_application``): a warning then."""
    raiser = _raised_by_application(failure)
    if raiser:
        note += (
            f" (raised in the application's code, {raiser}, not by the database or the "
            "revision: the revision needs what the application provides when it migrates, "
            "which plain Alembic does not; if the application's own migrate command passes, "
            "this is not a defect)"
        )
    revision = failure.revision
    return Finding(
        check=check,
        severity=WARNING if raiser else ERROR,
        revision=revision.revision,
        message=f"{check} of {revision.revision} failed: {failure.reason}{note}",
        path=project.relpath(revision.path),
        line=failure.line,
    )


# Where a failure is the chain's own: the migration tooling the revision calls (database
# drivers' errors reach it wrapped as SQLAlchemy's).
_TOOLING = tuple(str(Path(module.__file__).resolve().parent) + os.sep for module in (alembic, sqlalchemy))


def _in_standard_library(path: Path) -> bool:
    paths = sysconfig.get_paths()
    installed = (paths["purelib"], paths["platlib"])
    return str(path).startswith(paths["stdlib"]) and not str(path).startswith(installed)


def _raised_by_application(failure: StepFailure) -> str | None:
    """Where the application code that the revision called raised the failure's error (``name()
    in file:line``), when that is neither the database's error nor the revision's own code or the
    migration tooling's: an invariant of the application's runtime (an object its own migrate
    command installs, say) that a plain Alembic run does not meet, which is no proof of a
    defect in the chain. None otherwise (the database refused, or the revision's own code
    failed: a defect)."""
    exc = failure.error
    if isinstance(exc, DBAPIError | SQLAlchemyError) or sqlstate(exc):
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    revision_file = Path(failure.revision.path).resolve()
    in_revision = [i for i, f in enumerate(frames) if Path(f.filename).resolve() == revision_file]
    if not in_revision or in_revision[-1] == len(frames) - 1:
        return None  # not called from the revision (env.py, say), or raised by the revision itself
    innermost = Path(frames[-1].filename).resolve()
    if str(innermost).startswith(_TOOLING) or _in_standard_library(innermost):
        return None  # the tooling or the standard library refusing the revision's arguments
    called = frames[in_revision[-1] + 1]
    return f"{called.name}() in {Path(called.filename).name}:{called.lineno}"
