"""The roundtrip walk's engine: one scratch database, walked a step at a time, and what each
step did to it.

A ``Walk`` owns the scratch database, its ``Migrator``, and what follows the database from step
to step: the schema (``catalog.Tracker``: a fingerprint after each step) and, with generated
rows, their inventory (``data.Rows``). It runs *programs*: generators that yield the ``Step``s
they want applied and receive, for each, its outcome, a ``StepResult`` once the step has
committed or a ``StepFailure``; what a program returns, ``drive`` returns. Run from a project's
root (this repository's, say), this upgrades and downgrades its first revision::

    from mks_db.database.server import open_server
    from mks_db.engine.project import load_project
    from mks_db.engine.walk import Step, StepFailure, Walk

    project = load_project("alembic.ini")
    first = project.revisions_in_order()[0]


    def upgrade_then_downgrade(walk):
        before = walk.fingerprint  # the schema's fingerprint, as the last step left it
        upgraded = yield Step("upgrade", first)  # the walk applies it, then sends its outcome back
        if isinstance(upgraded, StepFailure):
            return f"upgrade failed: {upgraded.reason}"
        downgraded = yield Step("downgrade", first)
        if isinstance(downgraded, StepFailure):
            return f"downgrade failed: {downgraded.reason}"
        return "restored" if downgraded.fingerprint == before else "not restored"


    with open_server(None) as server, Walk(project, server, with_data=True) as walk:
        walk.rebuild([])  # a new scratch database, at base
        print(walk.drive(upgrade_then_downgrade(walk)))  # restored

The walk applies the steps in as few env.py runs as env.py allows: while env.py migrates on
the walk's connection and commits each migration on its own, the program's next step follows
in the same run, which saves Alembic's set-up at every step (most of a step's cost on a short
revision). So the program's code between two steps may run inside an env.py run. There it may
use the database through ``walk.migrator``'s connection, but must not run env.py itself (no
``rebuild``, no ``expected_snapshot``): it yields ``END_RUN`` first, and goes on once the run
has ended. A failed step ends the run too. Every outcome is also kept in ``walk.log``, in order.

The walk judges nothing: the checks (``mks_db.checks``) read the outcomes and make findings;
the walk over a whole chain, in parts, is ``engine.chain_walk``'s, and ``engine.revision_steps``
is the program it drives for each revision.
"""

from __future__ import annotations

import contextlib
import textwrap
import time
import traceback
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from alembic.script import Script
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt
from mks_db.database.server import Server, describe_error, drop_database, scratch_database
from mks_db.engine import catalog, data
from mks_db.engine.migrate import Migrator, Step, replayed_snapshot
from mks_db.engine.project import Project
from mks_db.errors import MksDbError

__all__ = ["END_RUN", "Program", "Step", "StepFailure", "StepResult", "Walk", "describe", "sqlstate"]


@dataclass(frozen=True)
class StepResult:
    """A step that committed, and the database as it left it."""

    action: str
    revision: Script
    seconds: float
    # The schema's fingerprint after the step (None when the walk does not follow the schema
    # step by step: ``Walk.run(track=False)``).
    fingerprint: int | None
    written: frozenset[int]  # OIDs of the tables the step inserted, updated or deleted rows in
    ok = True


@dataclass(frozen=True)
class StepFailure:
    """A step that raised: its transaction is rolled back (what an autocommit block did stays)."""

    action: str
    revision: Script
    seconds: float
    error: Exception
    ok = False

    @property
    def reason(self) -> str:
        """The database's (or Python's) error in one line, with what a time bound stopped."""
        return describe(self.error)

    @property
    def sqlstate(self) -> str:
        """The database's SQLSTATE, '' when the database did not raise it."""
        return sqlstate(self.error)

    @property
    def time_bound(self) -> str | None:
        """The setting whose time bound stopped the step (``statement-timeout``,
        ``lock-timeout``), else None."""
        return _TIME_BOUNDS.get(self.sqlstate)

    @property
    def line(self) -> int | None:
        """The line of the revision file the error passed through, if it did."""
        target = Path(self.revision.path).resolve()
        for frame in reversed(traceback.extract_tb(self.error.__traceback__)):
            if Path(frame.filename).resolve() == target:
                return frame.lineno
        return None


