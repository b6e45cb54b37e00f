"""The ``locks`` check: the locks a new revision takes on tables that hold data, as measured.

**The problem.** A statement that takes a strong lock on a table production uses blocks every
query behind it for as long as it runs: ``CREATE INDEX`` blocks writes, ``ALTER COLUMN TYPE``
rewrites the table under ACCESS EXCLUSIVE and blocks reads too. On a developer's small
database both finish at once; on production's millions of rows they are an outage.

**Unsafe** (anti-pattern): an index built the plain way on a table that holds rows::

    op.create_index("ix_account_email", "account", ["email"])

    warning locks: ShareLock on public.account (blocking writes) for ... at 100,000 rows;
    build the index with CREATE INDEX CONCURRENTLY in an autocommit block, alone in its revision

**Safe** (best practice): built concurrently, it blocks neither reads nor writes::

    with op.get_context().autocommit_block():
        op.create_index("ix_account_email", "account", ["email"], postgresql_concurrently=True)

**How it is judged** (``mks_db.engine.lock_probe`` measures): an error when a lock that blocks
writes (SHARE or stronger) or reads (ACCESS EXCLUSIVE) on a pre-existing table would be held
longer than the budget at production's row count, or when a table with more than the rewrite
limit of rows is rewritten; a warning for any other lock that blocks writes or reads on a
pre-existing table. Each names the table, the lock, the measured time and the safe pattern
that fits the statement which took the lock.
"""

from __future__ import annotations

import re

import pglast
from alembic.script import Script
from pglast.enums import AlterTableType, ConstrType

from mks_db.engine import revision_source
from mks_db.engine.evidence import Measured
from mks_db.engine.lock_probe import Measurement, TableLocks
from mks_db.engine.project import Project
from mks_db.engine.render import render_step
from mks_db.findings import ERROR, WARNING, Finding
from mks_db.limits import LockLimits

# What each lock blocks for the application (the modes that block neither are not reported).
BLOCKS = {
    "ShareLock": "writes",
    "ShareRowExclusiveLock": "writes",
    "ExclusiveLock": "writes",
    "AccessExclusiveLock": "reads and writes",
}
SAFE_PATTERN = {
    "index": "build the index with CREATE INDEX CONCURRENTLY in an autocommit block, alone in its revision",
    "constraint": "add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later revision",
    "type": "add a new column, backfill it in batches, then switch over in a later revision",
    "default": "add the column nullable, backfill in batches, then add NOT NULL via a NOT VALID check",
    "foreign-key": "add the foreign key NOT VALID, then VALIDATE CONSTRAINT in a later revision",
    "rows": "the time grows with the rows and the revision's SQL cannot be rendered to name the "
    "statement: change rows in one set-based statement, or in batches outside the locking transaction",
}


def judge(project: Project, evidence: Measured) -> list[Finding]:
    """Per measured revision: a warning when it could not be measured or was measured on fewer
    rows; per table it locks, an error over the budget or the rewrite limit, else a warning
    when the lock blocks the application."""
    out = []
    for m in evidence.measurements:
        if m.error:
            out.append(
                _finding(
                    project,
                    m,
                    WARNING,
                    f"{m.revision.revision}'s locks were not measured: its upgrade fails ({m.error})",
                )
            )
            continue
        for problem in m.unfilled:  # measured, but on fewer rows than claimed: say so
            out.append(
                _finding(project, m, WARNING, f"{m.revision.revision} was measured on fewer rows: {problem}")
            )
        statements = _upgrade_statements(project, m.revision) if m.tables else []
        out += [f for t in m.tables if (f := _table_finding(project, m, t, evidence.limits, statements))]
    return out


def _table_finding(
    project: Project, m: Measurement, t: TableLocks, settings: LockLimits, statements: list
) -> Finding | None:
    """The finding on the lock ``m``'s revision takes on table ``t``: an error over the budget
    or the rewrite limit, a warning when it blocks the application, else none."""
    growth = m.seconds / m.seconds_small if m.seconds_small > 0 else 1.0
    blocks = BLOCKS.get(t.mode)
    production = settings.production_rows.get(t.table, settings.rows)
    at_production = estimate(m, settings.rows, production)
    hint = _hint(statements, t, grows=grows_with_rows(m))
    base = (
        f"{m.revision.revision} takes {t.mode} on {t.table} ({_mode_name(t.mode)}), "
        f"blocking {blocks or 'nothing the application does'}; measured {m.seconds:.2f}s at "
        f"{settings.rows:,} rows ({m.seconds_small:.2f}s at {settings.rows // 10:,}, "
        f"x{growth:.1f})"
    )
    if production != settings.rows:  # production's count is known: the time there
        base += f", about {at_production:.2f}s at {production:,} rows"
    if t.rewritten:
        base += "; the table is rewritten"
    if blocks and at_production > settings.budget_seconds:
        return _finding(
            project, m, ERROR, f"{base}: over the {settings.budget_seconds:g}s budget; {hint}", t.table
        )
    if t.rewritten and production > settings.rewrite_rows:
        return _finding(
            project, m, ERROR, f"{base}: rewrites more than {settings.rewrite_rows:,} rows; {hint}", t.table
        )
    if blocks:  # within budget, still worth knowing: it blocks the application
        return _finding(project, m, WARNING, f"{base}; {hint}", t.table)
    return None


def grows_with_rows(m: Measurement) -> bool:
    """Whether ten times the rows added at least half the time: work on the rows, not
    metadata-only work (whose differences are noise)."""
    return m.seconds >= 1.5 * m.seconds_small


