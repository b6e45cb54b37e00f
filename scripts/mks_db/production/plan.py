"""``mks-db plan``: what a deploy would do to the database a URL names, read only.

It reads the database's revision, refuses one this repository does not know (or a database
with tables but no version table), lists the revisions to apply in order with their SQL, and
compares the live schema with the schema the migrations build at its current revision, rebuilt
in a scratch database (never on the target server unless ``--scratch-url`` says so): a
difference means someone changed production by hand, and the plan must not be applied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database.server import Server, describe_db_error, own_engine
from mks_db.database.urls import mask_url
from mks_db.engine import catalog, data, git
from mks_db.engine.migrate import replayed_snapshot
from mks_db.engine.project import Project
from mks_db.engine.render import render_step
from mks_db.errors import InfrastructureError
from mks_db.limits import LockLimits
from mks_db.production import history, online


@dataclass
class Plan:
    database: str  # masked URL
    current: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    pending: list[Script] = field(default_factory=list)
    sql: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # deploys that ended without finishing
    # "downgrade" when the target is behind the database and the downgrades were asked for
    # (``allow_downgrade``): ``pending`` are then the revisions to undo, newest first.
    direction: str = "upgrade"
    # Per pending revision, whether the running release may keep serving while it is applied
    # (``mks_db.production.online``), and production's row counts it was judged at.
    verdicts: list = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        """Whether every pending revision may be applied with the application running."""
        return bool(self.verdicts) and all(v.mode == online.ONLINE for v in self.verdicts)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def done(self) -> str:
        """What a deploy does to each pending revision, in the past tense, for messages."""
        return "undone" if self.direction == "downgrade" else "applied"

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "database": self.database,
            "current": list(self.current),
            "target": list(self.target),
            "direction": self.direction,
            "pending": [r.revision for r in self.pending],
            "problems": self.problems,
            "unfinished": self.unfinished,
            "online": [v.as_dict() for v in self.verdicts],
            "rows": self.rows,
            "sql": self.sql,
        }


def make_plan(
    project: Project,
    url: URL,
    scratch: Server,
    to: str = "heads",
    source: str = "--database-url",
    notice: Callable[[str], None] | None = None,
    lock_timeout: str = "5s",
    offline: bool = False,
    allow_downgrade: bool = False,
    limits: LockLimits | None = None,
) -> Plan:
    """The plan for bringing the database ``url`` names to ``to``; problems say why not.
    ``source`` is where the URL came from (``--database-url`` or ``DATABASE_URL``), for messages.

    First of all, a deploy that ended without finishing (killed: see ``mks_db.production.history``) is
    passed to ``notice`` and listed in ``Plan.unfinished``; it does not refuse the plan (the
    database is at the last revision that committed) and is left for the next deploy to mark:
    the plan writes nothing. No read waits longer than ``lock_timeout`` for a lock (the
    deploy's): InfrastructureError naming the sessions that hold one. A revision whose SQL
    cannot be rendered offline is shown as such and named to ``notice``; with ``offline``
    (production runs the rendered SQL) it refuses the plan. A target behind the database is
    refused unless ``allow_downgrade``: then the plan is to run the downgrades of the
    revisions the target does not contain, newest first (never a mix of both directions).
    With the lock ``limits``, each revision to apply is judged online or not
    (``mks_db.production.online``) at production's table sizes, read here."""
    plan = Plan(database=mask_url(url))
    plan.unfinished = read_unfinished(url, source, lock_timeout, notice)
    for line in plan.unfinished:
        (notice or (lambda line: None))(line)
    plan.target, problem = _target(project, to)
    if problem:
        plan.problems.append(problem)
        return plan
    live, plan.current, tables, invalid = read_target(url, source, lock_timeout)
    problem = _current_problem(project, plan.current, tables)
    if problem:
        plan.problems.append(problem)
        return plan
    behind = project.ancestry(plan.current) - project.ancestry(plan.target)
    ahead = _between(project, plan.current, plan.target)  # the revisions to apply, in order
    problem = _direction_problem(project, plan.current, to, behind, ahead, allow_downgrade)
    if problem:
        plan.problems.append(problem)
        return plan
    if behind:
        plan.direction = "downgrade"
    plan.problems += _invalid_index_problems(invalid)
    expected = schema_at(project, scratch, plan.current)
    plan.problems += [f"schema drift: {line}" for line in catalog.diff(expected, live)]
    plan.pending = project.in_order(behind)[::-1] if behind else ahead
    _render(project, plan, offline, notice or (lambda line: None))
    if limits is not None and plan.pending and plan.ok:
        plan.rows = _table_rows(url, source, lock_timeout)
        plan.verdicts = _verdicts(project, scratch, plan, limits)
    return plan


def _target(project: Project, to: str) -> tuple[tuple[str, ...], str]:
    """The revisions ``to`` names, sorted, and no problem; or none and why ``to`` cannot be
    planned for (the repository has several heads, or ``to`` names no revision of it)."""
    heads = project.script.get_heads()
    if len(heads) > 1 and to == "heads":
        return (), (
            f"the repository has {len(heads)} heads ({', '.join(sorted(heads))}); "
            "merge them first: python3 -m alembic merge heads -m ..."
        )
    try:
        target = project.script.get_revisions(to)
    except Exception:
        return (), f"--to {to!r} names no revision of this repository"
    return tuple(sorted(r.revision for r in target if r)), ""


def _current_problem(project: Project, current: tuple[str, ...], tables: list[str]) -> str:
    """Why a database at ``current`` with ``tables`` cannot be planned for (tables but no
    version table, or revisions this checkout does not know); empty when it can."""
    if not current and tables:
        return (
            f"the database has {len(tables)} tables but no alembic_version: find the revision "
            "its schema matches (mks-db plan --to REV on a copy), then python3 -m alembic stamp REV"
        )
    known = {r.revision for r in project.script.walk_revisions()}
    unknown = [r for r in current if r not in known]
    if unknown:
        return _unknown_revision(project, unknown)
    return ""


def _direction_problem(
    project: Project,
    current: tuple[str, ...],
    to: str,
    behind: set[str],
    ahead: list[Script],
    allow_downgrade: bool,
) -> str:
    """Why the database cannot go from ``current`` to ``to``: revisions would have to be undone
    (``behind``) as well as applied (``ahead``), or undone without ``allow_downgrade``; empty
    when it can."""
    undone = ", ".join(r.revision for r in project.in_order(behind))
    if not (behind and (ahead or not allow_downgrade)):
        return ""
    return (
        f"the database is at {', '.join(current)}, which --to {to} does not contain "
        f"({undone} would have to be undone"
        + (
            f" and {', '.join(r.revision for r in ahead)} applied): deploy "
            "either applies revisions or undoes them, never both; go back first, then forward"
            if ahead
            else "): deploy only applies revisions unless asked to undo them: run their "
            f"downgrades with --to {to} --allow-downgrade (after a backup, as every deploy), "
            "or restore a backup taken before them (mks-db restore FILE)"
        )
    )


def _invalid_index_problems(invalid: list[str]) -> list[str]:
    """A problem for each INVALID index ``invalid`` names, with the command that drops it."""
    return [
        f"index {name} is INVALID: a CREATE INDEX CONCURRENTLY that did not finish left it; drop "
        f"it (DROP INDEX CONCURRENTLY IF EXISTS {name}), then deploy again"
        for name in invalid
    ]


def _table_rows(url: URL, source: str, lock_timeout: str) -> dict[str, int]:
    """Production's row count per table (``online.table_rows``), read only."""
    with _read_only(url, source, lock_timeout) as connection:
        return online.table_rows(connection)


def _render(project: Project, plan: Plan, offline: bool, notice: Callable[[str], None]) -> None:
    """The SQL of each pending revision, rendered offline, into ``plan.sql``; one that cannot
    be is named to ``notice``, or refuses the plan when production runs the rendered SQL."""
    for revision in plan.pending:
        try:
            plan.sql[revision.revision] = render_step(project, revision, plan.direction)
        except Exception as exc:  # the revision's or env.py's own code, run in offline mode
            reason = f"{type(exc).__name__}: {exc}"
            plan.sql[revision.revision] = f"-- not rendered: {reason}"
            line = f"revision {revision.revision} cannot be rendered as SQL offline ({reason})"
            if offline:
                plan.problems.append(
                    f"{line}: [tool.mks-db] offline = true says production runs the rendered SQL"
                )
            else:
                notice(f"{line}; the plan shows no SQL for it")


def _verdicts(project: Project, scratch: Server, plan: Plan, limits: LockLimits) -> list:
    """Online or stopped, per pending revision, at production's sizes (``plan.rows``)."""
    if plan.direction == "downgrade":
        why = "a downgrade: the release that runs is the newer one"
        return [online.Verdict(r.revision, online.STOPPED, why) for r in plan.pending]
    return online.verdicts(project, scratch, plan.current, plan.pending, plan.rows, limits)


def _unknown_revision(project: Project, unknown: list[str]) -> str:
    """Why a database at revisions this checkout lacks cannot be planned (Alembic's "Can't
    locate revision identified by ..."), where git last had each file, and the two ways out."""
    missing = []
    for revision in unknown:
        seen = git.where_revision_was(project.root, revision, project.version_locations())
        missing.append(
            f"{revision} ({seen[0]}, in commit {seen[1][:12]}: restore it with git checkout "
            f"{seen[1][:12]} -- {seen[0]})"
            if seen
            else f"{revision} (no branch or commit of this repository has its file)"
        )
    return (
        f"the database is at {', '.join(missing)}, which this checkout does not have (alembic: "
        "Can't locate revision identified by ...): restore the revision file (deploy from the "
        "branch that has it), or, if the file is gone for good, find the revision whose schema "
        "the database has (mks-db plan --to REV shows no drift for it) and python3 -m alembic "
        "stamp REV; never delete a revision file that reached main"
    )


# The sessions holding locks in the database that a waiting plan names (its own is gone).
_HOLDERS_SQL = """
SELECT DISTINCT l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype)
       || ' held by pid ' || a.pid || ' (' || coalesce(a.state, '?') || ')'
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.mode IN ('AccessExclusiveLock', 'ExclusiveLock') AND l.locktype = 'relation'
  AND a.pid <> pg_backend_pid()
ORDER BY 1 LIMIT 5
"""


@contextlib.contextmanager
def _read_only(url: URL, source: str, lock_timeout: str = "5s") -> Iterator[Connection]:
    """A read-only transaction on the database ``url`` names, whose reads wait at most
    ``lock_timeout`` for a lock; one line naming ``source`` when it cannot be read, or naming
    the locks that kept it waiting."""
    engine = own_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            connection.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": lock_timeout})
            try:
                yield connection
            except DBAPIError as exc:
                if getattr(exc.orig, "pgcode", None) != "55P03":
                    raise
                connection.rollback()
                holders = connection.execute(text(_HOLDERS_SQL)).scalars().all()
                raise InfrastructureError(
                    f"the plan of {mask_url(url)} waited lock-timeout ({lock_timeout}) for a lock "
                    f"({'; '.join(holders) or 'its holder has gone'}); nothing was changed: try "
                    "again when that session has finished"
                ) from None
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot read {mask_url(url)} (given by {source}): {describe_db_error(exc)}; check {source}"
        ) from None
    finally:
        engine.dispose()


