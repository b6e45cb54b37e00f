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

This module also runs the walk that every database check of a revision shares (``roundtrip``),
in one scratch database (``engine.walk.Walk``), in topological order (branches and merge points
included), one revision at a time on one reused connection. One revision R goes through
``_check_revision``, top to bottom:

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
At the end everything is downgraded to base, which must leave the database as it started.

A long chain is walked in parts at once, one process each (``mks_db.engine.workers``): a part
starts from a database upgraded from base through the revisions before it (without rows,
without checks), walks its revisions as above, and at the end downgrades them and must be back
at the schema it started from. Together the parts check what one walk would, in about the time
of the longest part.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from alembic.script import Script

from mks_db.checks import data_loss, downgrade, upgrade
from mks_db.database import interrupt
from mks_db.database.server import Server, drop_scratch_databases
from mks_db.engine import catalog, declarations, revision_source, workers
from mks_db.engine.migrate import Migrator, keep_template
from mks_db.engine.project import Project
from mks_db.engine.walk import END_RUN, Program, Step, StepFailure, Walk, describe
from mks_db.errors import MksDbError
from mks_db.findings import ERROR, WARNING, Finding, ReportedStep, at_most

MAX_DIFF_LINES = 40
# Splitting the walk: a part's way to its start (a plain upgrade step per revision before it,
# then generated rows for every table at once) costs about 0.3 of a walked revision each,
# measured on bench/make_chain.py's chains; below MIN_PART revisions a part saves less time
# than its process and scratch database cost.
PREFIX_COST = 0.3
MIN_PART = 20
GO_ON = " (upgrading a fresh database from base, to go on after the finding above)"
PART_START = " (upgrading a fresh database from base, where this part of the walk starts)"


class Progress(Protocol):
    """Where the walk says how far it is (``report.progress.Progress`` on a terminal)."""

    def say(self, text: str) -> None: ...  # the live line: the revision being checked
    def line(self, text: str) -> None: ...  # a line kept above it: a revision's verdict


@dataclass
class Walked:
    """What the roundtrip walk found: its findings and steps, how many revisions it walked, and
    the time bounds env.py set on its migrating session (see ``Migrator.project_timeouts``;
    None when env.py never ran)."""

    findings: list[Finding]
    steps: list[ReportedStep]
    revisions: int
    project_timeouts: set[str] | None


def roundtrip(
    project: Project,
    server: Server,
    with_data: bool = True,
    at_head: Callable[[Migrator], list[Finding]] | None = None,
    jobs: int | None = None,
    new: set[str] | None = None,
    progress: Progress | None = None,
) -> Walked:
    """Run the roundtrip walk over the revisions of ``project``.

    ``at_head`` runs once every revision is applied, before the walk back down; its findings
    join the walk's. ``jobs`` is the most parts walked at once (default: see ``split``).
    ``new``: walk only from the first of these revisions on (a pull request's): the revisions
    before it are reached with one plain upgrade, and the walk back down must end at their
    schema; None walks every revision. ``progress`` shows each revision as its check begins.
    """
    order = project.revisions_in_order()
    start = walk_start(project, server, new)
    released = None if new is None else data_loss.names_at(project, server, order[:start])
    if start == len(order):  # nothing new: the models are still compared at head
        parts = [Part(start, start)]
    else:
        parts = [Part(start + p.start, start + p.stop) for p in split(len(order) - start, jobs)]
    marker = f"_{uuid.uuid4().hex[:8]}" if len(parts) > 1 else ""

    position = {r.revision: i for i, r in enumerate(order, 1)}

    def reached(revision: str) -> None:
        if progress:
            progress.say(f"revision {position[revision]} of {len(order)}: {revision}")

    def judged(revision: str, findings: list[Finding]) -> None:
        if progress and findings:  # a revision with findings keeps its line above the live one
            kinds = sorted({f"{f.severity} {f.check}" for f in findings})
            progress.line(f"{revision}: {', '.join(kinds)}")

    def task(part: Part) -> Callable[[], PartOutcome]:
        last = part.stop == len(order)
        return lambda: _walk_part(
            project,
            server,
            order,
            part,
            with_data,
            at_head if last else None,
            marker,
            reached,
            judged,
            len(parts) == 1,  # one part runs in this process: the kept databases are its own
            released,
        )

    def sweep() -> None:  # what a worker killed outright could not drop
        drop_scratch_databases(server, marker)

    outcomes = workers.run_all([task(part) for part in parts], sweep if marker else None)
    return _joined(outcomes, len(order) - start)


def _joined(outcomes: list[PartOutcome], revisions: int) -> Walked:
    """The parts' ``outcomes`` as one walk of ``revisions``: a part that could not reach its
    start is left out when a part before it found why the chain does not upgrade."""
    walked = Walked([], [], revisions, None)
    earlier_upgrade_findings = False
    for outcome in outcomes:
        if outcome.blocked and earlier_upgrade_findings:
            continue  # a part before it found why the chain does not upgrade
        walked.findings += outcome.findings
        walked.steps += outcome.steps
        earlier_upgrade_findings = earlier_upgrade_findings or any(
            f.check == "upgrade" for f in outcome.findings
        )
    walked.project_timeouts = next(
        (o.project_timeouts for o in outcomes if o.project_timeouts is not None), None
    )
    return walked