class EndRun:
    """What a program yields to end the env.py run in progress (see the module's docstring)."""

    def __repr__(self) -> str:
        return "END_RUN"


END_RUN = EndRun()

T = TypeVar("T")
# A program: yields steps (or END_RUN), receives their outcomes (None after END_RUN), returns T.
Program = Generator[Step | EndRun, StepResult | StepFailure | None, T]


class Walk:
    """One scratch database walked step by step, with its schema (and rows) followed.

    Use as a context manager; ``rebuild`` makes the database (and makes it again: after a
    finding the checks go on from a fresh one). ``with_data``: keep an inventory of generated
    rows (``self.rows``), else None. ``marker`` goes into the scratch databases' names, so a
    sweep can find them. ``own_base``: this walk runs in the process that keeps the server's
    databases and may take one over (see ``give_back``); a walk in a forked part never does.
    """

    def __init__(
        self, project: Project, server: Server, with_data: bool, marker: str = "", own_base: bool = False
    ) -> None:
        self.project = project
        self.server = server
        self.with_data = with_data
        self.marker = marker
        self.own_base = own_base
        self.taken: tuple[tuple[str, ...], str] | None = None  # the kept database taken over
        self._stack = contextlib.ExitStack()
        self.migrator: Migrator
        self.schema: catalog.Tracker
        self.rows: data.Rows | None = None
        # What the models declare beyond the database (``data.declared_by``), once env.py ran.
        self.models = data.Models()
        self.dirty: set[int] = set()  # tables changed since their rows were last counted
        self.tables_before: dict[int, data.Table] = {}  # the recounted tables as they were
        # The tables and columns production can hold data in (those of the base a pull
        # request's revisions follow: ``chain_walk.names_at``); None: every one.
        self.released: frozenset[str] | None = None
        self.event_log: bool | None = None  # whether DDL can be followed by an event trigger
        self.project_timeouts: set[str] | None = None  # the time bounds env.py set itself, once it ran
        self.log: list[StepResult | StepFailure] = []  # every step's outcome, in order
        self.running = False  # an env.py run is in progress (a program's code runs inside it)

    def __enter__(self) -> Walk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    # --- the database ---------------------------------------------------------------------

    def rebuild(self, applied: list[Script]) -> StepFailure | None:
        """Start (again) from a new scratch database with ``applied`` upgraded, without rows, in
        one env.py run (as ``alembic upgrade head`` builds it).

        Returns the failure of the revision whose upgrade failed, else None.
        """
        self._outside_run("rebuild the database")
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
        started = time.perf_counter()
        try:
            if template is None:  # else a copy of the database kept at those revisions
                self.migrator.create_base()
                self.migrator.upgrade(*applied, one_run=True)
        except MksDbError:
            raise
        except Exception as exc:
            interrupt.raise_if_requested()
            failed = self.migrator.current
            return StepFailure(failed.action, failed.revision, time.perf_counter() - started, exc)
        finally:
            self._note_timeouts()
        self._follow_anew()
        return None

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

    def _note_timeouts(self) -> None:
        if self.migrator.project_timeouts is not None:
            self.project_timeouts = self.migrator.project_timeouts

    def _follow_anew(self) -> None:
        """Follow the new database from here: the schema, and the rows when there are any."""
        if self.event_log is None:  # only when env.py migrates on our connection
            self.event_log = self.migrator.probe()
        with self.migrator.idle() as connection:
            self.schema = catalog.Tracker(connection)
            if self.event_log:
                self.schema.use_event_log()
        unfillable = self.rows.unfillable if self.rows else set()
        if self.migrator.target_metadata is not None:  # env.py has run on this database
            self.models = data.declared_by(self.migrator.target_metadata)
        self.rows = data.Rows(self.migrator.connection, models=self.models) if self.with_data else None
        self.dirty = set()
        if self.rows:
            self.rows.unfillable = unfillable

    def expected_snapshot(self, revisions: list[Script]) -> catalog.Snapshot:
        """The schema ``revisions`` build from empty, in a second scratch database (in one
        env.py run, as ``alembic upgrade`` builds it)."""
        self._outside_run("build the expected schema")
        return replayed_snapshot(self.project, self.server, revisions, f"reference{self.marker}")

    def _outside_run(self, what: str) -> None:
        if self.running:
            raise RuntimeError(f"cannot {what} inside an env.py run: the program must yield END_RUN first")

    # --- what the database holds ----------------------------------------------------------

    @property
    def fingerprint(self) -> int:
        """The schema's fingerprint as the last step left it."""
        return self.schema.fingerprint

    def snapshot(self) -> catalog.Snapshot:
        """The whole schema as the last step left it, normalised (see ``catalog``)."""
        with self.migrator.idle():
            return self.schema.snapshot()

    def reread_schema(self) -> None:
        """Read the whole schema anew (after steps run without following it)."""
        with self.migrator.idle():
            self.schema.reset()

    def recount(self) -> dict[int, data.TableData]:
        """Count the rows of the tables changed since the last count; what they held before
        (the tables as they were then in ``self.tables_before``). Empty without rows."""
        if self.rows is None:
            return {}
        self.tables_before = {oid: self.rows.tables[oid] for oid in self.dirty if oid in self.rows.tables}
        before = self.rows.recount(self.dirty)
        self.dirty = set()
        return before

    def fill_empty_tables(self) -> list[str]:
        """Give every empty table generated rows (after a recount); what could not be filled,
        one line each (each table once). Nothing without rows."""
        if self.rows is None:
            return []
        self.recount()
        return self.rows.fill_empty_tables()

    def rows_read_last(self) -> str | None:
        """The first row the last failed step's last query read, as text (that query again,
        before anything changes the rows), with the query; None when it read none."""
        read = self.migrator.last_read
        if read is None:
            return None
        statement, parameters = read
        with self.migrator.idle() as connection:
            try:
                with connection.begin_nested():
                    row = connection.exec_driver_sql(statement, parameters).first()
            except DBAPIError:
                interrupt.raise_if_requested()
                return None
        if row is None:
            return None
        first, query = (textwrap.shorten(str(x), 160, placeholder=" ...") for x in (tuple(row), statement))
        return f"{first} from {query}"

    def empty_tables(self) -> None:
        """Remove the generated rows (``Rows.remove_generated``): the rows the chain wrote itself,
        seed data an earlier revision inserted, stay as a real database holds them."""
        if self.rows:
            with self.migrator.idle():
                self.rows.remove_generated()
        self.dirty = set()

    # --- the steps ------------------------------------------------------------------------

    def run(self, steps: Iterable[Step], track: bool = True) -> StepFailure | None:
        """Apply ``steps`` in order, up to the first that fails; that failure, else None."""
        return self.drive(_in_order(steps), track)

    def drive(self, program: Program[T], track: bool = True) -> T:
        """Run ``program`` to its end (see the module's docstring) and return what it returns.

        ``track``: follow the schema after each step (the results' fingerprints, and the tables
        to recount); without it the schema is left as it was read last (``reread_schema``).
        """
        request = _ask(program, None)
        while not isinstance(request, _Returned):
            if isinstance(request, EndRun):  # no run is in progress here: go on at once
                request = _ask(program, None)
            else:
                request = self._one_env_run(program, request, track)
        return request.value

    def _one_env_run(self, program: Program, first: Step, track: bool) -> Step | EndRun | _Returned:
        """One env.py run that starts with ``first``; the program's next request once it ended."""
        run = _Run(first)
        steps = self._steps(program, run, track)
        failure: Exception | None = None
        self.running = True
        try:
            self.migrator.run(steps)
        except MksDbError:
            raise
        except Exception as exc:
            interrupt.raise_if_requested()  # an interruption is no step's failure
            failure = exc
        finally:
            steps.close()
            self.running = False
            self._note_timeouts()
        if run.error is not None:  # the program failed between two steps: its own error
            interrupt.raise_if_requested()
            raise run.error
        if run.request is not None:  # the program had the last step's outcome inside the run
            if failure is not None:  # and env.py failed after that step: no step's failure
                raise failure
            return run.request
        if failure is not None:
            return _ask(program, self._failed(run, failure, track))
        return _ask(program, self._committed(run, track))  # it committed as env.py's run ended

    def _steps(self, program: Program, run: _Run, track: bool) -> Iterator[Step]:
        """The steps of one env.py run, as ``Migrator.run`` reads them: ``run.step``, then, once
        each has committed, the one the program asks for next after receiving its result. (When
        env.py lets no step follow another in its run, this is not read past the first: that
        step's outcome is sent to the program once the run has ended.)"""
        while True:
            yield run.step
            try:
                request = _ask(program, self._committed(run, track))
            except Exception as exc:  # the program's own failure, not the step's: raised after the run
                run.error = exc
                return
            if not isinstance(request, Step):
                run.request = request
                return
            run.step, run.started = request, time.perf_counter()

    def _committed(self, run: _Run, track: bool) -> StepResult:
        seconds = time.perf_counter() - run.started
        written = frozenset(self.migrator.written)
        fingerprint = self._follow() if track else None
        result = StepResult(run.step.action, run.step.revision, seconds, fingerprint, written)
        self.log.append(result)
        return result

    def _failed(self, run: _Run, error: Exception, track: bool) -> StepFailure:
        failure = StepFailure(run.step.action, run.step.revision, time.perf_counter() - run.started, error)
        self.log.append(failure)
        if track:  # an autocommit block may have left changes
            self._follow()
        return failure

    def _follow(self) -> int:
        """Bring the schema up to date after a step; note the tables to recount."""
        with self.migrator.idle():
            self.dirty |= self.schema.refresh() | self.migrator.written
        return self.schema.fingerprint