def read_unfinished(
    url: URL,
    source: str = "--database-url",
    lock_timeout: str = "5s",
    notice: Callable[[str], None] | None = None,
) -> list[str]:
    """The deploys of the database ``url`` names that ended without finishing, read only; when
    the role may not read the history, ``notice`` is told what to grant."""
    with _read_only(url, source, lock_timeout) as connection:
        try:
            found = history.unfinished(connection)
        except history.NotReadable as exc:
            (notice or (lambda line: None))(str(exc))
            return []
    return [f"{run.describe()}; the next deploy marks it interrupted" for run in found]


_INVALID_INDEXES_SQL = f"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT x.indisvalid AND {catalog.user_schema("n")}
"""


def invalid_indexes(url: URL) -> set[str]:
    """The database's INVALID indexes (what a failed ``CREATE INDEX CONCURRENTLY`` leaves)."""
    engine = own_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text(_INVALID_INDEXES_SQL)).scalars())
    finally:
        engine.dispose()


def read_target(
    url: URL, source: str = "--database-url", lock_timeout: str = "5s"
) -> tuple[catalog.Snapshot, tuple[str, ...], list[str], list[str]]:
    """The live schema, revision, tables and INVALID indexes of the database ``url`` names,
    read only."""
    with _read_only(url, source, lock_timeout) as connection:
        heads = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
        # Every schema's tables (auth and audit too), not the default schema's alone; not
        # mks-db's own history (a first deploy that stopped early may have made it).
        tables = [
            t.name
            for t in data.read_tables(connection, foreign_keys=False).values()
            if not t.name.startswith(f"{history.SCHEMA}.")
        ]
        invalid = sorted(connection.execute(text(_INVALID_INDEXES_SQL)).scalars())
        return catalog.snapshot(connection), heads, tables, invalid


def schema_at(project: Project, scratch: Server, revisions: tuple[str, ...]) -> catalog.Snapshot:
    """The schema the migrations build at ``revisions``, replayed in a scratch database."""
    return replayed_snapshot(project, scratch, project.in_order(project.ancestry(revisions)), "plan")


def _between(project: Project, current: tuple[str, ...], target: tuple[str, ...]) -> list[Script]:
    """The revisions to apply, in order, to go from ``current`` to ``target``."""
    return project.in_order(project.ancestry(target) - project.ancestry(current))
