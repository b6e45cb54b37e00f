"""The roundtrip check: every revision upgrades, downgrades to exactly the schema it started
from, and upgrades again to exactly the same schema; rows in existing tables survive.

The walk runs in one scratch database, in topological order (branches and merge points
included), one revision at a time on one reused connection. For each revision R:

1. every empty table is filled with a few generated rows (``mks_db.engine.data``);
2. R is upgraded; if that fails, the tables are emptied and R is tried again: success then
   means the upgrade fails only because rows exist (check ``upgrade``, cause named);
3. rows deleted, and tables or columns dropped while holding data, are ``data-loss`` unless
   the revision file declares the loss (``# mks-db: data-loss: <reason>``);
4. R is downgraded: the schema must equal the one before step 2; then R is upgraded again and
   must equal the one after step 2 (check ``roundtrip``). A revision declared
   ``# mks-db: irreversible: <reason>`` gets a warning instead of an error.

The schema is followed by ``catalog.Tracker`` and the rows by ``data.Rows``, both of which
re-read only what a step changed, so the walk costs time in proportion to the chain, not to
its square. A difference is explained object by object from full snapshots, built only then:
the expected state is rebuilt in a second scratch database. After a failure the walk goes on
from a freshly rebuilt database, so one bad revision does not hide the next one's problems.
At the end everything is downgraded to base, which must leave the database as it started.

A long chain is walked in parts at once, one process each (``mks_db.engine.workers``): a part starts
from a database upgraded from base through the revisions before it (without rows, without
checks), walks its revisions as above, and at the end downgrades them and must be back at the
schema it started from. Together the parts check what one walk would, in about the time of the
longest part.
"""

from __future__ import annotations

import contextlib
import os
import sysconfig
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import alembic
import sqlalchemy
from alembic.script import Script
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mks_db.database import interrupt
from mks_db.database.server import (
    Server,
    describe_error,
    drop_database,
    drop_scratch_databases,
    scratch_database,
)
from mks_db.engine import catalog, data, declarations, workers
from mks_db.engine.alembic_compat import down_revisions
from mks_db.engine.migrate import Migrator, keep_template, replayed_snapshot
from mks_db.engine.project import Project
from mks_db.errors import MksDbError
from mks_db.findings import ERROR, WARNING, Finding
from mks_db.report.model import Report, Step
from mks_db.report.progress import Progress

MAX_DIFF_LINES = 40
# Splitting the walk: a part's way to its start (a plain upgrade step per revision before it,
# then generated rows for every table at once) costs about 0.3 of a walked revision each,
# measured on bench/make_chain.py's chains; below MIN_PART revisions a part saves less time
# than its process and scratch database cost.
PREFIX_COST = 0.3
MIN_PART = 20
GO_ON = " (upgrading a fresh database from base, to go on after the finding above)"
PART_START = " (upgrading a fresh database from base, where this part of the walk starts)"
LOSS_HINT = "; if intended, declare it in the revision file: '# mks-db: data-loss: <reason>'"


