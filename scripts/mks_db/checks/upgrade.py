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

How it is judged (the walk's moment ``UpgradeFailed``, see ``engine.revision_steps``): with
rows in place, the walk empties the tables and tries the upgrade again. Passing then, it fails
because of the rows: an error when a constraint refused them (the schema change cannot
be applied to a table with data), a warning when the revision's own code choked on a generated
value. A failure raised in the application's code that the revision calls, rather than by the
database or the revision, is a warning (``failure_finding``). The chain's first revision
altering objects nobody created is an error, as ``alembic upgrade head`` on a fresh database
fails the same way; an application that creates them itself declares that schema
(``[tool.mks-db] base-metadata``) and the chain is checked on it. A revision that cannot be
upgraded on its own is reached the way ``alembic upgrade head`` reaches it, in one run with the
revisions before it, so that the walk checks the ones after it; when even that fails, the rest
are named as unchecked.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from dataclasses import replace
from pathlib import Path

import alembic
import sqlalchemy
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mks_db.engine.evidence import Moment, NotUpgraded, RebuildFailed, StartFailed, UpgradeFailed
from mks_db.engine.project import Project
from mks_db.engine.walk import StepFailure, sqlstate
from mks_db.findings import ERROR, WARNING, Finding, at_most

GO_ON = " (upgrading a fresh database from base, to go on after the finding above)"
PART_START = " (upgrading a fresh database from base, where this part of the walk starts)"
ONE_RUN = (
    " (it passes when upgraded in one run with the revisions before it, as `alembic upgrade head` "
    "does: it fails only when run apart from its parent)"
)


def judge(project: Project, evidence: Moment) -> list[Finding]:
    """An upgrade that failed (``UpgradeFailed``), a fresh database that could not be upgraded
    to go on after a finding (``RebuildFailed``) or to a part's start (``StartFailed``)."""
    match evidence:
        case UpgradeFailed():
            return _failed(project, evidence)
        case RebuildFailed(failure=failure):
            return _past(project, evidence, [failure_finding("upgrade", failure, project, GO_ON)])
        case StartFailed(failure=failure):
            return [failure_finding("upgrade", failure, project, PART_START)]
    return []


def _failed(project: Project, moment: UpgradeFailed) -> list[Finding]:
    """The finding on an upgrade that failed with rows in place, by what the walk tried next."""
    first = failure_finding("upgrade", moment.failure, project)
    retried = moment.retried
    if isinstance(retried, StepFailure):  # it fails on empty tables too
        return _past(project, moment, [failure_finding("upgrade", retried, project)])
    if retried is not None:  # it passes on empty tables: the rows were the cause
        return [_rows_caused(moment.failure, first, moment.handed)]
    outside = moment.outside
    return _past(project, moment, [_made_outside_the_chain(first, outside) if outside is not None else first])


def _past(project: Project, moment: NotUpgraded, found: list[Finding]) -> list[Finding]:
    """``found``, saying so when the revision passes in one run with the revisions before it;
    when it does not, a warning naming the later revisions left unchecked."""
    if moment.one_run:
        return [replace(f, message=f.message + ONE_RUN) for f in found]
    if not moment.later:
        return found
    revision = moment.revision
    names = ", ".join(at_most([r.revision for r in moment.later], 10))
    why = (
        "ran past the time bound"
        if moment.timed_out
        else "cannot be upgraded, not even in one run with the revisions before it"
    )
    message = f"{len(moment.later)} later revisions were not checked ({names}): {revision.revision} {why}"
    return [*found, Finding("upgrade", WARNING, revision.revision, message, project.relpath(revision.path))]


def _made_outside_the_chain(first: Finding, placeholders: tuple[str, ...]) -> Finding:
    """``first``, saying why, when the upgrade failed on an object the chain never creates: the
    chain begins with revisions that do nothing, ``placeholders`` (a warning: they stand for a
    schema made outside the migrations, the application's create_all and stamp, which no empty
    database has), or, with none, its first revision alters such an object (``alembic upgrade
    head`` on a fresh database fails the same way). A base the application creates itself is
    declared with base-metadata, and the chain checked on it."""
    if placeholders:
        return replace(
            first,
            severity=WARNING,
            message=first.message + f" (the revisions before it, {', '.join(placeholders)}, do "
            "nothing: the chain starts from a schema its migrations do not create, so it cannot "
            "be checked from an empty database; if the application creates that schema itself, "
            'declare it in [tool.mks-db] base-metadata = "package.module:metadata")',
        )
    return replace(
        first,
        message=first.message + " (the chain's first revision expects objects created "
        "outside its migrations: alembic upgrade head fails on a fresh database; if the "
        "application creates them itself, declare that schema in [tool.mks-db] "
        'base-metadata = "package.module:metadata" and every revision is checked on it)',
    )


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


def structural(failure: StepFailure) -> bool:
    """Whether a failure with rows in place is the schema's (a constraint refused the rows:
    SQLSTATE class 23, NOT NULL, unique, foreign key, check, exclusion), not the content's
    (the revision's code or a cast choking on a generated value)."""
    return failure.sqlstate.startswith("23")


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
