"""Online or stopped, per pending revision: whether a deploy may leave the running release
serving while the revision is applied.

A revision is **online** when the release production runs keeps working on the schema it
builds (the ``compat`` check, with that release's models: the code of the commit before the
first pending revision was added) and every lock it takes, measured on tables filled in a
scratch database (``mks_db.engine.lock_probe``), would be held for at most the lock budget at
production's own table sizes (``pg_class.reltuples``, read through the plan's read-only
connection). Otherwise it **needs the application stopped**, and the reason says which
finding decided. Downgrades are never online: the release that runs is the newer one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from alembic.script import Script
from sqlalchemy import text
from sqlalchemy.engine import Connection

from mks_db import checks
from mks_db.checks import locks
from mks_db.database import interrupt
from mks_db.database.server import Server, describe_error
from mks_db.engine import catalog, git, lock_probe
from mks_db.engine.evidence import BaseRelease, Measured
from mks_db.engine.project import Project
from mks_db.engine.release import models_at
from mks_db.errors import ConfigurationError, MksDbError
from mks_db.limits import LockLimits

ONLINE = "online"
STOPPED = "needs the application stopped"

_SIZES_SQL = f"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
            ELSE (pg_relation_size(c.oid) / current_setting('block_size')::int * 50) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {catalog.user_schema("n")}
"""


@dataclass(frozen=True)
class Verdict:
    revision: str
    mode: str  # ONLINE or STOPPED
    reason: str

    def as_dict(self) -> dict:
        return {"revision": self.revision, "mode": self.mode, "reason": self.reason}


def table_rows(connection: Connection) -> dict[str, int]:
    """Production's row count per table, as the planner estimates it (``reltuples``; a table
    never analysed: its size in pages times 50 rows)."""
    return {name: int(rows) for name, rows in connection.execute(text(_SIZES_SQL))}


def running_release(project: Project, pending: list[Script]) -> str:
    """The commit whose code production runs: the one before the first pending revision's file
    was added (HEAD when that file is not committed yet)."""
    top = git.root(project.root)
    added = git.run(top, "log", "--diff-filter=A", "--format=%H", "--", str(pending[0].path)).split()
    return f"{added[-1][:12]}^" if added else "HEAD"


def verdicts(
    project: Project,
    scratch: Server,
    current: tuple[str, ...],
    pending: list[Script],
    rows: dict[str, int],
    limits: LockLimits,
) -> list[Verdict]:
    """One verdict per pending revision (to be upgraded, in order)."""
    known = project.in_order(project.ancestry(current))
    try:
        ref = running_release(project, pending)
        release = models_at(project, ref, scratch, f"the running release, {ref}")
    except ConfigurationError as exc:
        why = f"the running release's models cannot be read: {exc}"
        return [Verdict(r.revision, STOPPED, why) for r in pending]
    probe = dataclasses.replace(limits, production_rows={**limits.production_rows, **rows})
    try:
        broken = checks.judge(project, BaseRelease(scratch, known, pending, release))
        measured = lock_probe.analyse(project, scratch, pending, probe)
    except MksDbError:
        raise
    except Exception as exc:  # the plan stands without the verdicts: the safe way is stopping
        interrupt.raise_if_requested()
        why = f"could not be judged ({describe_error(exc)})"
        return [Verdict(r.revision, STOPPED, why) for r in pending]
    judged = [*broken, *checks.judge(project, Measured(measured, probe))]
    return [
        _verdict(revision, measurement, judged, probe, release.label)
        for revision, measurement in zip(pending, measured, strict=True)
    ]


def _verdict(
    revision: Script,
    measurement: lock_probe.Measurement,
    judged: list,
    probe: LockLimits,
    release: str,
) -> Verdict:
    """Online unless a finding on ``revision`` is an error, or its locks were not measured on
    as many rows as claimed; the reason names the finding, or the locks at production's size."""
    # Measured on fewer rows than asked: unproven, unless production holds no row in the tables
    # that got fewer (then the measurement is at or above production's size there).
    unproven = measurement.error or any(probe.production_rows.get(t, probe.rows) for t in measurement.short)
    against = [
        f.message
        for f in judged
        if f.revision == revision.revision and (f.is_error or f.check == "locks" and unproven)
    ]
    if against:
        return Verdict(revision.revision, STOPPED, against[0])
    held = []
    for t in measurement.tables:
        if t.mode in locks.BLOCKS:
            rows = probe.production_rows.get(t.table, probe.rows)
            seconds = locks.estimate(measurement, probe.rows, rows)
            held.append(f"{t.mode} on {t.table} about {seconds:.2f}s at {rows:,} rows")
    within = (
        f"locks within the {probe.budget_seconds:g}s budget: {', '.join(held)}" if held else "blocks no table"
    )
    return Verdict(revision.revision, ONLINE, f"compatible with {release}; {within}")