class Walk:
    """One roundtrip walk: the scratch database, its migrator and trackers, the report.

    Use as a context manager; ``rebuild`` makes the database.
    """

    def __init__(
        self,
        project: Project,
        server: Server,
        report: Report,
        with_data: bool,
        marker: str = "",
        reached: Callable[[str], None] | None = None,
        judged: Callable[[str, list[Finding]], None] | None = None,
        own_base: bool = False,
    ) -> None:
        self.project = project
        self.server = server
        # Whether this walk may take over the server's kept databases: only in the process
        # that keeps them (a walk in one part), never in a forked part.
        self.own_base = own_base
        self.taken: tuple[tuple[str, ...], str] | None = None
        self.reached = reached or (lambda revision: None)  # told each revision as its check begins
        self.judged = judged or (lambda revision, findings: None)  # ... and its findings once judged
        self.report = report
        self.with_data = with_data
        self.marker = marker  # in the scratch databases' names, so a sweep can find them
        self._stack = contextlib.ExitStack()
        self.migrator: Migrator
        self.schema: catalog.Tracker
        self.rows: data.Rows | None = None
        self.dirty: set[int] = set()  # tables changed since their rows were last counted
        self.tables_before: dict[int, data.Table] = {}  # the recounted tables as they were
        self.event_log: bool | None = None  # whether DDL can be followed by an event trigger
        self.project_timeouts: set[str] | None = None  # the time bounds env.py set itself, once it ran

    def __enter__(self) -> Walk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def give_back(self) -> None:
        """Hand the kept database this walk took over back to the server (call once the walk
        is back at the schema it started from; the generated rows stay): the lock analysis
        that follows takes it over in turn, instead of copying or upgrading anew."""
        if self.taken is None:
            return
        key, name = self.taken
        self.taken = None
        self.server.templates[key] = name  # its connection closes with the walk

    def _drop_taken(self) -> None:
        if self.taken is not None:
            drop_database(self.server, self.taken[1])

    def rebuild(self, applied: list[Script]) -> tuple[Script, Exception] | None:
        """Start (again) from a new scratch database with ``applied`` upgraded, without rows, in
        one env.py run (as ``alembic upgrade head`` builds it).

        Returns the revision whose upgrade failed and the error, else None.
        """
        self._stack.close()
        self._stack = contextlib.ExitStack()
        # The database kept at exactly these revisions: taken over when this walk owns it (the
        # walk then hands it back, see give_back), else copied; without one, a new database.
        key = tuple(r.revision for r in applied)
        template = self.server.templates.get(key)
        self.taken = None
        if template and self.own_base:
            del self.server.templates[key]
            self.taken = key, template
            url = self.server.database_url(template)
            self._stack.callback(self._drop_taken)
        else:
            label = f"roundtrip{self.marker}"
            url = self._stack.enter_context(scratch_database(self.server, label, template))
        self.migrator = self._stack.enter_context(Migrator(self.project, url, self.server.timeouts))
        try:
            if template is None:  # else a copy of the database kept at those revisions
                self.migrator.upgrade(*applied, one_run=True)
        except MksDbError:
            raise
        except Exception as exc:
            interrupt.raise_if_requested()
            return applied[self.migrator.current], exc
        finally:
            self._note_timeouts()
        self._track()
        return None

    def _note_timeouts(self) -> None:
        if self.migrator.project_timeouts is not None:
            self.project_timeouts = self.migrator.project_timeouts

    def _track(self) -> None:
        if self.event_log is None:  # only when env.py migrates on our connection
            self.event_log = self.migrator.probe()
        with self.migrator.idle() as connection:
            self.schema = catalog.Tracker(connection)
            if self.event_log:
                self.schema.use_event_log()
        unfillable = self.rows.unfillable if self.rows else set()
        self.rows = data.Rows(self.migrator.connection) if self.with_data else None
        self.dirty = set()
        if self.rows:
            self.rows.unfillable = unfillable

    def run(
        self,
        steps: list[tuple[str, Script]],
        after: Callable[[str, Script], bool] | None = None,
        track: bool = True,
    ) -> tuple[str, Script, Exception] | None:
        """Run ``(action, revision)`` steps in order, recording each and (if ``track``) bringing
        the trackers up to date after it; then ``after(action, revision)`` may stop the
        sequence (False) or append more steps to ``steps``, which run next, in the same env.py
        run when it allows.

        Returns the action, revision and error of a step that failed, else None.
        """
        clock = {"started": time.perf_counter()}
        migration_steps = [self.migrator.step(a, r) for a, r in steps]

        def done(index: int) -> bool:
            action, revision = steps[index]
            self._record(action, revision, clock["started"], ok=True, track=track)
            go_on = after(action, revision) if after else True
            migration_steps.extend(self.migrator.step(a, r) for a, r in steps[len(migration_steps) :])
            clock["started"] = time.perf_counter()
            return go_on

        try:
            self.migrator.run_steps(migration_steps, done)
        except MksDbError:
            raise
        except Exception as exc:
            interrupt.raise_if_requested()
            action, revision = steps[self.migrator.current]
            self._record(action, revision, clock["started"], ok=False, track=track)
            return action, revision, exc
        finally:
            self._note_timeouts()
        return None

    def _record(self, action: str, revision: Script, started: float, ok: bool, track: bool) -> None:
        self.report.steps.append(Step(revision.revision, action, time.perf_counter() - started, ok))
        if not track:
            return
        with self.migrator.idle():
            self.dirty |= self.schema.refresh() | self.migrator.written

    def recount(self) -> dict[int, data.TableData]:
        """Count the rows of the tables changed since the last count; what they held before."""
        if self.rows is None:
            return {}
        self.tables_before = {oid: self.rows.tables[oid] for oid in self.dirty if oid in self.rows.tables}
        before = self.rows.recount(self.dirty)
        self.dirty = set()
        return before

    def finding(self, check: str, revision: Script, message: str, severity: str = ERROR) -> None:
        self.report.findings.append(
            Finding(check, severity, revision.revision, message, self.project.relpath(revision.path))
        )

    def explain(self, expected_revisions: list[Script]) -> str:
        """The current schema against ``expected_revisions`` rebuilt in a second database."""
        try:
            expected = replayed_snapshot(
                self.project, self.server, expected_revisions, f"reference{self.marker}"
            )
        except MksDbError:
            raise
        except Exception as exc:
            interrupt.raise_if_requested()
            return f" (the expected schema could not be rebuilt to show the difference: {describe(exc)})"
        lines = catalog.diff(expected, self.schema.snapshot())
        shown = lines[:MAX_DIFF_LINES]
        more = len(lines) - len(shown)
        return "\n  " + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")


