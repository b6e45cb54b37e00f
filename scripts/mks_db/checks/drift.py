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

The comparison is Alembic's own (``compare_metadata``), run through the project's env.py so
that exactly its options apply (schemas, ``include_name``, ``include_object``,
``compare_type``, ``compare_server_default``, its comparators): the differences
``alembic check`` would report for that project, one error each.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mks_db.engine.migrate import Migrator
from mks_db.findings import ERROR, WARNING, Finding


def compare_models(migrator: Migrator) -> list[str] | None:
    """Alembic's differences between the models and the database, one readable line each.

    Returns None when env.py sets no ``target_metadata`` (nothing to compare).
    """
    found: dict[str, Any] = {}

    def compare(heads: tuple[str, ...], context: MigrationContext) -> list:
        metadata = context.opts.get("target_metadata")
        if metadata is not None:
            found["diffs"] = compare_metadata(context, metadata)
        return []

    migrator.run_env(compare)
    if "diffs" not in found:
        return None
    return [describe(diff) for diff in _flatten(found["diffs"])]


def drift_findings(migrator: Migrator) -> list[Finding]:
    """Findings of check ``drift`` for a database at head."""
    differences = compare_models(migrator)
    if differences is None:
        return [Finding("drift", WARNING, None, "env.py sets no target_metadata: nothing to compare")]
    return [
        Finding(
            "drift",
            ERROR,
            None,
            f"models and migrations differ: {line}; "
            "write a revision for it (python3 -m alembic revision --autogenerate)",
        )
        for line in differences
    ]


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
        return f"constraint {constraint.name} on {_table(table.schema, table.name)}: {where}"
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
