"""The roundtrip check: every revision's downgrade restores exactly the schema its upgrade
started from, and its upgrade, run again, builds exactly the same schema.

**The problem.** A downgrade that runs without error but does not restore the schema: it
leaves an index, an enum type or a default behind, or renames a table instead of dropping it.
The next upgrade, or the next developer's autogenerate, then trips over the leftovers. It also
catches an upgrade that is not repeatable after its own downgrade, such as a seed ``INSERT``
whose rows the downgrade never removes.

**Unsafe**::

    def upgrade():
        op.create_index("ix_account_email", "account", ["email"])

    def downgrade():
        pass

**Safe**: drop everything the upgrade created, and make data changes idempotent::

    def downgrade():
        op.drop_index("ix_account_email", table_name="account")

Each revision is judged in the walk that every database check of a revision shares
(``engine.chain_walk``: in order, branches and merge points included, in parts at once), in one
scratch database (``engine.walk.Walk``), one revision at a time on one reused connection. This
module is that walk's ``Judge``. One revision R goes through ``check_revision``, top to bottom:

1. every empty table is filled with a few generated rows (``data_loss.fill_empty_tables``);
2. R is upgraded; if that fails, the tables are emptied and R is tried again: success then
   means the upgrade fails only because rows exist (``upgrade.without_rows``);
3. the rows are recounted: rows deleted, and tables or columns dropped while holding data, are
   ``data-loss`` unless the revision file declares the loss (``data_loss.findings``);
4. R is downgraded: it must not raise (``downgrade.failed``) and the schema must equal the one
   before step 2; then R is upgraded again, which must pass and give the schema after step 2.

The schema is followed by ``catalog.Tracker`` and the rows by ``data.Rows``, both of which
re-read only what a step changed, so the walk costs time in proportion to the chain, not to
its square. A difference is explained object by object from full snapshots, built only then:
the expected state is rebuilt in a second scratch database. After a finding the walk goes on
from a freshly rebuilt database, so one bad revision does not hide the next one's problems.
At the end everything is downgraded to base, which must leave the database as it started
(``walk_down``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from alembic.script import Script

from mks_db.checks import data_loss, downgrade, upgrade
from mks_db.database import interrupt
from mks_db.database.server import Server
from mks_db.engine import catalog, declarations, revision_source
from mks_db.engine.chain_walk import Judge, Progress, Walked, walk_chain
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import Project
from mks_db.engine.walk import END_RUN, Program, Step, StepFailure, Walk, describe
from mks_db.errors import MksDbError
from mks_db.findings import ERROR, WARNING, Finding, at_most

MAX_DIFF_LINES = 40
GO_ON = " (upgrading a fresh database from base, to go on after the finding above)"
PART_START = " (upgrading a fresh database from base, where this part of the walk starts)"


def roundtrip(
    project: Project,
    server: Server,
    with_data: bool = True,
    at_head: Callable[[Migrator], list[Finding]] | None = None,
    jobs: int | None = None,
    new: set[str] | None = None,
    progress: Progress | None = None,
) -> Walked:
    """The walk over ``project``'s revisions (``chain_walk.walk_chain``, whose arguments these
    are), judged by this check."""
    return walk_chain(project, server, JUDGE, with_data, at_head, jobs, new, progress)


def check_revision(
    walk: Walk, revision: Script, applied: list[Script], later: list[Script], found: list[Finding]
) -> Program[bool]:
    """Steps 1-4 (see the module's docstring) for ``revision``, at a database at ``applied``; its
    findings go to ``found``. Returns whether the walk goes on past it (to ``later``): from the
    database as the steps left it, or rebuilt after a finding."""
    declared = declarations.of_file(revision.path)
    found += data_loss.fill_empty_tables(walk, revision)
    before = walk.fingerprint

    upgraded = yield Step("upgrade", revision)
    if isinstance(upgraded, StepFailure):
        if not (yield from upgrade.without_rows(walk, upgraded, found)):
            if not upgrade.reach_in_one_run(walk, revision, applied, later, bool(upgraded.time_bound), found):
                return False
            return (yield from _downgrade_once_reached(walk, revision, applied, found))
        after = walk.fingerprint
    else:
        held = walk.recount()  # what the tables the upgrade changed held before it
        found += data_loss.findings(walk, revision, held, upgraded.written, declared)
        after = upgraded.fingerprint

    downgraded = yield Step("downgrade", revision)
    reupgraded = None
    if isinstance(downgraded, StepFailure):
        finding, goes_on_from_here = downgrade.failed(walk.project, downgraded, declared)
        found.append(finding)
        if goes_on_from_here:  # the database is still at the revision: go on from there
            return True
    elif downgraded.fingerprint != before:
        yield END_RUN
        irreversible = declared.accepted("irreversible")
        message = (
            f"downgrade of {revision.revision} does not restore the schema it started from"
            f"{downgrade.irreversible_note(declared)}:" + _explain(walk, applied)
        )
        found.append(_finding(walk, revision, message, WARNING if irreversible else ERROR))
    else:
        reupgraded = yield Step("re-upgrade", revision)
        if isinstance(reupgraded, StepFailure):
            found.append(_reupgrade_failed(walk.project, reupgraded))
        elif reupgraded.fingerprint != after:
            yield END_RUN
            message = f"upgrade of {revision.revision} after its downgrade builds a different schema:"
            found.append(_finding(walk, revision, message + _explain(walk, [*applied, revision])))
        else:
            return True

    # After a finding: go on from a fresh database at the revision, else past it.
    if _rebuild(walk, [*applied, revision], found):
        return True
    first_failure = next((o for o in (upgraded, downgraded, reupgraded) if o and not o.ok), None)
    stopped_by_time = first_failure is not None and first_failure.time_bound is not None
    return upgrade.reach_in_one_run(walk, revision, applied, later, stopped_by_time, found)


def _downgrade_once_reached(
    walk: Walk, revision: Script, applied: list[Script], found: list[Finding]
) -> Program[bool]:
    """``revision`` fails only apart from its parents and was reached in one run with them
    (``upgrade.reach_in_one_run``): its downgrade is judged there too, against the schema the revisions
    before it build; then the walk goes on from the revision, reached again."""
    declared = declarations.of_file(revision.path)
    note = " (reached in one run with the revisions before it, as `alembic upgrade head` does)"
    downgraded = yield Step("downgrade", revision)
    yield END_RUN
    if isinstance(downgraded, StepFailure):
        finding, goes_on_from_here = downgrade.failed(walk.project, downgraded, declared)
        found.append(replace(finding, message=finding.message + note))
        if goes_on_from_here:
            return True
    else:
        differences = catalog.diff(walk.expected_snapshot(applied), walk.snapshot())
        if differences:
            message = (
                f"downgrade of {revision.revision} does not restore the schema it started from"
                f"{downgrade.irreversible_note(declared)}{note}:\n  "
                + "\n  ".join(at_most(differences, MAX_DIFF_LINES))
            )
            found.append(
                _finding(walk, revision, message, WARNING if declared.accepted("irreversible") else ERROR)
            )
    return _rebuild(walk, [*applied, revision], found)


def _reupgrade_failed(project: Project, failure: StepFailure) -> Finding:
    """The finding for an upgrade that fails right after its own downgrade."""
    revision = failure.revision
    return Finding(
        "roundtrip",
        ERROR,
        revision.revision,
        f"upgrade of {revision.revision} fails after its own downgrade: {failure.reason}"
        " (the downgrade leaves something behind that the upgrade creates)",
        project.relpath(revision.path),
        failure.line,
    )


def _explain(walk: Walk, expected_revisions: list[Script]) -> str:
    """The current schema against ``expected_revisions`` rebuilt in a second database, one
    difference a line (at most ``MAX_DIFF_LINES``)."""
    try:
        expected = walk.expected_snapshot(expected_revisions)
    except MksDbError:
        raise
    except Exception as exc:
        interrupt.raise_if_requested()
        return f" (the expected schema could not be rebuilt to show the difference: {describe(exc)})"
    return "\n  " + "\n  ".join(at_most(catalog.diff(expected, walk.snapshot()), MAX_DIFF_LINES))


def part_start_failed(walk: Walk, failure: StepFailure, found: list[Finding]) -> None:
    """A part of the walk could not reach its start: the upgrade that failed."""
    found.append(upgrade.failure_finding("upgrade", failure, walk.project, PART_START))


def _rebuild(walk: Walk, revisions: list[Script], found: list[Finding], note: str = GO_ON) -> bool:
    """Go on from a fresh database at ``revisions``; False (with a finding) if that fails."""
    failure = walk.rebuild(revisions)
    if failure is None:
        return True
    found.append(upgrade.failure_finding("upgrade", failure, walk.project, note))
    return False


def walk_down(
    walk: Walk,
    revisions: list[Script],
    start: tuple[catalog.Snapshot, int],
    below: Script | None,
    found: list[Finding],
) -> None:
    """Downgrade ``revisions`` from the last; the schema must be back at ``start`` (snapshot and
    fingerprint), the schema at ``below`` (base when None)."""
    # Only the end state matters here: it is read once, not after every step.
    failure = walk.run([Step("downgrade", r) for r in reversed(revisions)], track=False)
    walk.reread_schema()
    if failure:
        if not downgrade.reported(found, failure.revision):
            found += downgrade.failed_on_the_way_down(walk.project, failure)
        return
    if walk.fingerprint != start[1] and not any(downgrade.reported(found, r) for r in revisions):
        irreversible = [
            r.revision for r in revisions if declarations.of_file(r.path).accepted("irreversible")
        ]
        what = (
            "downgrading every revision to base leaves objects behind"
            if below is None
            else f"downgrading every revision from head to {below.revision} does not restore its schema"
        )
        differences = catalog.diff(start[0], walk.snapshot())
        message = (
            what
            + (f" (irreversible: {', '.join(irreversible)})" if irreversible else "")
            + ":\n  "
            + "\n  ".join(at_most(differences, MAX_DIFF_LINES))
        )
        found.append(_finding(walk, revisions[0], message, WARNING if irreversible else ERROR))


def _finding(walk: Walk, revision: Script, message: str, severity: str = ERROR) -> Finding:
    """A finding on ``revision``, at the line of the call that names an object its message
    names (``revision_source``)."""
    line = revision_source.line_naming(revision.path, revision_source.names_in(message))
    return Finding(
        "roundtrip", severity, revision.revision, message, walk.project.relpath(revision.path), line
    )


JUDGE = Judge(check_revision, part_start_failed, walk_down)
