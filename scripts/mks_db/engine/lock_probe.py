"""The lock probe: what each revision really locks, rewrites and costs on tables that hold data.

For each chosen revision R, in a scratch database at R's parents: R is first applied to empty
tables to learn which existing relations it touches; then, in a fresh scratch database, those
tables are filled (a few rows everywhere, N rows in the touched tables, one
``INSERT ... SELECT generate_series`` each) and R is applied while a second connection polls
``pg_locks`` for the migration's backend (gating the touched tables for autocommit blocks, see
``_Observer``), and, inside the migration's own transaction, its locks are read once more
before commit. Relation file nodes before and after tell a rewrite.
The same is done at N/10 rows, and the two times give the trend used to estimate the time at
production's row counts.

It measures; ``mks_db.checks.locks`` judges the measurements.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import Script
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from mks_db.database import interrupt
from mks_db.database.server import Server, describe_error, drop_database, own_engine
from mks_db.engine import catalog, data
from mks_db.engine.alembic_compat import down_revisions
from mks_db.engine.migrate import Migrator, at_revisions
from mks_db.engine.project import Project
from mks_db.errors import MksDbError
from mks_db.limits import LockLimits

# PostgreSQL's table lock modes, weakest first, and what each blocks for the application.
MODES = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
]


@dataclass
class TableLocks:
    table: str
    mode: str
    rewritten: bool


@dataclass
class Measurement:
    revision: Script
    seconds: float
    seconds_small: float
    tables: list[TableLocks]
    unfilled: list[str] = field(default_factory=list)  # why a table holds fewer rows than asked
    short: set[str] = field(default_factory=set)  # the tables that hold fewer rows than asked
    error: str | None = None  # why the revision could not be measured at all


def _strongest(modes: set[str]) -> str:
    return max(modes, key=MODES.index)


def analyse(
    project: Project, server: Server, revisions: list[Script], settings: LockLimits
) -> list[Measurement]:
    return [_measure_or_say_why(project, server, r, settings) for r in revisions]


def _measure_or_say_why(
    project: Project, server: Server, revision: Script, settings: LockLimits
) -> Measurement:
    """``_measure``, or, when the revision cannot be applied at all (its upgrade fails, which
    the walk reports), an empty measurement that says why."""
    try:
        return _measure(project, server, revision, settings)
    except MksDbError:
        raise
    except Exception as exc:
        interrupt.raise_if_requested()
        return Measurement(revision, 0.0, 0.0, [], error=describe_error(exc))


def _touched(migrator: Migrator, revision: Script) -> tuple[set[str], catalog.Tracker, int]:
    """Names of the pre-existing tables the revision's DDL touches (or whose rows it writes),
    applied in ``migrator``'s database at its parents (emptied first if its rows make the
    upgrade fail); the tracker that followed it, and the schema's fingerprint before it."""
    with migrator.idle() as connection:
        before = {t.oid: t.name for t in data.read_tables(connection, foreign_keys=False).values()}
        tracker = catalog.Tracker(connection)
        start = tracker.fingerprint
    try:
        migrator.upgrade(revision)
    except MksDbError:
        raise
    except Exception:  # the rows a walk left (a NOT NULL column without default, say): empty them
        interrupt.raise_if_requested()
        with migrator.idle() as connection:
            data.truncate_all(connection)
        migrator.upgrade(revision)
    with migrator.idle():
        changed = tracker.refresh() | migrator.written
    return {before[oid] for oid in changed if oid in before}, tracker, start


def _undone(
    migrator: Migrator, revision: Script, tracker: catalog.Tracker, start: int, filled: list[str]
) -> bool:
    """Downgrade ``revision`` and empty the ``filled`` tables: whether the database is back
    exactly at the schema ``start`` (a fingerprint), so that it can serve the next measurement."""
    try:
        migrator.downgrade(revision)
    except MksDbError:
        raise
    except Exception:  # a downgrade that fails: the next measurement takes a fresh copy
        interrupt.raise_if_requested()
        return False
    with migrator.idle() as connection:
        if filled:
            connection.execute(text(f"TRUNCATE {', '.join(filled)} CASCADE"))
            connection.commit()
        tracker.refresh()
        return tracker.fingerprint == start


