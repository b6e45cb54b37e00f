"""server defaults for the older tables

The 20 tables production built before Alembic had their defaults only in Python, so rows
written by anything but the application (psql, imports, other services) got NULLs. This
revision gives every one of those defaults to the database, spelled as PostgreSQL reports them
back so the models compare equal. ``SET DEFAULT`` only changes the catalogue: no table is
rewritten and existing rows keep their values. The downgrade drops exactly these defaults.

Revision ID: 8b1e5d2c9a37
Revises: f3a9c2d17b40
Create Date: 2025-10-06 09:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "8b1e5d2c9a37"
down_revision: str | Sequence[str] | None = "f3a9c2d17b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = "now()"
TRUE = "true"
FALSE = "false"
ZERO = "0"


def _varchar(value: str) -> str:
    return f"'{value}'::character varying"


# (schema, table, column, default) for every default of the models' 20 older tables.
DEFAULTS: tuple[tuple[str | None, str, str, str], ...] = (
    ("auth", "users", "is_active", TRUE),
    ("auth", "users", "mfa_enabled", FALSE),
    ("auth", "users", "created_at", NOW),
    ("auth", "users", "updated_at", NOW),
    ("auth", "roles", "created_at", NOW),
    ("auth", "user_roles", "created_at", NOW),
    ("auth", "role_permissions", "created_at", NOW),
    (None, "knowledge", "status", _varchar("draft")),
    (None, "knowledge", "priority", _varchar("medium")),
    (None, "knowledge", "created_at", NOW),
    (None, "knowledge", "updated_at", NOW),
    (None, "sop", "status", _varchar("active")),
    (None, "sop", "created_at", NOW),
    (None, "sop", "updated_at", NOW),
    (None, "regulations", "status", _varchar("active")),
    (None, "regulations", "created_at", NOW),
    (None, "regulations", "updated_at", NOW),
    (None, "incidents", "status", _varchar("reported")),
    (None, "incidents", "created_at", NOW),
    (None, "incidents", "updated_at", NOW),
    (None, "consultations", "priority", _varchar("medium")),
    (None, "consultations", "status", _varchar("pending")),
    (None, "consultations", "created_at", NOW),
    (None, "consultations", "updated_at", NOW),
    (None, "approvals", "status", _varchar("pending")),
    (None, "approvals", "priority", _varchar("medium")),
    (None, "approvals", "created_at", NOW),
    (None, "approvals", "updated_at", NOW),
    (None, "notifications", "created_at", NOW),
    (None, "notifications", "status", _varchar("pending")),
    (None, "notification_reads", "read_at", NOW),
    (None, "projects", "status", _varchar("planning")),
    (None, "projects", "progress_percentage", ZERO),
    (None, "projects", "created_at", NOW),
    (None, "projects", "updated_at", NOW),
    (None, "project_tasks", "status", _varchar("pending")),
    (None, "project_tasks", "priority", _varchar("medium")),
    (None, "project_tasks", "progress_percentage", ZERO),
    (None, "project_tasks", "created_at", NOW),
    (None, "project_tasks", "updated_at", NOW),
    (None, "experts", "experience_years", ZERO),
    (None, "experts", "rating", ZERO),
    (None, "experts", "consultation_count", ZERO),
    (None, "experts", "is_available", TRUE),
    (None, "experts", "created_at", NOW),
    (None, "experts", "updated_at", NOW),
    (None, "expert_ratings", "created_at", NOW),
    ("audit", "access_logs", "created_at", NOW),
    ("audit", "change_logs", "created_at", NOW),
    ("audit", "distribution_logs", "created_at", NOW),
)


def upgrade() -> None:
    for schema, table, column, default in DEFAULTS:
        op.alter_column(table, column, server_default=sa.text(default), schema=schema)


def downgrade() -> None:
    for schema, table, column, _default in reversed(DEFAULTS):
        op.alter_column(table, column, server_default=None, schema=schema)