def roundtrip(
    project: Project,
    server: Server,
    report: Report,
    with_data: bool = True,
    at_head: Callable[[Migrator], list[Finding]] | None = None,
    jobs: int | None = None,
    new: set[str] | None = None,
    progress: Progress | None = None,
) -> set[str] | None:
    """Run the roundtrip walk over the revisions of ``project`` and add findings to ``report``;
    return the time bounds env.py set on its migrating session (see
    ``Migrator.project_timeouts``; None when env.py never ran).

    ``at_head`` runs once every revision is applied, before the walk back down; its findings
    join the report. ``jobs`` is the most parts walked at once (default: see ``split``).
    ``new``: walk only from the first of these revisions on (a pull request's): the revisions
    before it are reached with one plain upgrade, and the walk back down must end at their
    schema; None walks every revision. ``progress`` shows each revision as its check begins.
    """
    order = project.revisions_in_order()
    start = keep_base(project, server, new)
    report.revisions = len(order) - start
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

    def task(part: Part) -> Callable[[], Outcome]:
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
        )

    def sweep() -> None:  # what a worker killed outright could not drop
        drop_scratch_databases(server, marker)

    outcomes = workers.run_all([task(part) for part in parts], sweep if marker else None)
    earlier_upgrade_findings = False
    for outcome in outcomes:
        if outcome.blocked and earlier_upgrade_findings:
            continue  # a part before it found why the chain does not upgrade
        report.findings += outcome.findings
        report.steps += outcome.steps
        earlier_upgrade_findings = earlier_upgrade_findings or any(
            f.check == "upgrade" for f in outcome.findings
        )
    return next((o.project_timeouts for o in outcomes if o.project_timeouts is not None), None)


def keep_base(project: Project, server: Server, new: set[str] | None) -> int:
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
class Outcome:
    """What walking one part found; ``blocked`` when its database could not be upgraded to its start."""

    findings: list[Finding] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
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
    reached: Callable[[str], None] | None = None,
    judged: Callable[[str, list[Finding]], None] | None = None,
    own_base: bool = False,
) -> Outcome:
    """Walk ``order[part.start:part.stop]`` in a scratch database of its own (in any process;
    ``own_base``: in the one that keeps the server's databases, which this walk may take over
    and hand back)."""
    report = Report(command="roundtrip")
    with Walk(project, server, report, with_data, marker, reached, judged, own_base) as walk:
        blocked = not _walk_through(walk, order, part, at_head)
        return Outcome(report.findings, report.steps, blocked, walk.project_timeouts)


def _walk_through(
    walk: Walk, order: list[Script], part: Part, at_head: Callable[[Migrator], list[Finding]] | None
) -> bool:
    """The walk of one part, up and back down; False when its start could not be reached."""
    applied = order[: part.start]
    if not _rebuild(walk, applied, PART_START):
        return False
    start = walk.schema.snapshot(), walk.schema.fingerprint
    if not _walk_up(walk, order[part.start : part.stop], applied, order[part.stop :]):
        return True
    if at_head:
        walk.report.findings += at_head(walk.migrator)
    _walk_down(walk, order[part.start : part.stop], start, order[part.start - 1] if part.start else None)
    if walk.schema.fingerprint == start[1]:
        walk.give_back()
    return True