@dataclass
class _Run:
    """Where one env.py run of a program stands."""

    step: Step  # the step applied last (or failing)
    started: float = field(default_factory=time.perf_counter)  # when that step began
    request: Step | EndRun | _Returned | None = None  # the program's request the run ended on
    error: Exception | None = None  # raised between two steps, by the program or reading the result


@dataclass(frozen=True)
class _Returned:
    """A program that has returned ``value``."""

    value: object


def _ask(program: Program, outcome: StepResult | StepFailure | None) -> Step | EndRun | _Returned:
    """Send ``outcome`` to ``program``: what it asks for next, or what it returned."""
    try:
        return program.send(outcome)
    except StopIteration as end:
        return _Returned(end.value)


def _in_order(steps: Iterable[Step]) -> Program[StepFailure | None]:
    for step in steps:
        outcome = yield step
        if isinstance(outcome, StepFailure):
            return outcome
    return None


# SQLSTATEs of a statement cancelled by statement_timeout and of a lock wait over lock_timeout.
_TIME_BOUNDS = {"57014": "statement-timeout", "55P03": "lock-timeout"}


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a database error (psycopg2's pgcode, asyncpg's sqlstate), else ''."""
    orig = getattr(error, "orig", None)
    return str(getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or "")


def describe(error: BaseException) -> str:
    """The database's (or Python's) error in one line, with what a time bound stopped: the
    statement, and how to allow more."""
    setting = _TIME_BOUNDS.get(sqlstate(error))
    if setting is None:
        return describe_error(error)
    statement = " ".join(str(getattr(error, "statement", "") or "").split())
    if len(statement) > 200:
        statement = statement[:200] + "..."
    waited = "waiting for a lock" if setting == "lock-timeout" else "running"
    return describe_error(error) + (
        f" (stopped by the time bound while {waited}"
        + (f": {statement}" if statement else "")
        + f"; if it really needs longer, raise --{setting} or [tool.mks-db] {setting})"
    )
