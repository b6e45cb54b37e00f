"""seed default roles and permissions

Data only. The roles ``admin``, ``editor`` and ``viewer`` and a ``<resource>.<action>``
permission for each action on each resource of the application, then the grants: admin holds
every permission (the ``ms365_sync.*`` ones of e1f2a3b4c5d6 too), editor reads, creates and
updates content, viewer reads content.

Idempotent: a role, permission or grant that already exists is left as it is (``ON CONFLICT
DO NOTHING``), so databases where someone seeded them by hand upgrade cleanly. The statements
are plain SQL built from the constants below, so ``alembic upgrade --sql`` renders them as they
run.

Revision ID: 2c7d4e9f1a58
Revises: 8b1e5d2c9a37
Create Date: 2025-10-20 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "2c7d4e9f1a58"
down_revision: str | Sequence[str] | None = "8b1e5d2c9a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES: tuple[tuple[str, str], ...] = (
    ("admin", "Administrator: every permission"),
    ("editor", "Editor: reads, creates and updates content"),
    ("viewer", "Viewer: reads content"),
)

CONTENT = (
    "knowledge",
    "sop",
    "regulations",
    "incidents",
    "consultations",
    "approvals",
    "projects",
    "experts",
    "notifications",
)
RESOURCES = (*CONTENT, "users")
ACTIONS = ("read", "create", "update", "delete")
MS365_SYNC = tuple(f"ms365_sync.{action}" for action in ("read", "create", "update", "delete", "execute"))

# (name, resource, action, description): the permissions this revision seeds.
PERMISSIONS: tuple[tuple[str, str, str, str], ...] = tuple(
    (f"{resource}.{action}", resource, action, f"{action.capitalize()} {resource}")
    for resource in RESOURCES
    for action in ACTIONS
)

# (role, permission): the grants this revision defines.
GRANTS: tuple[tuple[str, str], ...] = (
    *(("admin", name) for name, *_ in PERMISSIONS),
    *(("admin", name) for name in MS365_SYNC),
    *(("editor", f"{resource}.{action}") for resource in CONTENT for action in ("read", "create", "update")),
    *(("viewer", f"{resource}.read") for resource in CONTENT),
)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rows(rows: Sequence[tuple[str, ...]]) -> str:
    return ",\n    ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)


def _names(names: Sequence[str]) -> str:
    return ", ".join(_literal(name) for name in names)


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO auth.roles (name, description)\n"
            f"VALUES\n    {_rows(ROLES)}\n"
            "ON CONFLICT (name) DO NOTHING"
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO auth.permissions (name, resource, action, description)\n"
            f"VALUES\n    {_rows(PERMISSIONS)}\n"
            "ON CONFLICT (name) DO NOTHING"
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO auth.role_permissions (role_id, permission_id)\n"
            "SELECT r.id, p.id\n"
            f"FROM (VALUES\n    {_rows(GRANTS)}\n) AS g (role_name, permission_name)\n"
            "JOIN auth.roles AS r ON r.name = g.role_name\n"
            "JOIN auth.permissions AS p ON p.name = g.permission_name\n"
            "ON CONFLICT (role_id, permission_id) DO NOTHING"
        )
    )


def downgrade() -> None:
    # The downgrade cannot tell seeded rows from identical rows that existed before, so it
    # removes what this revision defines, but never data users depend on:
    # 1. the grants listed in GRANTS (whoever made them);
    # 2. the seeded permissions that no grant references any more (a permission still granted
    #    by hand stays, with its grants);
    # 3. the seeded roles that no user holds and that hold no remaining grant (a role a user
    #    holds stays, so no user loses a role assignment).
    op.execute(
        sa.text(
            "DELETE FROM auth.role_permissions AS rp\n"
            "USING auth.roles AS r, auth.permissions AS p,\n"
            f"    (VALUES\n    {_rows(GRANTS)}\n) AS g (role_name, permission_name)\n"
            "WHERE rp.role_id = r.id AND rp.permission_id = p.id\n"
            "  AND r.name = g.role_name AND p.name = g.permission_name"
        )
    )
    op.execute(
        sa.text(
            "DELETE FROM auth.permissions AS p\n"
            f"WHERE p.name IN ({_names([name for name, *_ in PERMISSIONS])})\n"
            "  AND NOT EXISTS (\n"
            "      SELECT 1 FROM auth.role_permissions AS rp WHERE rp.permission_id = p.id\n"
            "  )"
        )
    )
    op.execute(
        sa.text(
            "DELETE FROM auth.roles AS r\n"
            f"WHERE r.name IN ({_names([name for name, _ in ROLES])})\n"
            "  AND NOT EXISTS (SELECT 1 FROM auth.user_roles AS ur WHERE ur.role_id = r.id)\n"
            "  AND NOT EXISTS (SELECT 1 FROM auth.role_permissions AS rp WHERE rp.role_id = r.id)"
        )
    )