def _walk_up(walk: Walk, revisions: list[Script], applied: list[Script], beyond: list[Script]) -> bool:
    """Steps 1-4 for each of ``revisions``, appended to ``applied`` as they pass; False when
    the walk cannot go on (``beyond``: the revisions after these, which other parts walk).

    Revisions run one after another in one env.py run (when env.py allows) as long as they
    pass: each one's rows are generated between the previous one's last step and its own
    first. A failure ends the run; the walk judges it and goes on in a new one.
    """
    pending = list(revisions)
    while pending:
        current = _RevisionCheck(walk, pending.pop(0), applied)
        steps = current.sequence()

        def after(action: str, revision: Script, steps: list = steps) -> bool:
            nonlocal current
            if not current.after_step(action):
                return False
            if action == "re-upgrade" and pending:  # it passed: the next one follows in this run
                walk.judged(current.revision.revision, walk.report.findings[current.first_finding :])
                applied.append(current.revision)
                current = _RevisionCheck(walk, pending.pop(0), applied)
                steps.extend(current.sequence())
            return True

        failure = walk.run(steps, after)
        timeout = failure[2] if failure and timed_out(failure[2]) else None
        goes_on = current.conclude(failure) or _go_past(
            walk, current.revision, applied, pending + beyond, timeout
        )
        walk.judged(current.revision.revision, walk.report.findings[current.first_finding :])
        if not goes_on:
            return False
        applied.append(current.revision)
    return True


def _go_past(
    walk: Walk, revision: Script, applied: list[Script], later: list[Script], timeout: Exception | None
) -> bool:
    """After ``revision`` could not be upgraded on its own, reach it the way ``alembic upgrade
    head`` would, in one env.py run with the revisions before it, so the walk goes on to the
    ``later`` revisions; False, with a warning naming them as unchecked, when even that fails."""
    if not later:
        return False
    # A revision the time bound stopped would only be waited for again: it is not retried.
    if timeout is None and walk.rebuild([*applied, revision]) is None:
        reported = [
            f for f in walk.report.findings if f.revision == revision.revision and f.check == "upgrade"
        ]
        for finding in reported:  # the same revision passes in one run: say so where it failed
            walk.report.findings[walk.report.findings.index(finding)] = replace(
                finding,
                message=finding.message + " (it passes when upgraded in one run with the revisions "
                "before it, as `alembic upgrade head` does: it fails only when run apart from its parent)",
            )
        return True
    names = ", ".join(r.revision for r in later[:10]) + (
        f" and {len(later) - 10} more" if len(later) > 10 else ""
    )
    walk.finding(
        "upgrade",
        revision,
        f"{len(later)} later revisions were not checked ({names}): {revision.revision} "
        + (
            "ran past the time bound"
            if timeout
            else "cannot be upgraded, not even in one run with the revisions before it"
        ),
        WARNING,
    )
    return False


