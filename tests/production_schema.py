"""Production's schema as it was before the first migration, derived from the models.

Production's tables were built by ``Base.metadata.create_all`` before Alembic arrived, when the
models had no Microsoft 365 sync tables, no ``auth.users.mfa_backup_codes``, no
``project_tasks.end_date`` (lost to a typo), no ``idx_knowledge_created_by`` and only Python-side
defaults. :func:`production_metadata` rebuilds that ``MetaData`` from today's ``Base.metadata``
by leaving those parts out, so the tables are never typed twice.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, MetaData, Table, UniqueConstraint

from mks.models import Base

LATER_TABLES = frozenset({"ms365_sync_config", "ms365_sync_history", "ms365_file_mapping"})
LATER_COLUMNS = frozenset({("auth.users", "mfa_backup_codes"), ("project_tasks", "end_date")})
LATER_INDEXES = frozenset({"idx_knowledge_created_by"})


def production_metadata(source: MetaData | None = None) -> MetaData:
    """A new ``MetaData`` holding the 20 pre-migration tables as ``create_all`` built them.

    Column types, nullability, primary keys, foreign keys (with their ON DELETE), unique
    constraints and indexes are copied with their names; server defaults are dropped.
    """
    source = Base.metadata if source is None else source
    target = MetaData(naming_convention=dict(source.naming_convention))
    for table in source.sorted_tables:
        if table.name in LATER_TABLES:
            continue
        columns = [
            _column(column) for column in table.columns if (table.fullname, column.name) not in LATER_COLUMNS
        ]
        copy = Table(table.name, target, *columns, schema=table.schema)
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint):
                copy.append_constraint(
                    UniqueConstraint(*[c.name for c in constraint.columns], name=constraint.name)
                )
        for index in table.indexes:
            if index.name not in LATER_INDEXES:
                Index(
                    index.name,
                    *[copy.c[c.name] for c in index.columns],
                    unique=index.unique,
                )
    return target


def _column(column: Column) -> Column:
    foreign_keys = [
        ForeignKey(
            fk.target_fullname,
            name=fk.name,
            ondelete=fk.ondelete,
            onupdate=fk.onupdate,
        )
        for fk in column.foreign_keys
    ]
    return Column(
        column.name,
        column.type,
        *foreign_keys,
        primary_key=column.primary_key,
        nullable=column.nullable,
        autoincrement=column.autoincrement,
    )
