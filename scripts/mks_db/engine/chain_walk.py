"""The walk over a chain: its revisions in order, in parts walked at once (one process each,
``mks_db.engine.workers``), each part in a scratch database of its own (``engine.walk.Walk``)
that starts upgraded through the revisions before it, goes up one revision at a time and at the
end back down.

Each revision goes through ``engine.revision_steps`` (a ``Program``: see ``engine.walk``); the
walk's moments, a part's start that cannot be reached among them, go to ``judge`` (the checks
of kind ``walk``: ``mks_db.checks.judge``). This module only walks: it splits the chain, runs
the parts, tells the progress line, and joins what they found.

A part starts from a database upgraded from base through the revisions before it (without
rows, without checks), walks its revisions, and at the end downgrades them and must be back at
the schema it started from. Together the parts check what one walk would, in about the time of
the longest part.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from alembic.script import Script

from mks_db.database.server import Server, drop_scratch_databases
from mks_db.engine import data, workers
from mks_db.engine.evidence import StartFailed
from mks_db.engine.migrate import Migrator, at_revisions, keep_template
from mks_db.engine.project import Project
from mks_db.engine.revision_steps import Judge, revision_steps, walk_down
from mks_db.engine.walk import Program, Walk
from mks_db.findings import Finding, ReportedStep
from mks_db.limits import MIN_PART

# Splitting the walk: a part's way to its start (a plain upgrade step per revision before it,
# then generated rows for every table at once) costs about 0.3 of a walked revision each,
# measured on bench/make_chain.py's chains; parts are of at least MIN_PART revisions (limits).
PREFIX_COST = 0.3


class Progress(Protocol):
    """Where the walk says how far it is (``report.progress.Progress`` on a terminal)."""

    def say(self, text: str) -> None: ...  # the live line: the revision being checked
    def line(self, text: str) -> None: ...  # a line kept above it: a revision's verdict


@dataclass
class Walked:
    """What the walk found: its findings and steps, how many revisions it walked, and the time
    bounds env.py set on its migrating session (see ``Migrator.project_timeouts``; None when
    env.py never ran)."""

    findings: list[Finding]
    steps: list[ReportedStep]
    revisions: int
    project_timeouts: set[str] | None


def walk_chain(
    project: Project,
    server: Server,
    judge: Judge,
    with_data: bool = True,
    at_head: Callable[[Migrator], list[Finding]] | None = None,
    jobs: int | None = None,
    new: set[str] | None = None,
    progress: Progress | None = None,
) -> Walked:
    """Walk the revisions of ``project``, judged by ``judge``.

    ``with_data``: generated rows in every table (``Walk``). ``at_head`` runs once every
    revision is applied, before the walk back down; its findings join the walk's. ``jobs`` is
    the most parts walked at once (default: see ``split``). ``new``: walk only from the first
    of these revisions on (a pull request's): the revisions before it are reached with one plain
    upgrade, and the walk back down must end at their schema; None walks every revision.
    ``progress`` shows each revision as its check begins.
    """
    order = project.revisions_in_order()
    start = walk_start(project, server, new)
    # What the base held, for the data-loss check (which judges only with rows).
    released = None if new is None or not with_data else names_at(project, server, order[:start])
    if start == len(order):  # nothing new: the models are still compared at head
        parts = [Part(start, start)]
    else:
        parts = [Part(start + p.start, start + p.stop) for p in split(len(order) - start, jobs)]
    marker = f"_{uuid.uuid4().hex[:8]}" if len(parts) > 1 else ""
    told = _Told(order, progress)

    def task(part: Part) -> Callable[[], PartOutcome]:
        walker = _PartWalk(judge, order, part, at_head if part.stop == len(order) else None, told)
        # One part runs in this process: the kept databases are its own.
        return lambda: walker.run(Walk(project, server, with_data, marker, len(parts) == 1), released)

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


def names_at(project: Project, server: Server, revisions: list[Script]) -> frozenset[str]:
    """The tables (``schema.table``) and columns (``schema.table.column``) of the database at
    ``revisions`` (none for no revision): where production at those revisions can hold data."""
    if not revisions:
        return frozenset()
    with at_revisions(project, server, revisions, "release") as migrator:
        tables = data.read_tables(migrator.connection, foreign_keys=False).values()
    return frozenset(
        {t.name for t in tables} | {f"{t.name}.{c.name}" for t in tables for c in t.columns.values()}
    )


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


class _Told:
    """The progress line's two messages: a revision reached, a revision judged."""

    def __init__(self, order: list[Script], progress: Progress | None) -> None:
        self.position = {r.revision: i for i, r in enumerate(order, 1)}
        self.total = len(order)
        self.progress = progress

    def reached(self, revision: str) -> None:
        if self.progress:
            self.progress.say(f"revision {self.position[revision]} of {self.total}: {revision}")

    def judged(self, revision: str, findings: list[Finding]) -> None:
        if self.progress and findings:  # a revision with findings keeps its line above the live one
            kinds = sorted({f"{f.severity} {f.check}" for f in findings})
            self.progress.line(f"{revision}: {', '.join(kinds)}")


@dataclass
class _PartWalk:
    """The walk of one part (``order[part.start:part.stop]``), judged by ``judge``; ``at_head``
    for the last part only."""

    judge: Judge
    order: list[Script]
    part: Part
    at_head: Callable[[Migrator], list[Finding]] | None
    told: _Told

    def run(self, walk: Walk, released: frozenset[str] | None) -> PartOutcome:
        """Walk the part in ``walk``'s scratch database (in any process: ``walk.own_base`` in the
        one that keeps the server's databases, which this walk may take over and hand back);
        ``released``: see ``Walk.released``."""
        found: list[Finding] = []
        with walk:
            walk.released = released
            blocked = not self._through(walk, found)
            steps = [ReportedStep(o.revision.revision, o.action, o.seconds, o.ok) for o in walk.log]
            return PartOutcome(found, steps, blocked, walk.project_timeouts)

    def _through(self, walk: Walk, found: list[Finding]) -> bool:
        """Up and back down, the findings added to ``found``; False when the part's start could
        not be reached."""
        applied = self.order[: self.part.start]
        failure = walk.rebuild(applied)
        if failure is not None:
            found += self.judge(StartFailed(walk=walk, revision=failure.revision, failure=failure))
            return False
        start = walk.snapshot(), walk.fingerprint
        revisions = self.order[self.part.start : self.part.stop]
        if not walk.drive(self._up(walk, revisions, applied, found)):
            return True
        if self.at_head:
            found += self.at_head(walk.migrator)
        below = self.order[self.part.start - 1] if self.part.start else None
        walk_down(walk, revisions, start, below, self.judge, found)
        if walk.fingerprint == start[1]:
            walk.give_back()
        return True

    def _up(
        self, walk: Walk, revisions: list[Script], applied: list[Script], found: list[Finding]
    ) -> Program[bool]:
        """``revision_steps`` for each of ``revisions``, appended to ``applied`` as they pass;
        False when the walk cannot go on.

        As long as the revisions pass, their steps follow one another in one env.py run (when
        env.py allows): each one's rows are generated between the previous one's last step and
        its own first. A failure ends the run; the walk judges it and goes on in a new one.
        """
        beyond = self.order[self.part.stop :]  # the revisions after these, which other parts walk
        for index, revision in enumerate(revisions):
            self.told.reached(revision.revision)
            findings: list[Finding] = []
            later = revisions[index + 1 :] + beyond
            goes_on = yield from revision_steps(walk, revision, applied, later, self.judge, findings)
            found += findings
            self.told.judged(revision.revision, findings)
            if not goes_on:
                return False
            applied.append(revision)
        return True