class _RevisionCheck:
    """Steps 1-4 for one revision: its rows, its three steps and what is found about them."""

    def __init__(self, walk: Walk, revision: Script, applied: list[Script]) -> None:
        self.walk = walk
        self.revision = revision
        self.applied = applied  # the revisions before it, in order
        self.declared = declarations.of_file(revision.path)
        self.first_finding = len(walk.report.findings)  # the findings about it come after this
        walk.reached(revision.revision)
        if walk.rows:
            walk.recount()
            for problem in walk.rows.fill():
                walk.finding("data-loss", revision, problem, WARNING)
        self.before = walk.schema.fingerprint
        self.after: int | None = None
        self.mismatch: str | None = None

    def sequence(self, start: int = 0) -> list[tuple[str, Script]]:
        return [(action, self.revision) for action in ("upgrade", "downgrade", "re-upgrade")[start:]]

    def after_step(self, action: str) -> bool:
        """Runs after each step has committed; False stops the sequence."""
        walk = self.walk
        if action == "upgrade":
            _data_loss(walk, self.revision, walk.recount(), self.declared)
            self.after = walk.schema.fingerprint
            return True
        expected = self.before if action == "downgrade" else self.after
        if walk.schema.fingerprint != expected:
            self.mismatch = action
            return False
        return True

    def conclude(self, failure: tuple[str, Script, Exception] | None) -> bool:
        """Findings from how the steps went; False when the walk cannot go on."""
        walk, revision, declared = self.walk, self.revision, self.declared
        if failure and failure[0] == "upgrade":
            if not _upgrade_without_rows(walk, revision, failure[2]):
                return False
            self.after = walk.schema.fingerprint
            failure = walk.run(self.sequence(1), lambda action, _: self.after_step(action))

        irreversible = declared.accepted("irreversible")
        why = f" (declared irreversible: {irreversible.reason})" if irreversible else ""
        why += declared.hint("irreversible")
        if failure and failure[0] == "downgrade":
            if irreversible:
                walk.finding("downgrade", revision, f"downgrade of {revision.revision} fails{why}", WARNING)
                return True  # the database is still at R: go on from there
            if not down_revisions(revision) and not isinstance(failure[2], DBAPIError):
                # The chain's first revision refusing its own downgrade on purpose: no
                # database goes below the base, so nothing in production depends on it.
                walk.finding(
                    "downgrade",
                    revision,
                    f"downgrade of {revision.revision}, the chain's first revision, refuses: "
                    f"{describe(failure[2])}",
                    WARNING,
                )
                return True
            walk.report.findings.append(failure_finding("downgrade", revision, failure[2], walk.project, why))
        elif failure:  # the re-upgrade
            walk.report.findings.append(
                Finding(
                    "roundtrip",
                    ERROR,
                    revision.revision,
                    f"upgrade of {revision.revision} fails after its own downgrade: {describe(failure[2])}"
                    " (the downgrade leaves something behind that the upgrade creates)",
                    walk.project.relpath(revision.path),
                    _line_in(revision.path, failure[2]),
                )
            )
        elif self.mismatch == "downgrade":
            walk.finding(
                "roundtrip",
                revision,
                f"downgrade of {revision.revision} does not restore the schema it started from{why}:"
                + walk.explain(self.applied),
                WARNING if irreversible else ERROR,
            )
        elif self.mismatch:
            walk.finding(
                "roundtrip",
                revision,
                f"upgrade of {revision.revision} after its downgrade builds a different schema:"
                + walk.explain([*self.applied, revision]),
            )
        else:
            return True
        return _rebuild(walk, [*self.applied, revision])


def _rebuild(walk: Walk, revisions: list[Script], note: str = GO_ON) -> bool:
    """Go on from a fresh database at ``revisions``; False (with a finding) if that fails."""
    failure = walk.rebuild(revisions)
    if failure is None:
        return True
    revision, exc = failure
    walk.report.findings.append(failure_finding("upgrade", revision, exc, walk.project, note))
    return False


def _upgrade_without_rows(walk: Walk, revision: Script, error: Exception) -> bool:
    """After an upgrade failed with rows in place, empty the tables and try again: success means
    the rows caused it. False when the revision cannot be upgraded at all."""
    first = failure_finding("upgrade", revision, error, walk.project)
    if not down_revisions(revision) and _sqlstate(error) in _MISSING_OBJECT:
        # The chain's first revision alters what no migration created: the project creates it
        # outside Alembic (metadata.create_all, say), so an empty database is not its start.
        walk.report.findings.append(
            replace(
                first,
                severity=WARNING,
                message=first.message + " (the chain's first revision expects objects created "
                "outside its migrations, so it cannot be checked from an empty database)",
            )
        )
        return False
    if not (walk.rows and walk.rows.any_rows()) or timed_out(error):  # a time bound: rows are no cause
        walk.report.findings.append(first)
        return False
    with walk.migrator.idle() as connection:
        data.truncate_all(connection)
    walk.rows.recount(None)
    walk.dirty = set()
    failure = walk.run([("upgrade", revision)])
    if failure:
        walk.report.findings.append(failure_finding("upgrade", revision, failure[2], walk.project))
        return False
    if structural(error):
        message = (
            f"upgrade of {revision.revision} fails when the tables hold rows (it passes on empty tables)"
        )
        severity = ERROR
    else:  # the revision's own code, or a cast it makes, could not take a generated value
        message = (
            f"upgrade of {revision.revision} fails on the generated rows' content, not on the schema "
            "(it passes on empty tables; make sure it handles every value the application writes)"
        )
        severity = WARNING
    walk.report.findings.append(
        Finding(
            "upgrade", severity, revision.revision, f"{message}: {describe(error)}", first.path, first.line
        )
    )
    return True


