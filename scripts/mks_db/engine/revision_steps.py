"""One revision's steps in the walk, and the moments the walk's checks judge.

The walk over a chain (``engine.chain_walk``) drives ``revision_steps`` for each revision R, in
one scratch database (``engine.walk.Walk``), one revision at a time on one reused connection:

1. every empty table is filled with a few generated rows (moment ``Filled``);
2. R is upgraded (``Upgraded``, while the database is still at R). If that fails
   (``UpgradeFailed``): on a server without an extension R creates, the walk stops with one
   line; where rows could be the cause, the tables are emptied and R tried again; if it still
   fails, R is reached the way ``alembic upgrade head`` reaches it, in one env.py run with the
   revisions before it, and its downgrade judged there;
3. R is downgraded: it must not raise (``DowngradeFailed``) and the schema must equal the one
   before step 2 (``SchemaDiffers``); then R is upgraded again, which must pass
   (``ReupgradeFailed``) and give the schema after step 2 (``SchemaDiffers``).

After a finding the walk goes on from a freshly rebuilt database at R, so one bad revision does
not hide the next one's problems (``RebuildFailed`` when it cannot). At the end of a part, every
revision is downgraded to where the part began (``walk_down``, moment ``WalkedDown``). The
schema is followed by ``catalog.Tracker`` and the rows by ``data.Rows``, which re-read only what
a step changed; a difference is explained object by object from full snapshots, built only
then, the expected state rebuilt in a second scratch database.

The walk decides where to go on from the steps' outcomes alone; the checks only judge: each
moment goes to ``judge`` (``mks_db.checks.judge`` over the checks of kind ``walk``), and what it
returns joins ``found``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from alembic.script import Script
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt
from mks_db.engine import catalog, declarations, revision_source
from mks_db.engine.alembic_compat import down_revisions
from mks_db.engine.evidence import (
    DowngradeFailed,
    Filled,
    Moment,
    RebuildFailed,
    ReupgradeFailed,
    SchemaDiffers,
    Upgraded,
    UpgradeFailed,
    WalkedDown,
)
from mks_db.engine.project import Project
from mks_db.engine.walk import END_RUN, Program, Step, StepFailure, StepResult, Walk, describe
from mks_db.errors import InfrastructureError, MksDbError
from mks_db.findings import Finding

Judge = Callable[[Moment], list[Finding]]

# How a revision whose upgrade failed was reached after all, if it was (``_upgrade_failed``).
ON_EMPTY_TABLES = "on empty tables"
IN_ONE_RUN = "in one run with the revisions before it"

_MISSING_EXTENSION = re.compile(
    r'extension "([^"]+)" is not available|could not open extension control file "[^"]*/([^"/]+)\.control"'
)
# SQLSTATEs of an object that does not exist: undefined table, undefined object, undefined schema
_MISSING_OBJECT = {"42P01", "42704", "3F000"}


def revision_steps(
    walk: Walk,
    revision: Script,
    applied: list[Script],
    later: list[Script],
    judge: Judge,
    found: list[Finding],
) -> Program[bool]:
    """Steps 1-3 (see the module's docstring) for ``revision``, at a database at ``applied``; the
    findings of its moments go to ``found``. Returns whether the walk goes on past it (to
    ``later``): from the database as the steps left it, or rebuilt after a finding."""
    found += judge(Filled(walk=walk, revision=revision, unfilled=walk.fill_empty_tables()))
    before = walk.fingerprint

    upgraded = yield Step("upgrade", revision)
    if isinstance(upgraded, StepFailure):
        reached = yield from _upgrade_failed(walk, upgraded, applied, later, judge, found)
        if reached == IN_ONE_RUN:
            return (yield from _downgrade_once_reached(walk, revision, applied, judge, found))
        if reached != ON_EMPTY_TABLES:
            return False
        after = walk.fingerprint
    else:
        held = walk.recount()  # what the tables the upgrade changed held before it
        found += judge(Upgraded(walk=walk, revision=revision, outcome=upgraded, held=held))
        after = upgraded.fingerprint

    downgraded = yield Step("downgrade", revision)
    reupgraded = None
    if isinstance(downgraded, StepFailure):
        refused = _refused(revision, downgraded)
        found += judge(DowngradeFailed(walk=walk, revision=revision, failure=downgraded, refused=refused))
        if refused:  # the database is still at the revision: go on from there
            return True
    elif downgraded.fingerprint != before:
        yield END_RUN
        found += judge(_differs(walk, revision, "downgrade", applied))
    else:
        reupgraded = yield Step("re-upgrade", revision)
        if isinstance(reupgraded, StepFailure):
            found += judge(ReupgradeFailed(walk=walk, revision=revision, failure=reupgraded))
        elif reupgraded.fingerprint != after:
            yield END_RUN
            found += judge(_differs(walk, revision, "re-upgrade", [*applied, revision]))
        else:
            return True

    # After a finding: go on from a fresh database at the revision, else past it.
    first_failure = next((o for o in (upgraded, downgraded, reupgraded) if o and not o.ok), None)
    timed_out = first_failure is not None and first_failure.time_bound is not None
    return _go_on(walk, revision, [*applied, revision], later, timed_out, judge, found)


def _upgrade_failed(
    walk: Walk,
    failure: StepFailure,
    applied: list[Script],
    later: list[Script],
    judge: Judge,
    found: list[Finding],
) -> Program[str | None]:
    """After the upgrade of ``failure.revision`` failed with rows in place: where rows could be
    the cause, empty the tables and try again; if it still fails, reach it in one run with the
    revisions before it (``applied``). Judged as ``UpgradeFailed``; returns how the revision was
    reached (``ON_EMPTY_TABLES``, ``IN_ONE_RUN``), None when it was not."""
    revision = failure.revision
    _stop_if_extension_missing(failure)
    outside = _outside_the_chain(walk.project, failure)
    retried = handed = None
    if outside is None and walk.rows and walk.rows.generated and not failure.time_bound:
        # What the revision's code was handed, read again before the generated rows go.
        handed = walk.rows_read_last() if not failure.sqlstate else None
        walk.empty_tables()
        retried = yield Step("upgrade", revision)
    one_run = None
    if not isinstance(retried, StepResult):
        one_run = _in_one_run(walk, [*applied, revision], bool(failure.time_bound))
    found += judge(
        UpgradeFailed(
            walk=walk,
            revision=revision,
            failure=failure,
            outside=outside,
            retried=retried,
            handed=handed,
            one_run=one_run,
            later=later,
            timed_out=bool(failure.time_bound),
        )
    )
    if isinstance(retried, StepResult):
        return ON_EMPTY_TABLES
    return IN_ONE_RUN if one_run else None


def _downgrade_once_reached(
    walk: Walk, revision: Script, applied: list[Script], judge: Judge, found: list[Finding]
) -> Program[bool]:
    """``revision`` fails only apart from its parents and was reached in one run with them: its
    downgrade is judged there too, against the schema the revisions before it build; then the
    walk goes on from the revision, reached again."""
    downgraded = yield Step("downgrade", revision)
    yield END_RUN
    if isinstance(downgraded, StepFailure):
        refused = _refused(revision, downgraded)
        found += judge(
            DowngradeFailed(walk=walk, revision=revision, failure=downgraded, refused=refused, one_run=True)
        )
        if refused:
            return True
    else:
        differences = catalog.diff(walk.expected_snapshot(applied), walk.snapshot())
        if differences:
            found += judge(
                SchemaDiffers(
                    walk=walk, revision=revision, action="downgrade", differences=differences, one_run=True
                )
            )
    return _go_on(walk, revision, [*applied, revision], [], False, judge, found, try_one_run=False)


def _go_on(
    walk: Walk,
    revision: Script,
    revisions: list[Script],
    later: list[Script],
    timed_out: bool,
    judge: Judge,
    found: list[Finding],
    try_one_run: bool = True,
) -> bool:
    """After a finding on ``revision``: go on from a fresh database at ``revisions``; when that
    fails (``RebuildFailed``), with ``try_one_run``, past it in one run with them, to the
    ``later`` revisions. Whether the walk goes on."""
    failure = walk.rebuild(revisions)
    if failure is None:
        return True
    reached = _in_one_run(walk, revisions, timed_out) if try_one_run else None
    found += judge(
        RebuildFailed(
            walk=walk, revision=revision, failure=failure, one_run=reached, later=later, timed_out=timed_out
        )
    )
    return bool(reached)


def _in_one_run(walk: Walk, revisions: list[Script], timed_out: bool) -> bool | None:
    """Whether a fresh database reaches ``revisions`` in one env.py run, as ``alembic upgrade
    head`` would; None, not tried, after a time bound stopped the step (it would only be waited
    for again)."""
    return None if timed_out else walk.rebuild(revisions) is None


def _differs(walk: Walk, revision: Script, action: str, expected: list[Script]) -> SchemaDiffers:
    """The schema after ``action`` against ``expected`` rebuilt in a second database, one
    difference a line."""
    try:
        differences = catalog.diff(walk.expected_snapshot(expected), walk.snapshot())
    except MksDbError:
        raise
    except Exception as exc:
        interrupt.raise_if_requested()
        return SchemaDiffers(
            walk=walk, revision=revision, action=action, differences=[], unexplained=describe(exc)
        )
    return SchemaDiffers(walk=walk, revision=revision, action=action, differences=differences)


def _refused(revision: Script, failure: StepFailure) -> bool:
    """Whether a downgrade that raised refused on purpose, so that the database is still at the
    revision: it is declared irreversible, or it is the chain's first revision raising without
    a database error (no database goes below the base)."""
    if declarations.of_file(revision.path).accepted("irreversible"):
        return True
    return not down_revisions(revision) and not isinstance(failure.error, DBAPIError)


def _outside_the_chain(project: Project, failure: StepFailure) -> tuple[str, ...] | None:
    """When the upgrade failed on an object the chain never creates: the revisions before it,
    which all do nothing (``revision_source.does_nothing``: they stand for a schema made outside
    the migrations), or none when it is the chain's first revision. None for any other failure."""
    if failure.sqlstate not in _MISSING_OBJECT:
        return None
    revision = failure.revision
    before = project.in_order(project.ancestry(down_revisions(revision)))
    if before and all(revision_source.does_nothing(r.path) for r in before):
        return tuple(r.revision for r in before)
    return () if not down_revisions(revision) else None


def _stop_if_extension_missing(failure: StepFailure) -> None:
    """Stop the walk when the upgrade failed for an extension the scratch server lacks
    (``extension "x" is not available``, PostgreSQL 17 and newer, or ``could not open extension
    control file ".../x.control"``): the revision cannot be checked there."""
    match = _MISSING_EXTENSION.search(failure.reason)
    if not match:
        return
    missing = next(group for group in match.groups() if group)
    raise InfrastructureError(
        f'revision {failure.revision.revision} creates the extension "{missing}", which the scratch '
        f"server does not have, so it cannot be checked there: set DATABASE_URL (or "
        f"--database-url) to a PostgreSQL server that has {missing}, or point MKS_DB_PG_BIN at "
        "PostgreSQL binaries that include it"
    )


def walk_down(
    walk: Walk,
    revisions: list[Script],
    start: tuple[catalog.Snapshot, int],
    below: Script | None,
    judge: Judge,
    found: list[Finding],
) -> None:
    """Downgrade ``revisions`` from the last, judged as ``WalkedDown``: the schema must be back
    at ``start`` (snapshot and fingerprint), the schema at ``below`` (base when None)."""
    if not revisions:
        return
    # Only the end state matters here: it is read once, not after every step.
    failure = walk.run([Step("downgrade", r) for r in reversed(revisions)], track=False)
    walk.reread_schema()
    found += judge(
        WalkedDown(
            walk=walk,
            revision=revisions[0],
            revisions=revisions,
            failure=failure,
            start=start,
            below=below,
            earlier=list(found),
        )
    )
