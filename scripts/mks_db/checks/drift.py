"""The drift check: the models (the ``target_metadata`` of the project's env.py) against the
schema the migrations build at head.

**The problem.** Someone changed a model and forgot the revision, or edited a revision by hand
and forgot the model: the application queries columns that do not exist, and the next
``alembic revision --autogenerate`` picks up someone else's change.

**Unsafe** (anti-pattern): a model column that no revision creates::

    sa.Table("account", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("nickname", sa.String(30)))

    error drift: models and migrations differ: column account.nickname: models only; write a
    revision for it (python3 -m alembic revision --autogenerate)

**Safe** (best practice): the revision autogenerate writes, committed with the model::

    def upgrade():
        op.add_column("account", sa.Column("nickname", sa.String(30), nullable=True))

The comparison is Alembic's own (autogenerate), run through the project's env.py so that
exactly its options apply (schemas, ``include_name``, ``include_object``, ``compare_type``,
``compare_server_default``, its comparators) and then its ``process_revision_directives``, as
``alembic check`` runs them: the differences ``alembic check`` reports for that project, one
error each (an operation env.py's hook drops on purpose is none). Beyond Alembic, the labels
of PostgreSQL's native enums (``pg_enum``), which Alembic does not compare: a label the models
have and the migrations never create (or the reverse, or another order) is drift too, for the
tables env.py includes.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import produce_migrations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.sql import sqltypes

from mks_db.engine import data
from mks_db.engine.evidence import AtHead
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import Project
from mks_db.findings import ERROR, WARNING, Finding


def compare_models(migrator: Migrator) -> list[tuple[str, str]] | None:
    """Alembic's differences between the models and the database, one readable line each, with
    its severity (``_LESSER``: what the application never meets is a warning).

    Returns None when env.py sets no ``target_metadata`` (nothing to compare).
    """
    found: dict[str, Any] = {}

    def compare(heads: tuple[str, ...], context: MigrationContext) -> list:
        metadata = context.opts.get("target_metadata")
        if metadata is not None:
            diffs = _flatten(_as_alembic_check(context, metadata, heads))
            found["diffs"] = [
                (describe(diff), WARNING if _lesser(diff, context.connection) else ERROR) for diff in diffs
            ]
            found["enums"] = enum_differences(context, metadata)
        return []

    migrator.run_env(compare)
    if "diffs" not in found:
        return None
    return found["diffs"] + found["enums"]


def _lesser(diff: tuple, connection: Any) -> bool:
    """Whether the application never meets the difference: an index (not a unique one) that the
    migrations create and the models do not declare (a package may keep its indexes out of its
    models on purpose), or string lengths that differ where a CHECK of the database admits
    only values that fit both."""
    if diff[0] == "modify_type":
        return _bounded(diff, connection)
    return diff[0] in _LESSER and not getattr(diff[1], "unique", False)


_CHECKS_OF_COLUMN = text(
    "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)"
    " WHERE c.contype = 'c' AND c.conrelid = to_regclass(:table) AND a.attname = :column"
    " AND array_length(c.conkey, 1) = 1"
)


def _bounded(diff: tuple, connection: Any) -> bool:
    """Whether a type difference is of two string lengths only, and a CHECK of the database
    lists the column's values, every one within both."""
    schema, table, column, _, old, new = diff[1:7]
    lengths = [getattr(t, "length", None) for t in (old, new)]
    if None in lengths or not all(isinstance(t, sqltypes.String) for t in (old, new)):
        return False
    qualified = f'"{schema}"."{table}"' if schema else f'"{table}"'
    for (definition,) in connection.execute(_CHECKS_OF_COLUMN, {"table": qualified, "column": column}):
        values = data.listed_values(definition)
        if values and max(len(v) for v in values) <= min(lengths):
            return True
    return False


_LESSER = {
    "remove_index": "an index the models do not declare: autogenerate would write a revision "
    "dropping it; declare it in the models, or leave it out in env.py's include_object"
}


def _as_alembic_check(context: MigrationContext, metadata: Any, heads: tuple[str, ...]) -> list:
    """The differences ``alembic check`` reports with this env.py: Alembic's comparison,
    configured by env.py (``compare_type``, ``compare_server_default``, ``include_*``), then
    env.py's ``process_revision_directives`` (which may drop operations on purpose, an expand
    window say) applied to the revision that autogenerate would write."""
    script = produce_migrations(context, metadata)
    directives = [script]
    hook = context.opts.get("process_revision_directives")
    if hook is not None:
        hook(context, heads, directives)
    return [diff for written in directives for ops in written.upgrade_ops_list for diff in ops.as_diffs()]


_ENUM_LABELS = text(
    "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
    " JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE t.typname = :name AND (n.nspname = :schema OR (:schema IS NULL AND pg_type_is_visible(t.oid)))"
    " ORDER BY e.enumsortorder"
)