# SQLSTATE class 23: a constraint (NOT NULL, unique, foreign key, check, exclusion) refused the
# rows the tables hold: the schema change itself cannot be applied to a table with data.
def structural(error: BaseException) -> bool:
    """Whether a failure with rows in place is the schema's (a constraint refused the rows),
    not the content's (the revision's code or a cast choking on a generated value)."""
    return _sqlstate(error).startswith("23")


# undefined table, undefined object, undefined schema
_MISSING_OBJECT = {"42P01", "42704", "3F000"}


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a database error (psycopg2's pgcode, asyncpg's sqlstate), else ''."""
    orig = getattr(error, "orig", None)
    return str(getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or "")


def _data_loss(
    walk: Walk, revision: Script, held: dict[int, data.TableData], declared: declarations.Declarations
) -> None:
    """Data-loss findings from what the changed tables held before and hold now.

    Data that moved is not lost: when the values generated for what was dropped or deleted
    are found, in any form that keeps their text, in the tables the step wrote to, the
    finding is a warning saying where they went.
    """
    if declared.accepted("data-loss") or walk.rows is None:
        return
    now = walk.rows.held
    by_name = {table.name: table for table in now.values()}
    losses: list[tuple[str, list[data.Column], int]] = []  # (what, the columns lost, their rows)
    for oid, before in held.items():
        if not before.rows:
            continue
        table = walk.tables_before.get(oid)
        columns = list(table.columns.values()) if table else []
        after = now.get(oid) or by_name.get(before.name)
        if after is None:
            losses.append((f"drops table {before.name}, which held {before.rows} rows", columns, before.rows))
            continue
        if after.rows < before.rows:
            what = f"deletes {before.rows - after.rows} of {before.rows} rows from {before.name}"
            losses.append((what, columns, before.rows))
        kept = {name for name, non_null in after.columns.values() if non_null}
        for attnum, (column, non_null) in before.columns.items():
            if non_null and attnum not in after.columns and column not in kept:  # not converted in place
                lost = [c for c in columns if c.attnum == attnum]
                losses.append((f"drops column {before.name}.{column}, which held data", lost, before.rows))
    hint = declared.hint("data-loss") or LOSS_HINT
    for what, columns, rows in losses:
        moved = _moved_to(walk, columns, rows)
        if moved:
            walk.finding(
                "data-loss",
                revision,
                f"upgrade of {revision.revision} {what}; its values are now in {', '.join(moved)} "
                "(moved, not lost)",
                WARNING,
            )
        else:
            walk.finding("data-loss", revision, f"upgrade of {revision.revision} {what}{hint}")


def _moved_to(walk: Walk, columns: list[data.Column], rows: int) -> list[str]:
    """The tables written by the last step that now hold every traceable generated value of
    ``columns`` (empty when the values cannot be traced or are not all found)."""
    traceable = [c for c in columns if data.traceable(c)]
    written = [walk.rows.tables[oid] for oid in walk.migrator.written if oid in walk.rows.tables]
    if not traceable or not written:
        return []
    with walk.migrator.idle() as connection:
        values = data.generated_values(connection, traceable, rows)
        found = data.holding(connection, written, values)
    if not values or set().union(*found.values()) != set(values):
        return []
    return sorted(name for name, hits in found.items() if hits)


def _reported(walk: Walk, revision: Script) -> bool:
    """Whether ``revision``'s downgrade already has a finding (the walk back repeats it)."""
    return any(
        f.revision == revision.revision and f.check in ("downgrade", "roundtrip")
        for f in walk.report.findings
    )


def _walk_down(
    walk: Walk, revisions: list[Script], start: tuple[catalog.Snapshot, int], below: Script | None
) -> None:
    """Downgrade ``revisions`` from the last; the schema must be back at ``start`` (snapshot and
    fingerprint), the schema at ``below`` (base when None)."""
    # Only the end state matters here: it is read once, not after every step.
    failure = walk.run([("downgrade", r) for r in reversed(revisions)], track=False)
    with walk.migrator.idle():
        walk.schema.reset()
    if failure:
        _, revision, exc = failure
        irreversible = declarations.of_file(revision.path).accepted("irreversible")
        if not irreversible and not _reported(walk, revision):
            walk.report.findings.append(failure_finding("downgrade", revision, exc, walk.project))
        return
    if walk.schema.fingerprint != start[1] and not any(_reported(walk, r) for r in revisions):
        irreversible = [
            r.revision for r in revisions if declarations.of_file(r.path).accepted("irreversible")
        ]
        what = (
            "downgrading every revision to base leaves objects behind"
            if below is None
            else f"downgrading every revision from head to {below.revision} does not restore its schema"
        )
        differences = catalog.diff(start[0], walk.schema.snapshot())
        walk.finding(
            "roundtrip",
            revisions[0],
            what
            + (f" (irreversible: {', '.join(irreversible)})" if irreversible else "")
            + ":\n  "
            + "\n  ".join(differences[:MAX_DIFF_LINES]),
            WARNING if irreversible else ERROR,
        )