def _measure(project: Project, server: Server, revision: Script, settings: LockLimits) -> Measurement:
    """The revision's locks at N and N/10 rows, in one database at its parents: the one the
    server keeps for them (the walk's, handed back), taken over, else one upgraded in one
    env.py run. The revision is first applied to empty tables, to learn which tables it
    touches, then measured at N rows, then at N/10; between runs its downgrade and a TRUNCATE
    bring the database back, or, if its downgrade does not undo it exactly, the next run gets
    a database upgraded anew."""
    parents = project.in_order(project.ancestry(down_revisions(revision)))
    with contextlib.ExitStack() as stack:

        def anew() -> Migrator:
            return stack.enter_context(at_revisions(project, server, parents, "locks"))

        base = server.templates.pop(tuple(r.revision for r in parents), None)
        if base:
            stack.callback(drop_database, server, base)
            migrator = stack.enter_context(Migrator(project, server.database_url(base), server.timeouts))
        else:
            migrator = anew()
        touched, tracker, start = _touched(migrator, revision)
        reusable = _undone(migrator, revision, tracker, start, [])  # the tracker follows this database
        if not reusable:
            migrator = anew()
        at_n = _measure_once(migrator, revision, touched, settings.rows)
        if not (reusable and _undone(migrator, revision, tracker, start, at_n.filled.tables)):
            migrator = anew()
        small = _measure_once(migrator, revision, touched, max(settings.rows // 10, 1)).seconds
    return Measurement(revision, at_n.seconds, small, at_n.locks, at_n.filled.problems, at_n.filled.short)


@dataclass
class _Filled:
    """The tables filled for a run: each one's file node before it (``nodes``: oid -> (name,
    file node, kind, the table an index is on)), why some hold fewer rows (``problems``), the
    tables filled (``tables``, to empty after) and those short of rows (``short``)."""

    nodes: dict[int, tuple[str, int, str, int]]
    problems: list[str]
    tables: list[str]
    short: set[str]
    touched: list[int]  # the touched tables that got rows (an autocommit block's gates)


@dataclass
class _Run:
    """One measurement: how long the application was blocked, and the locks per table."""

    seconds: float
    locks: list[TableLocks]
    filled: _Filled


def _measure_once(migrator: Migrator, revision: Script, touched: set[str], rows: int) -> _Run:
    """Fill and apply ``revision`` in ``migrator``'s database (at its parents)."""
    autocommit = "autocommit_block" in Path(revision.path).read_text(encoding="utf-8")
    filled = _fill(migrator, touched, rows)
    seconds, seen = _apply_watched(migrator, revision, filled.touched if autocommit else [], autocommit)
    with migrator.idle() as connection:
        after = _filenodes(connection)
    return _Run(seconds, _locks_per_table(filled.nodes, after, seen), filled)


def _fill(migrator: Migrator, touched: set[str], rows: int) -> _Filled:
    """A few rows in the touched tables and the tables their NOT NULL foreign keys need
    (those still empty: a database the walk handed back holds its generated rows), then
    ``rows`` in the touched ones; the rest of the schema is left as it is."""
    with migrator.idle() as connection:
        tables = data.read_tables(connection, foreign_keys=False)
        needed = data.required_parents(
            connection, tables, [o for o, t in tables.items() if t.name in touched]
        )
        empty = {
            oid: table
            for oid, table in needed.items()
            if not connection.execute(text(f"SELECT EXISTS (SELECT FROM {table.name})")).scalar()
        }
        unfillable: set[str] = set()
        # Parents first (a touched table's NOT NULL foreign key needs their rows), named as such.
        unfilled = [
            f"{line} (not touched by the revision; a touched table's foreign key needs its rows)"
            for line in data.insert_generated_rows(
                connection, _where(empty, touched, False), data.ROWS_PER_TABLE, unfillable
            )
        ]
        unfilled += data.insert_generated_rows(
            connection, _where(empty, touched, True), data.ROWS_PER_TABLE, unfillable
        )
        filled = [o for o, t in needed.items() if t.name in touched and t.name not in unfillable]
        unfilled += data.bulk_fill(connection, filled, rows, unfillable)
        nodes = _filenodes(connection)
        if filled:
            connection.execute(text(f"ANALYZE {', '.join(tables[oid].name for oid in filled)}"))
        connection.commit()
    return _Filled(nodes, unfilled, [tables[oid].name for oid in needed], unfillable, filled)


def _apply_watched(
    migrator: Migrator, revision: Script, gated: list[int], autocommit: bool
) -> tuple[float, dict[int, set[str]]]:
    """Apply ``revision`` while a second connection watches its locks (``gated``: the tables an
    autocommit block, which leaves no transaction to read before commit, is held at); how long
    the application was blocked, and the lock modes seen per table."""
    observer = _Observer(migrator.url, gated=gated)
    seen = observer.seen
    held = [0.0]

    def inside(ctx, **kwargs):  # before commit: every lock the transaction holds, and since when
        for oid, mode in ctx.connection.execute(text(_LOCKS_SQL)):
            seen.setdefault(int(oid), set()).add(mode)
        held[0] = max(held[0], ctx.connection.execute(text(_HELD_SQL)).scalar() or 0.0)

    migrator.extra_callbacks = (inside,)
    started = time.perf_counter()
    try:
        with observer:
            migrator.upgrade(revision)
    finally:
        elapsed = time.perf_counter() - started - observer.gated_seconds
        migrator.extra_callbacks = ()
    # Transactional DDL holds its locks for the whole transaction: its duration is the time the
    # application is blocked (Alembic's own work before it began is not). Autocommit blocks have
    # no such transaction: their wall time is used, less the time spent at the gates.
    return (elapsed if autocommit or not held[0] else held[0]), seen


def _locks_per_table(
    nodes: dict[int, tuple[str, int, str, int]],
    after: dict[int, tuple[str, int, str, int]],
    seen: dict[int, set[str]],
) -> list[TableLocks]:
    """The strongest lock ``seen`` on each table (not the version table), and whether it was
    rewritten: its file node, or one of its indexes', changed from ``nodes`` to ``after``."""
    results = []
    for oid, (name, node, kind, _) in nodes.items():
        if kind != "r" or oid not in seen or name.endswith(f".{catalog.VERSION_TABLE}"):
            continue
        rewritten = after.get(oid, (None, node))[1] != node or any(
            after.get(i, (None, n))[1] != n for i, (_, n, k, t) in nodes.items() if k == "i" and t == oid
        )
        results.append(TableLocks(name, _strongest(seen[oid]), rewritten))
    return results


_HELD_SQL = """
SELECT extract(epoch FROM clock_timestamp() - xact_start)::float
FROM pg_stat_activity WHERE pid = pg_backend_pid()
"""

_LOCKS_SQL = """
SELECT relation, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND relation IS NOT NULL
"""

# Granted and awaited relation locks of every other backend on the scratch database (the one
# migrating may be env.py's own connection, not mks-db's), with how long each has waited
# (pg_locks.waitstart, PostgreSQL 14+), and whether the backend waits for any lock at all. The
# observer's own connections (this one and the gates) are left out, so it never sees itself.
_WATCH_SQL = """
SELECT l.relation, l.mode, l.granted,
       coalesce(extract(epoch FROM clock_timestamp() - l.waitstart), 0)::float AS waited,
       a.wait_event_type = 'Lock' AS waiting
FROM pg_stat_activity a
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.relation IS NOT NULL
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND NOT a.pid = ANY(:mine)
  AND a.backend_type = 'client backend'
"""
# However the waits look, the gates open after this long: a gate can delay a migration, never
# stop it.
MAX_GATE_SECONDS = 5.0


class _Observer:
    """A second connection that records the relation locks the migrating backend holds or
    awaits, polling ``pg_locks`` while the revision runs. The migrating backend is any session
    on the scratch database but the observer's own: mks-db's connection, or the one env.py
    opened itself.

    Polling alone can miss a lock held for a few milliseconds, and a statement in an autocommit
    block leaves no transaction to read before commit. So for those the observer first holds
    SHARE UPDATE EXCLUSIVE on each ``gated`` table from a gate transaction of its own: a
    statement that wants that lock or a stronger one on the table (CREATE INDEX CONCURRENTLY,
    any ALTER TABLE) must wait until the observer has seen the request, and the gate is then
    released. The time spent at the gates is counted in ``gated_seconds``, for the caller to
    take off its measurement. Should the migration wait for any other lock, every gate opens,
    so a gate can never deadlock it.
    """

    def __init__(self, url: URL, gated: list[int]):
        self.seen: dict[int, set[str]] = {}
        self.gated_seconds = 0.0
        self._engine = own_engine(url)
        self._gates: dict[int, Connection] = {}
        self._mine: list[int] = []  # the gates' backends
        for oid in gated:
            gate = self._engine.connect()
            name = gate.execute(text("SELECT CAST(CAST(:oid AS oid) AS regclass)::text"), {"oid": oid})
            gate.execute(text(f"LOCK TABLE {name.scalar_one()} IN SHARE UPDATE EXCLUSIVE MODE"))
            self._mine.append(gate.execute(text("SELECT pg_backend_pid()")).scalar_one())
            self._gates[oid] = gate
        self._stop = threading.Event()
        self._failed: Exception | None = None
        self._thread = threading.Thread(target=self._watch)

    def __enter__(self) -> _Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._open(list(self._gates))
        self._engine.dispose()
        if self._failed and not exc[0]:
            raise self._failed

    def _open(self, oids: list[int]) -> None:
        for oid in oids:
            self._gates.pop(oid).close()  # closing rolls the gate's transaction back

    def _watch(self) -> None:
        try:
            self._poll()
        except Exception as exc:  # never leave the migration waiting at a gate
            self._failed = exc
            self._open(list(self._gates))

    def _poll(self) -> None:
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            elsewhere = 0  # consecutive polls that found the migration waiting, not at a gate
            deadline = time.perf_counter() + MAX_GATE_SECONDS
            while not self._stop.is_set():
                polled = time.perf_counter()
                if polled > deadline and self._gates:
                    self._open(list(self._gates))
                rows = connection.execute(text(_WATCH_SQL), {"mine": self._mine}).all()
                at_gate = {}
                for row in rows:
                    if row.relation is not None:
                        self.seen.setdefault(int(row.relation), set()).add(row.mode)
                        if not row.granted and int(row.relation) in self._gates:
                            at_gate[int(row.relation)] = row.waited
                elsewhere = elsewhere + 1 if not at_gate and any(row.waiting for row in rows) else 0
                if at_gate:
                    self._open(list(at_gate))
                    self.gated_seconds += max(at_gate.values()) + time.perf_counter() - polled
                elif elsewhere > 1:  # seen twice: not a request caught on its way to a gate
                    self._open(list(self._gates))
                time.sleep(0.005)


def _filenodes(connection) -> dict[int, tuple[str, int, str, int]]:
    """oid -> (name, relfilenode, relkind, table oid for indexes) of user tables and indexes."""
    rows = connection.execute(
        text(f"""
        SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relfilenode,
               c.relkind, coalesce(x.indrelid, 0)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_index x ON x.indexrelid = c.oid
        WHERE c.relkind IN ('r', 'i') AND {catalog.user_schema()}
    """)
    )
    return {int(oid): (name, int(node), kind, int(table)) for oid, name, node, kind, table in rows}


def _where(tables: dict[int, data.Table], touched: set[str], inside: bool) -> dict[int, data.Table]:
    """The tables of ``tables`` that are (``inside``) or are not among ``touched``."""
    return {oid: table for oid, table in tables.items() if (table.name in touched) == inside}