def enum_differences(context: MigrationContext, metadata: Any) -> list[tuple[str, str]]:
    """The native enums of the models' tables (those env.py's ``include_object`` includes)
    whose labels or their order differ from the database's type of that name, with the
    severity: labels only in the database (the application never writes them; a label kept
    for a later release) are a warning. A type the database lacks is Alembic's to report (the
    column's type differs)."""
    enums = _native_enums(metadata, context.opts.get("include_object"))
    lines = []
    for (schema, name), labels in sorted(enums.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        found = tuple(context.connection.execute(_ENUM_LABELS, {"name": name, "schema": schema}).scalars())
        if found and found != labels:
            lines.append(_enum_difference(_table(schema, name), labels, found))
    return lines


def _native_enums(metadata: Any, include: Any) -> dict[tuple[str | None, str], tuple[str, ...]]:
    """The labels of each native enum that a column of the models' tables has (an ARRAY's
    items too), by (schema, name); only the tables env.py's ``include`` (``include_object``,
    None: all) includes."""
    enums: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for table in metadata.sorted_tables:
        if include and not include(table, table.name, "table", False, None):
            continue
        for column in table.columns:
            kind = getattr(column.type, "item_type", column.type)  # ARRAY(Enum) too
            if isinstance(kind, sqltypes.Enum) and kind.native_enum and kind.name:
                enums[(kind.schema or table.schema, kind.name)] = tuple(kind.enums)
    return enums


def _enum_difference(enum: str, labels: tuple[str, ...], found: tuple[str, ...]) -> tuple[str, str]:
    """One line for an enum whose ``labels`` in the models differ from those ``found`` in the
    database, with its severity: a warning when the database only adds labels, the models' in
    the same order."""
    models_only = [label for label in labels if label not in found]
    database_only = [label for label in found if label not in labels]
    what = _label_differences(models_only, database_only)
    lesser = database_only and not models_only and [x for x in found if x in labels] == list(labels)
    line = f"enum {enum}: {what} (models {list(labels)}, database {list(found)})"
    return line, WARNING if lesser else ERROR


def _label_differences(models_only: list[str], database_only: list[str]) -> str:
    """What differs between an enum's labels, in words: those only in the models, those only
    in the database, or (neither) their order."""
    parts = (
        f"labels only in the models: {', '.join(map(repr, models_only))}" if models_only else "",
        f"labels only in the database: {', '.join(map(repr, database_only))}" if database_only else "",
        "the same labels in another order" if not models_only and not database_only else "",
    )
    return "; ".join(part for part in parts if part)


def judge(project: Project, evidence: AtHead) -> list[Finding]:  # noqa: ARG001 - the migrator's own
    """The models compared with the database at head: a finding per difference."""
    differences = compare_models(evidence.migrator)
    if differences is None:
        return [Finding("drift", WARNING, None, "env.py sets no target_metadata: nothing to compare")]
    return [
        Finding(
            "drift",
            severity,
            None,
            f"models and migrations differ: {line}; "
            + (
                "write a revision for it (python3 -m alembic revision --autogenerate)"
                if severity == ERROR
                else _ADVICE.get(line.split(" ", 1)[0], "")
            ),
        )
        for line, severity in differences
    ]


# What a warning of drift advises, by the kind of object it names.
_ADVICE = {
    "index": _LESSER["remove_index"],
    "column": "a CHECK of the database admits only values that fit both lengths, so nothing the "
    "application writes is treated differently; align the lengths when convenient",
    "enum": "the application never writes those labels, and could not read a row holding one: add "
    "them to the models when it does, or drop them once nothing needs them",
}


def _flatten(diffs: list) -> list:
    flat = []
    for diff in diffs:
        if isinstance(diff, list):  # column modifications come grouped per table
            flat.extend(diff)
        else:
            flat.append(diff)
    return flat


def _table(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def describe(diff: tuple) -> str:
    """One line for one of Alembic's diff tuples."""
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        where = "models only" if kind == "add_table" else "database only"
        return f"table {_table(table.schema, table.name)}: {where}"
    if kind in ("add_column", "remove_column"):
        schema, table, column = diff[1], diff[2], diff[3]
        where = "models only" if kind == "add_column" else "database only"
        return f"column {_table(schema, table)}.{column.name}: {where}"
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        where = "models only" if kind == "add_index" else "database only"
        return f"index {index.name} on {_table(index.table.schema, index.table.name)}: {where}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = diff[1]
        where = "models only" if kind.startswith("add") else "database only"
        table = constraint.table
        name = constraint.name or f"({', '.join(c.name for c in getattr(constraint, 'columns', ()))})"
        return f"constraint {name} on {_table(table.schema, table.name)}: {where}"
    if kind.startswith("modify_"):
        schema, table, column, existing, old, new = diff[1:7]
        what = {"default": "server default"}.get(kind.removeprefix("modify_"), kind.removeprefix("modify_"))
        return (
            f"column {_table(schema, table)}.{column}: {what} is {_show(old)} in the database, "
            f"{_show(new)} in the models"
        )
    return f"{kind}: " + ", ".join(_show(part) for part in diff[1:])


def _show(value: Any) -> str:
    if value is None:
        return "none"
    text = getattr(value, "arg", value)  # server defaults are DefaultClause objects
    text = getattr(text, "text", text)
    return repr(str(text)) if isinstance(text, str) else str(text)