def walk_start(project: Project, server: Server, new: set[str] | None) -> int:
    """Where a walk of the ``new`` revisions starts (an index into the revisions in order; 0
    for every revision when ``new`` is None), with the database at the revisions before it
    kept by ``server``: the walk takes it over and hands it back, for the lock analysis."""
    order = project.revisions_in_order()
    if new is None:
        return 0
    start = min((i for i, r in enumerate(order) if r.revision in new), default=len(order))
    if start:
        keep_template(project, server, order[:start])
    return start


@dataclass(frozen=True)
class Part:
    """Revisions ``order[start:stop]``, walked in a database upgraded through ``order[:start]``."""

    start: int
    stop: int


@dataclass
class PartOutcome:
    """What walking one part found; ``blocked`` when its database could not be upgraded to its start."""

    findings: list[Finding] = field(default_factory=list)
    steps: list[ReportedStep] = field(default_factory=list)
    blocked: bool = False
    project_timeouts: set[str] | None = None  # as measured on its migrating session


def split(count: int, jobs: int | None = None) -> list[Part]:
    """The walk of ``count`` revisions in at most ``jobs`` parts that take about as long each.

    By default one part per CPU, each of at least ``MIN_PART`` revisions (one part where
    processes cannot be forked). Every part but the first also upgrades plainly through the
    revisions before it, at ``PREFIX_COST`` of a walked revision each, so later parts are shorter.
    """
    if not workers.available():
        jobs = 1
    elif jobs is None:
        jobs = min(workers.cpus(), count // MIN_PART)
    jobs = max(1, min(jobs, count))
    # Part k costs PREFIX_COST * start_k + length_k, in walked revisions: equal for every k.
    lengths, start = [], 0.0
    for _ in range(jobs):
        lengths.append(1 - PREFIX_COST * start)
        start += lengths[-1]
    bounds = [0]
    for k in range(1, jobs + 1):  # at least one revision per part
        ideal = round(count * sum(lengths[:k]) / start)
        bounds.append(min(max(ideal, bounds[-1] + 1), count - (jobs - k)))
    return [Part(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def _walk_part(
    project: Project,
    server: Server,
    order: list[Script],
    part: Part,
    with_data: bool,
    at_head: Callable[[Migrator], list[Finding]] | None,
    marker: str,
    reached: Callable[[str], None],
    judged: Callable[[str, list[Finding]], None],
    own_base: bool = False,
    released: frozenset[str] | None = None,
) -> PartOutcome:
    """Walk ``order[part.start:part.stop]`` in a scratch database of its own (in any process;
    ``own_base``: in the one that keeps the server's databases, which this walk may take over
    and hand back). ``reached`` is told each revision as its check begins, ``judged`` its
    findings once they are made; ``released``: see ``Walk.released``."""
    found: list[Finding] = []
    with Walk(project, server, with_data, marker, own_base) as walk:
        walk.released = released
        blocked = not _walk_through(walk, order, part, at_head, found, reached, judged)
        steps = [ReportedStep(o.revision.revision, o.action, o.seconds, o.ok) for o in walk.log]
        return PartOutcome(found, steps, blocked, walk.project_timeouts)


def _walk_through(
    walk: Walk,
    order: list[Script],
    part: Part,
    at_head: Callable[[Migrator], list[Finding]] | None,
    found: list[Finding],
    reached: Callable[[str], None],
    judged: Callable[[str, list[Finding]], None],
) -> bool:
    """The walk of one part, up and back down, its findings added to ``found``; False when its
    start could not be reached."""
    applied = order[: part.start]
    if not _rebuild(walk, applied, found, PART_START):
        return False
    start = walk.snapshot(), walk.fingerprint
    revisions, beyond = order[part.start : part.stop], order[part.stop :]
    if not walk.drive(_walk_up(walk, revisions, applied, beyond, found, reached, judged)):
        return True
    if at_head:
        found += at_head(walk.migrator)
    _walk_down(walk, revisions, start, order[part.start - 1] if part.start else None, found)
    if walk.fingerprint == start[1]:
        walk.give_back()
    return True


def _walk_up(
    walk: Walk,
    revisions: list[Script],
    applied: list[Script],
    beyond: list[Script],
    found: list[Finding],
    reached: Callable[[str], None],
    judged: Callable[[str, list[Finding]], None],
) -> Program[bool]:
    """``_check_revision`` for each of ``revisions``, appended to ``applied`` as they pass;
    False when the walk cannot go on (``beyond``: the revisions after these, which other parts
    walk).

    As long as the revisions pass, their steps follow one another in one env.py run (when
    env.py allows): each one's rows are generated between the previous one's last step and its
    own first. A failure ends the run; the walk judges it and goes on in a new one.
    """
    for index, revision in enumerate(revisions):
        reached(revision.revision)
        findings: list[Finding] = []
        later = revisions[index + 1 :] + beyond
        goes_on = yield from _check_revision(walk, revision, applied, later, findings)
        found += findings
        judged(revision.revision, findings)
        if not goes_on:
            return False
        applied.append(revision)
    return True


def _check_revision(
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


def _rebuild(walk: Walk, revisions: list[Script], found: list[Finding], note: str = GO_ON) -> bool:
    """Go on from a fresh database at ``revisions``; False (with a finding) if that fails."""
    failure = walk.rebuild(revisions)
    if failure is None:
        return True
    found.append(upgrade.failure_finding("upgrade", failure, walk.project, note))
    return False


def _walk_down(
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