def failure_finding(
    check: str, revision: Script, exc: BaseException, project: Project, note: str = ""
) -> Finding:
    """A finding naming the revision, the step and the database's (or Python's) error.

    An error, unless the step failed in the application's own code rather than on the
    database or in the revision (see ``_raised_by_application``): a warning then."""
    raiser = _raised_by_application(exc, revision)
    if raiser:
        note += (
            f" (raised in the application's code, {raiser}, not by the database or the "
            "revision: the revision needs what the application provides when it migrates, "
            "which plain Alembic does not; if the application's own migrate command passes, "
            "this is not a defect)"
        )
    return Finding(
        check=check,
        severity=WARNING if raiser else ERROR,
        revision=revision.revision,
        message=f"{check} of {revision.revision} failed: {describe(exc)}{note}",
        path=project.relpath(revision.path),
        line=_line_in(revision.path, exc),
    )


# Where a failure is the chain's own: the migration tooling the revision calls (database
# drivers' errors reach it wrapped as SQLAlchemy's).
_TOOLING = tuple(str(Path(module.__file__).resolve().parent) + os.sep for module in (alembic, sqlalchemy))


def _in_standard_library(path: Path) -> bool:
    paths = sysconfig.get_paths()
    installed = (paths["purelib"], paths["platlib"])
    return str(path).startswith(paths["stdlib"]) and not str(path).startswith(installed)


def _raised_by_application(exc: BaseException, revision: Script) -> str | None:
    """Where the application code that the revision called raised ``exc`` (``name() in
    file:line``), when that is neither the database's error nor the revision's own code or the
    migration tooling's: an invariant of the application's runtime (an object its own migrate
    command installs, say) that a plain Alembic run does not meet, which is no proof of a
    defect in the chain. None otherwise (the database refused, or the revision's own code
    failed: a defect)."""
    if isinstance(exc, DBAPIError | SQLAlchemyError) or _sqlstate(exc):
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    revision_file = Path(revision.path).resolve()
    in_revision = [i for i, f in enumerate(frames) if Path(f.filename).resolve() == revision_file]
    if not in_revision or in_revision[-1] == len(frames) - 1:
        return None  # not called from the revision (env.py, say), or raised by the revision itself
    innermost = Path(frames[-1].filename).resolve()
    if str(innermost).startswith(_TOOLING) or _in_standard_library(innermost):
        return None  # the tooling or the standard library refusing the revision's arguments
    called = frames[in_revision[-1] + 1]
    return f"{called.name}() in {Path(called.filename).name}:{called.lineno}"


def describe(exc: BaseException) -> str:
    """The database's (or Python's) error in one line, with what a time bound stopped."""
    return describe_error(exc) + timed_out(exc)


# SQLSTATEs of a statement cancelled by statement_timeout and of a lock wait over lock_timeout.
_TIMEOUTS = {"57014": "statement-timeout", "55P03": "lock-timeout"}


def timed_out(exc: BaseException) -> str:
    """For a statement stopped by a time bound: what it was running, and how to allow more."""
    setting = _TIMEOUTS.get(_sqlstate(exc))
    if setting is None:
        return ""
    statement = " ".join(str(getattr(exc, "statement", "") or "").split())
    if len(statement) > 200:
        statement = statement[:200] + "..."
    waited = "waiting for a lock" if setting == "lock-timeout" else "running"
    return (
        f" (stopped by the time bound while {waited}"
        + (f": {statement}" if statement else "")
        + f"; if it really needs longer, raise --{setting} or [tool.mks-db] {setting})"
    )


def _line_in(path: str, exc: BaseException) -> int | None:
    """The line of ``path`` where ``exc`` passed through, if it did."""
    target = Path(path).resolve()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == target:
            return frame.lineno
    return None