def estimate(m: Measurement, rows: int, production: int) -> float:
    """The time at ``production`` rows, extrapolated along the line through the two
    measurements; constant when the time does not grow with the rows (``grows_with_rows``)."""
    if production <= rows or not grows_with_rows(m):
        return m.seconds
    per_row = (m.seconds - m.seconds_small) / (rows - rows // 10)
    return m.seconds + per_row * (production - rows)


def _finding(
    project: Project, m: Measurement, severity: str, message: str, table: str | None = None
) -> Finding:
    """A finding on ``m``'s revision; about ``table``, at the line of the call that names it."""
    line = revision_source.line_naming(m.revision.path, [table.rpartition(".")[2]]) if table else None
    return Finding("locks", severity, m.revision.revision, message, project.relpath(m.revision.path), line)


def _mode_name(mode: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", mode.removesuffix("Lock")).upper()


def _hint(statements: list, lock: TableLocks, grows: bool) -> str:
    """The safe pattern for what took the lock: read from the revision's rendered SQL (its
    ``statements`` on that table), else from the lock itself (SHARE: an index; SHARE ROW
    EXCLUSIVE: a foreign key referencing the table) and, with no SQL to read, from whether the
    time ``grows`` with the rows (row-by-row work inside the transaction)."""
    kinds = _statement_kinds(statements, lock.table)
    if "constraint" in kinds:
        pattern = SAFE_PATTERN["constraint"]
    elif "type" in kinds or (lock.rewritten and not kinds):
        pattern = SAFE_PATTERN["type"]
    elif "index" in kinds or (not kinds and lock.mode == "ShareLock"):
        pattern = SAFE_PATTERN["index"]
    elif not kinds and lock.mode == "ShareRowExclusiveLock":
        pattern = SAFE_PATTERN["foreign-key"]
    elif "not-null" in kinds:
        pattern = SAFE_PATTERN["default"]
    elif not statements and grows:
        pattern = SAFE_PATTERN["rows"]
    else:
        pattern = (
            "a metadata-only change: keep lock_timeout set (env.py does) so it fails fast "
            "instead of queueing behind a long transaction"
        )
    return "safe pattern: " + pattern


def _upgrade_statements(project: Project, revision: Script) -> list:
    """The parsed statements of the revision's rendered upgrade; none when it cannot be
    rendered offline or parsed (the lock alone then tells)."""
    try:
        return list(pglast.parser.parse_sql(render_step(project, revision, "upgrade")))
    except Exception:
        return []


def _statement_kinds(statements: list, table: str) -> set[str]:
    """What ``statements`` do to ``table`` (schema.name, quoted as in the catalogue): constraint,
    type, index, not-null."""
    schema, _, name = table.rpartition(".")
    kinds = set()
    for raw in statements:
        if not _names_table(raw.stmt, schema, name):
            continue
        if isinstance(raw.stmt, pglast.ast.IndexStmt) and not raw.stmt.concurrent:
            kinds.add("index")
        for command in getattr(raw.stmt, "cmds", None) or ():
            kind = _command_kind(command)
            if kind:
                kinds.add(kind)
    return kinds


def _names_table(statement: object, schema: str, name: str) -> bool:
    """Whether the relation ``statement`` acts on is table ``schema.name`` (both quoted as in the
    catalogue; a relation without a schema is in public)."""
    relation = getattr(statement, "relation", None)
    return (
        relation is not None
        and relation.relname == name.strip('"')
        and (relation.schemaname or "public") == schema.strip('"')
    )


def _command_kind(command: object) -> str | None:
    """What one ALTER TABLE ``command`` does, of what the safe patterns name: constraint (one
    added and validated), type, not-null (SET NOT NULL, or a NOT NULL column added without a
    default); None for anything else."""
    subtype = command.subtype
    if subtype == AlterTableType.AT_AddConstraint and not getattr(command.def_, "skip_validation", False):
        return "constraint"
    if subtype == AlterTableType.AT_AlterColumnType:
        return "type"
    if (
        subtype == AlterTableType.AT_SetNotNull
        or subtype == AlterTableType.AT_AddColumn
        and _not_null_without_default(command.def_)
    ):
        return "not-null"
    return None


def _not_null_without_default(column: object) -> bool:
    constraints = [c.contype for c in getattr(column, "constraints", None) or ()]
    return ConstrType.CONSTR_NOTNULL in constraints and ConstrType.CONSTR_DEFAULT not in constraints


_COLUMNS = ("revision", "table", "strongest lock", "blocks", "rewritten", "time", "time at 1/10")


def _rows(measurements: list[Measurement]) -> list[tuple[str, ...]]:
    return [
        (
            m.revision.revision,
            t.table,
            _mode_name(t.mode),
            BLOCKS.get(t.mode, "nothing"),
            "yes" if t.rewritten else "no",
            f"{m.seconds:.2f}s",
            f"{m.seconds_small:.2f}s",
        )
        for m in measurements
        for t in m.tables
    ]


def table(measurements: list[Measurement], settings: LockLimits) -> str:
    """The measurements as a Markdown table, for the workflow's step summary."""
    lines = [
        f"#### Locks and rewrites ({settings.rows:,} rows per touched table)",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "| --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(measurements)]
    return "\n".join(lines) + "\n"


def text_table(measurements: list[Measurement], settings: LockLimits) -> str:
    """The measurements as plain text in aligned columns, for the terminal."""
    rows = [_COLUMNS, *_rows(measurements)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [f"Locks and rewrites ({settings.rows:,} rows per touched table):"]
    lines += [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines) + "\n"
